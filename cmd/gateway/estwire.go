package main

import (
	"log/slog"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/protocols/est"
	"github.com/certgw/gateway/storage"
)

// newEST builds the EST server for `gateway serve`, which mounts its Routes
// on the HTTPS listener. That listener's tls.Config must request client
// certificates without verifying them (ClientAuth: tls.RequestClientCert,
// no ClientCAs): the EST handlers verify chains themselves, against the
// gateway's CAs and each profile's bootstrap CAs.
func newEST(cfg *config.Config, core *ca.Core, st storage.Store, limited func(string), log *slog.Logger) (*est.Server, error) {
	set := est.DefaultSettings(core.Profiles)
	if cfg.EST.DefaultProfile != "" {
		set.DefaultProfile = cfg.EST.DefaultProfile
	}
	if cfg.EST.MaxBodyBytes != 0 {
		set.MaxBodyBytes = int64(cfg.EST.MaxBodyBytes)
	}
	if cfg.EST.UpstreamWait != 0 {
		set.UpstreamWait = cfg.EST.UpstreamWait.D()
	}
	for _, p := range cfg.Profiles {
		pe := p.EST
		ps := est.DefaultProfileSettings()
		if len(pe.Auth) > 0 {
			ps.Auth = pe.Auth
		}
		ps.RequireAll = pe.RequireAllAuth
		ps.BootstrapCAFile = pe.BootstrapCAs
		ps.BindCSRToClientCert = pe.BindCSRToClientCert
		ps.RevokeOnRenewal = pe.RevokeOnRenewal
		ps.RequireChannelBinding = pe.ChannelBinding
		if p.Allows("est") {
			set.Profiles[p.Name] = ps
		}
	}
	return est.New(est.Config{Core: core, Store: st, Settings: set, Log: log, Now: time.Now,
		Limiter: ratelimit.New(cfg.EST.IssuancesPerMinute, "est.issuances_per_minute").Observe(limited)})
}
