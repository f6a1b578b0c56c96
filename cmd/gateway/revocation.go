package main

import (
	"context"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/crl"
	"github.com/certgw/gateway/ocsp"
)

// revocationConfig is the configuration of the CRL publisher and the OCSP
// responder; zero values take the packages' defaults (CRLs valid 24h,
// rebuilt every 6h; responses valid 1h; responders valid 7 days, rotated 2
// days before they expire).
func revocationConfig(c *config.Config) (crl.Config, ocsp.Config) {
	cc := crl.Config{
		CAConfig:     crlSchedule(c.CRL.CRLSchedule),
		CAs:          map[string]crl.CAConfig{},
		Coalesce:     c.CRL.Coalesce.D(),
		PollInterval: c.CRL.PollInterval.D(),
		MaxAge:       c.CRL.MaxAge.D(),
		Dir:          c.CRL.PublishDir,
		// The URLs the issuer puts in CRL distribution points (wire.go),
		// which the shards of partitioned CRLs name (cas[].crl.shards).
		URLs: ca.URLs{Base: strings.TrimSuffix(c.Listen.PublicURL, "/")},
	}
	oc := ocsp.Config{
		ResponseValidity: c.OCSP.ResponseValidity.D(), ResponderValidity: c.OCSP.ResponderValidity.D(),
		RotateBefore: c.OCSP.RotateBefore.D(), MaxAge: c.OCSP.MaxAge.D(), PollInterval: c.OCSP.PollInterval.D(),
		MaxCached: c.OCSP.MaxCached, MaxConcurrentSigns: c.OCSP.MaxConcurrentSigns, SignWait: c.OCSP.SignWait.D(),
		MaxRequestSize: c.OCSP.MaxRequestSize, KeepRevocationEvents: c.OCSP.KeepRevocationEvents,
	}
	for _, a := range c.CAs {
		if s := crlSchedule(a.CRL); s != (crl.CAConfig{}) {
			cc.CAs[a.Name] = s
		}
		if a.OCSP.SignWithCAKey {
			oc.SignWithCAKey = append(oc.SignWithCAKey, a.Name)
		}
	}
	return cc, oc
}

// crlSchedule is the crl package's view of a CRL schedule.
func crlSchedule(s config.CRLSchedule) crl.CAConfig {
	return crl.CAConfig{Validity: s.Validity.D(), RebuildEvery: s.RebuildEvery.D(), DeltaValidity: s.DeltaValidity.D()}
}

// startRevocation starts the revocation service of every CA: it loads or
// builds each CA's CRL, makes sure each CA has an OCSP responder key and
// certificate, makes the core report revocations to both, and keeps both
// current until ctx ends. It returns the routes of the plain-HTTP
// listener: /crl/CA.crl, /crl/CA.pem (and /crl/CA/SHARD.crl, .pem for a
// CA that partitions its CRL) and /ocsp/CA.
func startRevocation(ctx context.Context, d *deps, cas map[string]*ca.Authority, core *ca.Core) (func(chi.Router), error) {
	rs := d.store
	crlCfg, ocspCfg := revocationConfig(d.cfg)

	// CRLs get the certificate lint gate plus the CRL exclusions (see
	// crl.ExcludedLints).
	lc := d.cfg.Lint
	if lc.ExcludeLints == nil {
		lc.ExcludeLints = append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...)
	}
	lc.ExcludeLints = append(append([]string(nil), lc.ExcludeLints...), crl.ExcludedLints()...)
	crlLinter, err := newLinter(lc)
	if err != nil {
		return nil, err
	}
	log := d.log.With("component", "revocation")
	pub, err := crl.NewPublisher(crlCfg, rs, &crl.Builder{Linter: crlLinter, Presign: d.pre}, cas, log, time.Now)
	if err != nil {
		return nil, err
	}
	resp, err := ocsp.New(ocspCfg, ocsp.Deps{
		Source: ocsp.StoreSource{Store: rs}, Store: rs,
		Signer: d.signer, Linter: d.linter, Presign: d.pre, Log: log, Now: time.Now,
	}, cas)
	if err != nil {
		return nil, err
	}
	if err := pub.Start(ctx); err != nil {
		return nil, err
	}
	if err := resp.Start(ctx); err != nil {
		return nil, err
	}

	prev := core.OnRevoke
	core.OnRevoke = func(ctx context.Context, caName, serial string) {
		if prev != nil {
			prev(ctx, caName, serial)
		}
		pub.OnRevoke(ctx, caName, serial)
		resp.OnRevoke(ctx, caName, serial)
	}
	prevIssue := core.OnIssue
	core.OnIssue = func(ctx context.Context, caName, serial string) {
		if prevIssue != nil {
			prevIssue(ctx, caName, serial)
		}
		resp.OnIssue(ctx, caName, serial)
	}
	go pub.Run(ctx)
	go resp.Run(ctx)
	return func(r chi.Router) {
		pub.Routes(r)
		resp.Routes(r)
	}, nil
}
