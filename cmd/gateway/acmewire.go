package main

import (
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/protocols/acme"
)

// newACME builds the ACME server of every profile that allows "acme";
// serve.go mounts its directories on the HTTPS router and runs its
// sweeper.
func newACME(d *deps, core *ca.Core) *acme.Server {
	a := d.cfg.ACME
	set := acme.Settings{
		NonceLifetime: a.NonceLifetime.D(), OrderLifetime: a.OrderLifetime.D(), RetryAfter: a.RetryAfter.D(),
		ValidationTimeout: a.Validation.Timeout.D(), MaxHTTPBody: int64(a.Validation.MaxHTTPBody),
		TermsOfService: a.TermsOfService, Website: a.Website, RequireEAB: map[string]bool{},
		OrdersPerAccountPerHour: a.OrdersPerAccountPerHour, DuplicateCertificatesPerWeek: a.DuplicateCertificatesPerWeek, UpstreamTimeout: core.UpstreamTimeout,
		FailedValidationsPerHour: a.FailedValidationsPerHour,
	}
	for _, p := range d.cfg.Profiles {
		set.RequireEAB[p.Name] = p.ACME.RequireEAB
	}
	return acme.New(acme.Config{
		Store: d.store, CA: core, Profiles: core.Profiles, Validation: d.cfg.ACME.Validation, Settings: set,
		Log: d.log.With("protocol", "acme"), Now: time.Now,
	})
}
