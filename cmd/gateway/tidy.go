package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
)

// tidier is the store's tidy step with the configuration's policy
// (storage.tidy), for gateway serve and gateway tidy.
func tidier(cfg *config.Config, st ca.TidyStore, log *slog.Logger) *ca.Tidy {
	t := cfg.Storage.Tidy
	return &ca.Tidy{Store: st, Log: log.With("component", "tidy"), Now: time.Now,
		Policy: ca.TidyPolicy{ACMEOrders: t.ACMEOrdersAfter.D(), Certificates: t.CertificatesAfter.D(), Requests: t.RequestsAfter.D(),
			Notifications: t.NotificationsAfter.D()}}
}

// cmdTidy runs the tidy step once (gateway serve runs it every
// storage.tidy.every), for an operator who wants the space now or runs it
// from cron.
func cmdTidy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tidy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gateway tidy [-config FILE]")
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := tidier(cfg, st, newLogger(stderr, cfg, "")).Run(ctx)
	fmt.Fprintf(stdout, "deleted %d ACME orders, %d certificates, %d requests, %d notifications\n", c.ACMEOrders, c.Certificates, c.Requests, c.Notifications)
	return err
}
