package main

import (
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/protocols/acme"
)

// mountACME mounts the ACME directories of every profile that allows
// "acme" on the HTTPS router. serve.go calls it from its HTTPS mount.
func mountACME(r chi.Router, d *deps, core *ca.Core) {
	a := d.cfg.ACME
	set := acme.Settings{
		NonceLifetime: a.NonceLifetime.D(), OrderLifetime: a.OrderLifetime.D(), RetryAfter: a.RetryAfter.D(),
		ValidationTimeout: a.Validation.Timeout.D(), MaxHTTPBody: int64(a.Validation.MaxHTTPBody),
		TermsOfService: a.TermsOfService, Website: a.Website, RequireEAB: map[string]bool{},
	}
	for _, p := range d.cfg.Profiles {
		set.RequireEAB[p.Name] = p.ACME.RequireEAB
	}
	acme.New(acme.Config{
		Store: d.store, CA: core, Profiles: core.Profiles, Validation: d.cfg.ACME.Validation, Settings: set,
		Log: d.log.With("protocol", "acme"), Now: time.Now,
	}).Routes(r)
}
