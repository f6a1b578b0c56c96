package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/protocols/cmp"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/open"
)

// deps are the long-lived parts every command shares.
type deps struct {
	cfg    *config.Config
	log    *slog.Logger
	store  storage.Store
	signer signer.Signer
	linter *ca.Linter
	pre    *ca.Presigner
}

func (d *deps) Close() {
	if d.signer != nil {
		d.signer.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
}

func openDeps(ctx context.Context, cfg *config.Config, log *slog.Logger) (*deps, error) {
	d := &deps{cfg: cfg, log: log}
	var err error
	d.store, err = open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, log)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	d.signer, err = openSigner(cfg, log)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.linter, err = newLinter(cfg.Lint)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.pre = ca.NewPresigner()
	return d, nil
}

// newLinter builds a lint gate; lists left out (nil) take the private-CA
// defaults documented in the README.
func newLinter(l config.Lint) (*ca.Linter, error) {
	sources, names := l.ExcludeSources, l.ExcludeLints
	if sources == nil {
		sources = ca.PrivatePKIExcludedSources()
	}
	if names == nil {
		names = append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...)
	}
	return ca.NewLinter(sources, names)
}

func openSigner(cfg *config.Config, log *slog.Logger) (signer.Signer, error) {
	s := cfg.Signer
	if s.Type == "software" {
		return signer.NewSoftware(s.Software.Dir, log)
	}
	pin, err := signer.ReadPIN(s.PKCS11.PINFile, s.PKCS11.PINEnv, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	members := make([]signer.Member, len(s.PKCS11.Members))
	for i, m := range s.PKCS11.Members {
		members[i] = signer.Member{Module: m.Module, TokenLabel: m.TokenLabel, TokenSerial: m.TokenSerial, Slot: m.Slot}
	}
	return signer.NewPool(signer.PoolConfig{
		Members:           members,
		PIN:               pin,
		MaxSessions:       s.PKCS11.MaxSessions,
		SessionWait:       s.PKCS11.SessionWait.D(),
		HealthInterval:    s.PKCS11.HealthInterval.D(),
		ReconnectInterval: s.PKCS11.ReconnectInterval.D(),
		Logger:            log.With("component", "signer"),
	})
}

func (d *deps) hierarchy() *ca.Hierarchy {
	return &ca.Hierarchy{
		Config: d.cfg, Signer: d.signer, Store: d.store, Linter: d.linter, Presign: d.pre,
		Log: d.log, Now: time.Now,
	}
}

// loadCore loads the CAs from the store and builds the issuance core over
// them.
func (d *deps) loadCore(ctx context.Context) (*ca.Core, error) {
	cas, err := d.hierarchy().Load(ctx)
	if err != nil {
		return nil, err
	}
	return d.core(ctx, cas)
}

// core builds the issuance core over the loaded CAs and the profiles.
func (d *deps) core(ctx context.Context, cas map[string]*ca.Authority) (*ca.Core, error) {
	profiles, err := d.profiles(cas)
	if err != nil {
		return nil, err
	}
	kf := d.kekFile()
	keks, err := kf.LoadKeys(ctx)
	if err != nil {
		return nil, err
	}
	sealer, err := ca.NewSealer(keks...)
	if err != nil {
		return nil, err
	}
	sealer.Reload = kf.LoadKeys // a key sealed under a key another process rotated in
	issuer := &ca.Issuer{
		Store: d.store, Linter: d.linter, Presign: d.pre, Sealer: sealer,
		URLs: ca.URLs{Base: strings.TrimSuffix(d.cfg.Listen.PublicURL, "/")}, Log: d.log, Now: time.Now,
	}
	upstreams, err := newUpstreams(ctx, d.cfg, d.store, sealer, d.log)
	if err != nil {
		return nil, err
	}
	core := &ca.Core{Store: d.store, Issuer: issuer, CAs: cas, Upstreams: upstreams, Profiles: profiles, Log: d.log, Now: time.Now,
		RequestParsers: map[string]ca.RequestParser{"cmp": cmp.ParseRequest}}
	for _, u := range d.cfg.Upstreams { // the longest: ACME's settings take it from here too
		core.UpstreamTimeout = max(core.UpstreamTimeout, u.Timeout.D())
	}
	return core, nil
}

// profiles gives the loaded CAs their own lint gates (cas[].lint) and
// compiles the profiles.
func (d *deps) profiles(cas map[string]*ca.Authority) (map[string]*ca.Profile, error) {
	for _, c := range d.cfg.CAs {
		if c.Lint != nil {
			l, err := newLinter(*c.Lint)
			if err != nil {
				return nil, fmt.Errorf("cas %s lint: %w", c.Name, err)
			}
			cas[c.Name].Linter = l
		}
	}
	profiles := map[string]*ca.Profile{}
	for _, p := range d.cfg.Profiles {
		cp, err := ca.CompileProfile(p)
		if err != nil {
			return nil, err
		}
		profiles[p.Name] = cp
	}
	return profiles, nil
}

// kekFile is the keystore's key-encryption key file as the configuration
// names it, shared with the other replicas through the store.
func (d *deps) kekFile() ca.KEKFile {
	kf := ca.KEKFile{
		Path: d.cfg.Keystore.KEKFile, Wrap: d.cfg.Keystore.Wrap == config.WrapToken, Label: d.cfg.Keystore.KEKLabel,
		Shared: d.store, Log: d.log,
	}
	if w, ok := d.signer.(ca.KEKWrapper); ok {
		kf.Token = w
	}
	return kf
}
