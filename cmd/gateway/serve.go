package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/metrics"
	"github.com/certgw/gateway/notify"
	"github.com/certgw/gateway/server"
	"github.com/certgw/gateway/upstream"
	"github.com/go-chi/chi/v5"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	logFormat := fs.String("log-format", "", "text or json (overrides log.format)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *logFormat != "" && *logFormat != "text" && *logFormat != "json" {
		return fmt.Errorf("-log-format must be text or json, got %q", *logFormat)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg, *logFormat)
	log.Debug("garbage collector", "gogc", server.TuneGC(os.Getenv))
	d, err := openDeps(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()

	core, err := d.loadCore(ctx)
	if err != nil {
		return err
	}
	cas := core.CAs
	if err := core.CheckProfiles(); err != nil {
		return err
	}
	go (&ca.ExpiryWatch{CAs: cas, Profiles: core.Profiles, Log: log, Now: time.Now}).Run(ctx, time.Hour)
	var m *metrics.Metrics
	var notified func(event string, err error)
	var rateLimited func(setting string)
	if cfg.Listen.Metrics != "" {
		m = newMetrics(d, core)
		core.Observer, notified, rateLimited = m, m.Notification, m.RateLimited
	}
	notifier, err := wireNotify(cfg, core, d.store, log, notified)
	if err != nil {
		return err
	}
	notifier.run(ctx)
	go core.WatchRequests(ctx, time.Hour)
	// Expired and decided records go once storage.tidy no longer keeps
	// them.
	go tidier(cfg, d.store, log).Watch(ctx, cfg.Storage.Tidy.Every.D())
	// The audit trail is sealed by a key in the token (audit.*).
	auditKey, err := ca.AuditKey(ctx, d.signer, cfg.Audit.KeyLabel, true)
	if err != nil {
		return fmt.Errorf("audit key %q: %w", cfg.Audit.KeyLabel, err)
	}
	go (&ca.Checkpointer{Store: d.store, Key: auditKey, Log: log.With("component", "audit"), Now: time.Now}).Watch(ctx, cfg.Audit.CheckpointEvery.D())
	// ... and forwarded to a SIEM (audit.forward_url).
	if cfg.Audit.ForwardURL != "" {
		alog := log.With("component", "audit-forward")
		w, err := webhook(cfg.Audit.ForwardURL, cfg.Audit.ForwardSecretFile, "audit.forward_secret_file", alog)
		if err != nil {
			return err
		}
		// The embedded store commits in ID order; on PostgreSQL a
		// replica's event may commit after one with a higher ID, so the
		// forwarder waits for stragglers.
		lag := time.Second
		if cfg.Storage.Driver == "postgres" {
			lag = 30 * time.Second
		}
		go (&notify.AuditForwarder{Store: d.store, Webhook: w, Lag: lag, Log: alog, Now: time.Now}).Watch(ctx, cfg.Audit.ForwardEvery.D())
	}
	// Certificates about to expire unrenewed go to their profile's
	// webhook (notify.expiring_within), once, from whichever replica.
	go core.WatchExpiring(ctx, expiryNoticeInterval)
	// Certificates signed while the store failed to record them come back
	// from the audit trail.
	if n, err := core.Reconcile(ctx, time.Minute); err != nil {
		log.Error("reconcile", "err", err)
	} else if n > 0 {
		log.Warn("reconciled signed certificates into the inventory", "count", n)
	}

	sc := &ca.ServerCert{CertFile: cfg.Listen.TLS.CertFile, KeyFile: cfg.Listen.TLS.KeyFile, Log: log}
	if cfg.Listen.TLS.Auto {
		sc.Authority = cas[cfg.Listen.TLS.CA]
		sc.Issuer = core.Issuer
		sc.DNSNames = cfg.Listen.TLS.DNSNames
		for _, ip := range cfg.Listen.TLS.IPAddresses {
			sc.IPAddresses = append(sc.IPAddresses, net.ParseIP(ip))
		}
		sc.Validity = cfg.Listen.TLS.Validity.D()
	}
	if err := sc.Ensure(ctx); err != nil {
		return err
	}
	go sc.Run(ctx, time.Hour)
	// A CA renewed while the gateway runs (gateway ca renew, here or on
	// another replica) is taken up within ReloadInterval, or at once on
	// SIGHUP; the HTTPS certificate is then issued again to carry it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload, reloadKeys := make(chan struct{}), make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading CA certificates and key-encryption keys")
				for _, c := range []chan struct{}{reload, reloadKeys} {
					select {
					case c <- struct{}{}:
					case <-ctx.Done():
					}
				}
			}
		}
	}()
	// Key-encryption keys rotated (gateway keystore rotate, here or on
	// another replica) are taken up the same way: from then on this
	// gateway seals under the new key.
	go ca.FollowKEKs(ctx, d.kekFile(), core.Issuer.Sealer, ca.ReloadInterval, reloadKeys, log)
	hierarchy := d.hierarchy()
	renewed := func(ctx context.Context) {
		if err := sc.Ensure(ctx); err != nil {
			log.Error("server certificate after a CA renewal; the current one stays", "err", err)
		}
	}
	go hierarchy.Follow(ctx, cas, ca.ReloadInterval, reload, renewed)
	// POST /api/v1/cas/NAME/renew: renewed here, served here at once.
	renewCA := func(ctx context.Context, name string, validity time.Duration, actor string) (ca.Renewal, error) {
		r, err := hierarchy.Renew(ctx, name, validity, actor)
		if err == nil {
			hierarchy.Refresh(ctx, cas, renewed)
		}
		return r, err
	}
	// POST /api/v1/cas/NAME/revoke: nothing more is issued under it here
	// from now; the parent's OCSP answers are signed again at once.
	revokeCA := func(ctx context.Context, name string, reason int, actor string) (ca.CARevocation, error) {
		r, err := hierarchy.Revoke(ctx, name, reason, actor)
		if err != nil {
			return r, err
		}
		hierarchy.Refresh(ctx, cas, renewed)
		if core.OnRevoke != nil {
			for _, serial := range r.Serials {
				core.OnRevoke(ctx, r.Parent, serial)
			}
		}
		return r, nil
	}

	// POST /api/v1/cas/NAME/certificate: served here at once, as a renewal.
	importCA := func(ctx context.Context, name string, data []byte, actor string) (ca.Imported, error) {
		im, err := hierarchy.Import(ctx, name, data, actor)
		if err == nil {
			hierarchy.Refresh(ctx, cas, renewed)
		}
		return im, err
	}

	revocationRoutes, err := startRevocation(ctx, d, cas, core)
	if err != nil {
		return err
	}
	caCerts := &ca.CertHandler{CAs: cas}
	http01 := &upstream.Handler{Store: d.store, Now: time.Now}
	restAPI := api.New(api.Config{Core: core, Store: d.store, Log: log, Now: time.Now, RenewCA: renewCA, RevokeCA: revokeCA,
		CARequest: hierarchy.Request, ImportCA: importCA,
		VerifyAudit: func(ctx context.Context) (ca.AuditVerification, error) {
			return ca.VerifyAudit(ctx, d.store, auditKey.Public())
		},
		ExportAudit: func(ctx context.Context, w io.Writer) (int, int, error) {
			return ca.ExportAudit(ctx, d.store, auditKey.Public(), w)
		},
		OIDC: cfg.API.OIDC, ClientCerts: cfg.API.ClientCerts, Limiter: ratelimit.New(cfg.API.IssuancesPerMinute, "api.issuances_per_minute").Observe(rateLimited)})
	estServer, err := newEST(cfg, core, d.store, rateLimited, log)
	if err != nil {
		return err
	}
	scepServer, err := newSCEP(ctx, cfg, core, d.store, d.signer, rateLimited, log)
	if err != nil {
		return err
	}
	cmpServer, err := newCMP(cfg, core, d.store, rateLimited, log)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	go restAPI.RunRenewals(ctx, cfg.Renewal.Interval.D(), fmt.Sprintf("%s/%d", host, os.Getpid()))
	acmeServer := newACME(d, core)
	go acmeServer.RunSweeper(ctx, time.Minute)
	scfg := server.Config{
		HTTPSAddr: cfg.Listen.HTTPS,
		HTTPAddr:  cfg.Listen.HTTP,
		// EST authenticates devices by client certificate where a profile
		// allows it: ask for one, never require it (ACME and the REST API
		// do not use them), and verify chains in the EST handlers, so an
		// unknown issuer is a 401 there rather than a failed handshake.
		TLS:             &tls.Config{GetCertificate: sc.GetCertificate, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert},
		ShutdownTimeout: cfg.Listen.ShutdownTimeout.D(),
		Logger:          log,
		Probes: []server.Probe{
			{Name: "signer", Check: d.signer.Check},
			{Name: "store", Check: d.store.Ping},
		},
		MetricsAddr: cfg.Listen.Metrics,
		HTTPS:       func(r chi.Router) { restAPI.Routes(r); estServer.Routes(r); acmeServer.Routes(r); cmpServer.Routes(r) },
		// CMP messages protect themselves: devices without TLS use the
		// plain listener, as for SCEP.
		HTTP: func(r chi.Router) {
			caCerts.Routes(r)
			revocationRoutes(r)
			scepServer.Routes(r)
			cmpServer.Routes(r)
			http01.Routes(r)
		},
	}
	if m != nil {
		scfg.Metrics, scfg.Observe = m.Handler(), m.Request
	}
	srv := server.New(scfg)
	if err := srv.Listen(); err != nil {
		return err
	}
	err = srv.Serve(ctx)
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Listen.ShutdownTimeout.D())
	defer cancel()
	acmeServer.Drain(dctx)
	// Webhook posts under way, and those due (an approval decided just
	// before the stop), get what is left of the shutdown timeout; the
	// others wait in the store for the next replica that runs.
	if deadline, _ := dctx.Deadline(); !notifier.wait(time.Until(deadline)) {
		log.Warn("notifications not delivered at shutdown wait in the store")
	}
	log.Info("stopped")
	return err
}
