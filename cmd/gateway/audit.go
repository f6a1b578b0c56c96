package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
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
// every audit.checkpoint_every; checks it against its checkpoints with the
// audit key in the token, or an export of it with a public key (verify);
// or writes an export for an auditor (export).
func cmdAuditSeal(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	var out, file, pubFile *string
	switch verb {
	case "export":
		out = fs.String("o", "", "write the export here (required)")
	case "verify":
		file = fs.String("file", "", "verify this export (gateway audit export) instead of the store, with -pubkey")
		pubFile = fs.String("pubkey", "", "with -file: the audit key's public key (PEM) to check the seals with (default: the one in the export)")
	}
	usage := map[string]string{"seal": "gateway audit seal [-config FILE]", "export": "gateway audit export -o FILE [-config FILE]",
		"verify": "gateway audit verify [-config FILE] | gateway audit verify -file EXPORT [-pubkey PEM]"}[verb]
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || verb == "export" && *out == "" {
		fmt.Fprintln(stderr, "usage:", usage)
		return errUsage
	}
	if verb == "verify" && *file != "" {
		return verifyExport(*file, *pubFile, stdout)
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
	switch verb {
	case "seal":
		c := &ca.Checkpointer{Store: d.store, Key: key, Log: d.log, Now: time.Now}
		n, err := c.SealAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d checkpoints made (events younger than %s wait for the next)\n", n, ca.CheckpointLag)
		return nil
	case "export":
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		events, cps, err := ca.ExportAudit(ctx, d.store, key.Public(), f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out)
			return err
		}
		fmt.Fprintf(stdout, "exported %d events and %d checkpoints to %s\n", events, cps, *out)
		return nil
	}
	v, err := ca.VerifyAudit(ctx, d.store, key.Public())
	if err != nil {
		return err
	}
	printVerification(stdout, v)
	return nil
}

// verifyExport checks an export of the audit trail with the public key
// in pubFile, or the one the export names.
func verifyExport(file, pubFile string, stdout io.Writer) error {
	var pub crypto.PublicKey
	if pubFile != "" {
		b, err := os.ReadFile(pubFile)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return fmt.Errorf("-pubkey %s: no PEM", pubFile)
		}
		if pub, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
			return fmt.Errorf("-pubkey %s: %w", pubFile, err)
		}
	} else {
		fmt.Fprintln(stdout, "checked with the public key in the export; give -pubkey to check against the key you trust")
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	v, _, err := ca.VerifyAuditExport(f, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	printVerification(stdout, v)
	return nil
}

func printVerification(stdout io.Writer, v ca.AuditVerification) {
	if v.Checkpoints == 0 {
		fmt.Fprintf(stdout, "no checkpoint yet; %d events not sealed\n", v.Unsealed)
		return
	}
	fmt.Fprintf(stdout, "audit trail verified: %d checkpoints seal %d events, up to event %d (sealed %s); %d events since, not sealed yet\n",
		v.Checkpoints, v.Sealed, v.LastID, v.LastAt.UTC().Format(time.RFC3339), v.Unsealed)
}
