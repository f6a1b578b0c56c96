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
	"github.com/certgw/gateway/errs"
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

// cmdAuditSeal seals the audit trail now (seal), as gateway serve does
// every audit.checkpoint_every, or checks it against its checkpoints with
// the audit key in the token (verify): for an auditor, or before a backup
// leaves the site.
func cmdAuditSeal(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usage: gateway audit %s [-config FILE]\n", verb)
		return errUsage
	}
	d, err := openConfigDeps(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	key, err := ca.AuditKey(ctx, d.signer, d.cfg.Audit.KeyLabel, verb == "seal")
	if errs.Is(err, errs.NotFound) {
		return fmt.Errorf("no audit key %q in the token: the trail was never sealed (gateway serve or gateway audit seal make it)", d.cfg.Audit.KeyLabel)
	}
	if err != nil {
		return err
	}
	if verb == "seal" {
		c := &ca.Checkpointer{Store: d.store, Key: key, Log: d.log, Now: time.Now}
		n, err := c.SealAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d checkpoints made (events younger than %s wait for the next)\n", n, ca.CheckpointLag)
		return nil
	}
	v, err := ca.VerifyAudit(ctx, d.store, key.Public())
	if err != nil {
		return err
	}
	if v.Checkpoints == 0 {
		fmt.Fprintf(stdout, "no checkpoint yet; %d events not sealed\n", v.Unsealed)
		return nil
	}
	fmt.Fprintf(stdout, "audit trail verified: %d checkpoints seal %d events, up to event %d (sealed %s); %d events since, not sealed yet\n",
		v.Checkpoints, v.Sealed, v.LastID, v.LastAt.UTC().Format(time.RFC3339), v.Unsealed)
	return nil
}
