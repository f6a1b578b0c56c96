package main

import (
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// filterFlags registers the inventory's filters, which gateway cert list
// and gateway cert revoke (without -serial) share.
func filterFlags(fs *flag.FlagSet, f *storage.CertificateFilter) {
	fs.StringVar(&f.Profile, "profile", "", "only this profile's certificates")
	fs.StringVar(&f.CA, "ca", "", "only certificates this CA (or upstream) issued")
	fs.StringVar(&f.SAN, "san", "", "only certificates with a SAN containing this (case-insensitive)")
	fs.StringVar(&f.Subject, "subject", "", "only certificates whose RFC 4514 subject contains this")
	fs.StringVar(&f.Requester, "requester", "", "only certificates this requester asked for (a token's name, an ACME account...)")
	fs.StringVar(&f.Method, "method", "", "only certificates enrolled by this method: acme, est, scep, cmp or api")
}

// cmdCertList is `gateway cert list`: the inventory as the REST API's
// GET /certificates filters it, newest first, one certificate per line:
// serial, profile, status, notAfter, SANs, subject. It reads the store
// only, so it works with the gateway stopped and needs no API token.
func cmdCertList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cert list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	var f storage.CertificateFilter
	filterFlags(fs, &f)
	fs.StringVar(&f.Status, "status", "", "only certificates in this status: pending, active, expired or revoked")
	expiring := fs.String("expiring-within", "", "only certificates ending within this long from now (30d, 12h)")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most this many (up to %d)", storage.MaxCertificateLimit))
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gateway cert list [-profile P] [-ca C] [-status S] [-san TEXT] [-subject TEXT] [-requester R] [-method M] [-expiring-within D] [-limit N] [-config FILE]")
		return errUsage
	}
	f.Now, f.Limit = time.Now(), *limit
	if *expiring != "" {
		d, err := config.ParseDuration(*expiring)
		if err != nil || d <= 0 {
			return fmt.Errorf("-expiring-within: %q is not a positive duration such as 30d or 12h", *expiring)
		}
		f.ExpiringBefore = f.Now.Add(d.D())
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	certs, next, err := st.ListCertificates(ctx, f)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, c := range certs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Serial, c.Profile, api.StatusAt(c, f.Now),
			c.NotAfter.UTC().Format(time.RFC3339), strings.Join(c.SANs, ","), c.Subject)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(stderr, "more than %d certificates match; narrow the filter or raise -limit\n", len(certs))
	}
	return nil
}

// cmdCertShow is `gateway cert show -serial S [-pem]`: one certificate's
// record, or its PEM.
func cmdCertShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cert show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	serial := fs.String("serial", "", "the certificate's serial, in hex (required)")
	asPEM := fs.Bool("pem", false, "print the certificate as PEM instead")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *serial == "" {
		fmt.Fprintln(stderr, "usage: gateway cert show -serial S [-pem] [-config FILE]")
		return errUsage
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := st.GetCertificate(ctx, strings.ToLower(*serial))
	if errs.Is(err, errs.NotFound) {
		return fmt.Errorf("no certificate has serial %s", *serial)
	}
	if err != nil {
		return err
	}
	if *asPEM {
		if len(c.DER) == 0 {
			return fmt.Errorf("certificate %s is %s: it has no DER yet", c.Serial, c.Status)
		}
		_, err := stdout.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER}))
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, v)
		}
	}
	line("serial", c.Serial)
	line("status", api.StatusAt(c, time.Now()))
	line("profile", c.Profile)
	line("issuer", c.CA)
	line("method", c.Method)
	line("requester", c.Requester)
	line("subject", c.Subject)
	line("sans", strings.Join(c.SANs, ","))
	line("not before", c.NotBefore.UTC().Format(time.RFC3339))
	line("not after", c.NotAfter.UTC().Format(time.RFC3339))
	line("created", c.CreatedAt.UTC().Format(time.RFC3339))
	if c.Status == storage.StatusRevoked {
		line("revoked", c.RevokedAt.UTC().Format(time.RFC3339))
		line("revocation reason", api.ReasonName(c.RevocationReason))
	}
	line("replaces", c.Replaces)
	line("renewed by", c.RenewedBy)
	if c.KeyPEM != nil {
		line("key", "held by the gateway (sealed)")
	}
	return w.Flush()
}

// cmdCertRevoke is `gateway cert revoke -serial S [-reason R]`: what the
// REST API's POST /certificates/SERIAL/revoke does, for an operator at the
// gateway's host (no API token; audited with the login name). A running
// gateway publishes it as it does a replica's revocation: OCSP and the CRL
// within their poll intervals.
func cmdCertRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cert revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	serial := fs.String("serial", "", "the certificate's serial, in hex")
	reasonName := fs.String("reason", "", "RFC 5280 CRLReason, e.g. keyCompromise, superseded, cessationOfOperation, certificateHold (default unspecified)")
	// Without -serial: every active certificate these select (ca.Core.RevokeMatching).
	var f storage.CertificateFilter
	filterFlags(fs, &f)
	limit := fs.Int("limit", 1000, "bulk: the most certificates to revoke; more matching revokes nothing")
	dryRun := fs.Bool("dry-run", false, "bulk: list what would be revoked, revoke nothing")
	bulk := func() bool { return f != (storage.CertificateFilter{}) }
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*serial == "") == !bulk() {
		fmt.Fprintln(stderr, "usage: gateway cert revoke -serial S [-reason R] [-config FILE]")
		fmt.Fprintln(stderr, "       gateway cert revoke [-profile P] [-ca C] [-requester R] [-method M] [-san S] [-subject S] [-reason R] [-limit N] [-dry-run] [-config FILE]")
		return errUsage
	}
	reason, err := api.ReasonCode(*reasonName)
	if err != nil {
		return fmt.Errorf("-reason: %w", err)
	}
	d, core, err := openConfigCore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	// The profile's webhook hears of it, as from gateway serve.
	told, err := notifyFromCLI(d, core, stderr)
	if err != nil {
		return err
	}
	defer told()
	if bulk() {
		res, err := core.RevokeMatching(ctx, ca.BulkRevokeRequest{Filter: f, Reason: reason, Limit: *limit, DryRun: *dryRun, Requester: cliActor("gateway cert revoke")})
		if err != nil {
			return err
		}
		if *dryRun {
			for _, s := range res.Matched {
				fmt.Fprintln(stdout, s)
			}
			fmt.Fprintf(stdout, "%d active certificates would be revoked (%s); nothing was revoked (-dry-run)\n", len(res.Matched), api.ReasonName(reason))
			return nil
		}
		for _, s := range res.Revoked {
			fmt.Fprintf(stdout, "revoked certificate %s (%s)\n", s, api.ReasonName(reason))
		}
		for _, fail := range res.Failed {
			fmt.Fprintf(stdout, "not revoked: %s: %v\n", fail.Serial, fail.Err)
		}
		fmt.Fprintf(stdout, "%d of %d matching certificates revoked\n", len(res.Revoked), len(res.Matched))
		if len(res.Failed) > 0 {
			return fmt.Errorf("%d certificates could not be revoked", len(res.Failed))
		}
		return nil
	}
	s := strings.ToLower(*serial)
	if err := core.Revoke(ctx, s, reason, cliActor("gateway cert revoke")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked certificate %s (%s)\n", s, api.ReasonName(reason))
	return nil
}

// cmdCertBlockKey is `gateway cert block-key -file PEM -reason R`: nothing
// is issued for the key any more (ca.Core.BlockKey), as POST
// /api/v1/blocked-keys does.
func cmdCertBlockKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cert block-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	file := fs.String("file", "", "PEM file with the key: a PUBLIC KEY, or a CERTIFICATE or CERTIFICATE REQUEST carrying it")
	reason := fs.String("reason", "", "why the key is blocked (required)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *file == "" || strings.TrimSpace(*reason) == "" {
		fmt.Fprintln(stderr, "usage: gateway cert block-key -file PEM -reason R [-config FILE]")
		return errUsage
	}
	b, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	pub, err := api.PublicKeyOf(string(b))
	if err != nil {
		return fmt.Errorf("-file %s: %w", *file, err)
	}
	d, core, err := openConfigCore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	k, blocked, err := core.BlockKey(ctx, pub, cliActor("gateway cert block-key"), strings.TrimSpace(*reason))
	if err != nil {
		return err
	}
	if !blocked {
		fmt.Fprintf(stdout, "key %x was blocked already\n", k.Hash)
		return nil
	}
	fmt.Fprintf(stdout, "blocked key %x: nothing is issued for it any more (running gateways refuse it within 10 seconds)\n", k.Hash)
	return nil
}

// cmdCertBlockedKeys is `gateway cert blocked-keys`: the blocked keys,
// oldest first, one per line: hash, when, by whom, the certificate whose
// revocation blocked it (or -), why.
func cmdCertBlockedKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cert blocked-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: gateway cert blocked-keys [-config FILE]")
		return errUsage
	}
	d, core, err := openConfigCore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer d.Close()
	keys, err := core.BlockedKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		serial := k.Serial
		if serial == "" {
			serial = "-"
		}
		fmt.Fprintf(stdout, "%x  %s  %s  %s  %s\n", k.Hash, k.At.UTC().Format(time.RFC3339), k.By, serial, k.Reason)
	}
	return nil
}
