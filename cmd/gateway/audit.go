package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
)

// cmdAuditList prints the audit trail as GET /api/v1/audit filters it,
// newest first, one event a line (ID, time, actor, action, profile,
// serial, detail; tab-separated), for an operator at the host without an
// API token.
func cmdAuditList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	var f storage.AuditFilter
	serial := fs.String("serial", "", "only events about this certificate (hex serial)")
	fs.StringVar(&f.Profile, "profile", "", "only this profile's events")
	fs.StringVar(&f.Action, "action", "", "only this action: issue, revoke, export-key, approve-request, token-create, keystore-rotate...")
	fs.StringVar(&f.Actor, "actor", "", "only this actor: a token's name, cli:LOGIN, gateway...")
	within := fs.String("within", "", "only events of the last D (24h, 7d)")
	fs.IntVar(&f.Limit, "limit", storage.DefaultAuditLimit, fmt.Sprintf("at most this many (up to %d)", storage.MaxAuditLimit))
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gateway audit list [-serial S] [-profile P] [-action A] [-actor A] [-within D] [-limit N] [-config FILE]")
		return errUsage
	}
	if *serial != "" {
		v, err := ca.ParseSerialHex(*serial)
		if err != nil {
			return fmt.Errorf("-serial: %w", err)
		}
		f.Serial = ca.SerialHex(v)
	}
	if *within != "" {
		d, err := config.ParseDuration(*within)
		if err != nil || d <= 0 {
			return fmt.Errorf("-within: %q is not a positive duration such as 24h or 7d", *within)
		}
		f.Since = time.Now().Add(-d.D())
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	events, err := st.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	for _, e := range events {
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Profile, e.Serial,
			strings.ReplaceAll(e.Detail, "\n", " "))
	}
	return nil
}
