package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/go-acme/lego/v4/providers/dns/exec"
	"github.com/go-acme/lego/v4/providers/dns/rfc2136"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/upstream"
)

// upstreamStore is what wiring the upstreams needs of the store.
type upstreamStore interface {
	upstream.Store
	GetCA(ctx context.Context, name string) (storage.CA, error)
	InsertCA(ctx context.Context, c storage.CA, audit storage.AuditEvent) error
}

// newUpstreams makes a client for every external CA of the config and
// records each in the store's CA table, since the certificates it issues
// name it as their CA.
func newUpstreams(ctx context.Context, cfg *config.Config, st upstreamStore, sealer upstream.Sealer, log *slog.Logger) (map[string]ca.Upstream, error) {
	out := map[string]ca.Upstream{}
	if len(cfg.Upstreams) == 0 {
		return out, nil
	}
	// lego logs through a package variable; its lines join ours.
	legolog.Logger = slog.NewLogLogger(log.With("component", "lego").Handler(), slog.LevelInfo)
	for _, u := range cfg.Upstreams {
		if err := recordUpstream(ctx, st, u); err != nil {
			return nil, err
		}
		uc := upstream.Config{
			Name: u.Name, DirectoryURL: u.DirectoryURL, Email: u.Email, EABKID: u.EAB.KID,
			ACMEProfile: u.ACMEProfile, Timeout: u.Timeout.D(),
		}
		var err error
		if uc.RootCerts, err = upstreamRoots(u); err != nil {
			return nil, err
		}
		if u.EAB.HMACFile != "" {
			p, err := os.ReadFile(u.EAB.HMACFile)
			if err != nil {
				return nil, fmt.Errorf("upstreams %s: eab.hmac_file: %w", u.Name, err)
			}
			uc.EABHMAC = strings.TrimSpace(string(p))
		}
		if u.Challenge == "dns-01" {
			var err error
			if uc.DNS01, err = dnsProvider(u); err != nil {
				return nil, fmt.Errorf("upstreams %s: dns: %w", u.Name, err)
			}
			if len(u.DNS.Resolvers) > 0 {
				uc.DNSOptions = append(uc.DNSOptions, dns01.AddRecursiveNameservers(u.DNS.Resolvers))
			}
			if u.DNS.SkipAuthoritativeCheck {
				uc.DNSOptions = append(uc.DNSOptions, dns01.DisableAuthoritativeNssPropagationRequirement())
			}
		}
		c, err := upstream.New(uc, st, sealer, log.With("component", "upstream"), time.Now)
		if err != nil {
			return nil, err
		}
		out[u.Name] = c
	}
	return out, nil
}

// recordUpstream puts the upstream in the CA table once.
func recordUpstream(ctx context.Context, st upstreamStore, u config.Upstream) error {
	uri := storage.UpstreamKeyPrefix + u.DirectoryURL
	rec, err := st.GetCA(ctx, u.Name)
	_, isUpstream := rec.Upstream()
	switch {
	case err == nil && !isUpstream:
		return fmt.Errorf("upstreams %s: the store holds a CA of the gateway by that name", u.Name)
	case err == nil:
		return nil
	case !errs.Is(err, errs.NotFound):
		return err
	}
	now := time.Now()
	err = st.InsertCA(ctx, storage.CA{Name: u.Name, KeyURI: uri, CertDER: []byte{}, CreatedAt: now},
		storage.AuditEvent{At: now, Actor: "gateway", Action: "upstream-add", Detail: "upstream=" + u.Name + " directory=" + u.DirectoryURL})
	if errs.Is(err, errs.Conflict) { // another replica, at the same moment
		return nil
	}
	return err
}

func dnsProvider(u config.Upstream) (challenge.Provider, error) {
	d := u.DNS
	switch d.Provider {
	case "exec":
		c := exec.NewDefaultConfig()
		c.Program = d.Program
		c.PropagationTimeout = d.PropagationTimeout.D()
		return exec.NewDNSProviderConfig(c)
	case "rfc2136":
		c := rfc2136.NewDefaultConfig()
		c.Nameserver = d.Nameserver
		c.PropagationTimeout = d.PropagationTimeout.D()
		if d.TSIGKey != "" {
			p, err := os.ReadFile(d.TSIGSecretFile)
			if err != nil {
				return nil, err
			}
			c.TSIGKey, c.TSIGSecret = d.TSIGKey, strings.TrimSpace(string(p))
			if d.TSIGAlgorithm != "" {
				c.TSIGAlgorithm = d.TSIGAlgorithm
			}
		}
		return rfc2136.NewDNSProviderConfig(c)
	}
	return nil, fmt.Errorf("unknown provider %q", d.Provider)
}

// upstreamRoots reads the certificates of u's roots_file (none without
// one: the system's roots).
func upstreamRoots(u config.Upstream) ([]*x509.Certificate, error) {
	if u.RootsFile == "" {
		return nil, nil
	}
	p, err := os.ReadFile(u.RootsFile)
	if err != nil {
		return nil, fmt.Errorf("upstreams %s: roots_file: %w", u.Name, err)
	}
	certs, err := ca.ParsePEMCertificates(p)
	if err != nil {
		return nil, fmt.Errorf("upstreams %s: roots_file %s: %w", u.Name, u.RootsFile, err)
	}
	return certs, nil
}
