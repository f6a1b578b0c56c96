package main

import (
	"context"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/crl"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/ocsp"
	"github.com/certgw/gateway/storage"
)

// revocationStore is the store with the revocation service's data.
// TODO: once storage.Store embeds storage.RevocationStore, this is just
// storage.Store.
type revocationStore interface {
	storage.Store
	storage.RevocationStore
}

// revocationStore returns the store as the revocation service needs it.
func (d *deps) revocationStore() (revocationStore, error) {
	rs, ok := d.store.(revocationStore)
	if !ok {
		return nil, errs.New(errs.Internal, "the %s store keeps no revocation data", d.cfg.Storage.Driver)
	}
	return rs, nil
}

// revocationConfig is the configuration of the CRL publisher and the OCSP
// responder. TODO: read the crl: and ocsp: keys of the configuration file
// here once config has them; until then every CA runs on the defaults
// (CRLs valid 24h, rebuilt every 6h; responses valid 1h; responders valid
// 7 days, rotated 2 days before they expire).
func revocationConfig(*config.Config) (crl.Config, ocsp.Config) {
	return crl.Config{}, ocsp.Config{}
}

// startRevocation starts the revocation service of every CA: it loads or
// builds each CA's CRL, makes sure each CA has an OCSP responder key and
// certificate, makes the core report revocations to both, and keeps both
// current until ctx ends. It returns the routes of the plain-HTTP
// listener: /crl/CA.crl, /crl/CA.pem and /ocsp/CA.
func startRevocation(ctx context.Context, d *deps, cas map[string]*ca.Authority, core *ca.Core) (func(chi.Router), error) {
	rs, err := d.revocationStore()
	if err != nil {
		return nil, err
	}
	crlCfg, ocspCfg := revocationConfig(d.cfg)

	// CRLs get the certificate lint gate plus the CRL exclusions (see
	// crl.ExcludedLints).
	exclude := d.cfg.Lint.ExcludeLints
	if exclude == nil {
		exclude = append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...)
	}
	crlLinter, err := ca.NewLinter(d.cfg.Lint.ExcludeSources, append(append([]string(nil), exclude...), crl.ExcludedLints()...))
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
	go pub.Run(ctx)
	go resp.Run(ctx)
	return func(r chi.Router) {
		pub.Routes(r)
		resp.Routes(r)
	}, nil
}
