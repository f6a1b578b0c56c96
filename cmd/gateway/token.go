package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/open"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func cmdTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	name := fs.String("name", "", "name of the token (who or what uses it)")
	out := fs.String("out", "", "write the token to this file (mode 0600) instead of printing it")
	var scopes, profiles listFlag
	fs.Var(&scopes, "scope", "scope: issue, read, revoke, approve or admin (repeat or separate with commas)")
	fs.Var(&profiles, "profiles", "limit the token to these certificate profiles (repeat or separate with commas; default: every profile)")
	validFor := fs.String("valid-for", "", "the token stops working after this long, e.g. 90d (default: never)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	secret, rec, err := api.NewToken(*name, scopes, time.Now())
	if err != nil {
		return err
	}
	if err := api.ExpireToken(&rec, *validFor); err != nil {
		return fmt.Errorf("-valid-for: %w", err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := api.LimitToken(&rec, profiles, func(p string) bool { _, ok := cfg.Profile(p); return ok }); err != nil {
		return err
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.InsertToken(ctx, rec, api.TokenCreated(rec, "gateway token create")); err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(secret+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s (%s) written to %s\n", rec.ID, rec.Name, *out)
		return nil
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// cmdTokenList prints every REST API token: ID, name, scopes, creation
// time, the profiles it is limited to ("*" for every one) and when it
// expires ("never"), one per line (never a secret: the store has none).
func cmdTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	tokens, err := st.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		profiles := "*"
		if len(t.Profiles) > 0 {
			profiles = strings.Join(t.Profiles, ",")
		}
		expires := "never"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), t.CreatedAt.UTC().Format(time.RFC3339), profiles, expires)
	}
	return nil
}

// cmdTokenRevoke deletes a REST API token by its ID (as token create and
// token list print it) and audits that. Gateways stop accepting it within
// the API's token cache time (10 seconds).
func cmdTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file")
	id := fs.String("id", "", "ID of the token (see gateway token list)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *id == "" {
		return errUsage
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.DeleteToken(ctx, *id, storage.AuditEvent{
		At: time.Now(), Actor: "gateway token revoke", Action: "token-revoke", Detail: fmt.Sprintf("token %s", *id),
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s revoked\n", *id)
	return nil
}

// openStore loads the configuration at cfgPath and opens its store, for a
// command that needs nothing else of it.
func openStore(ctx context.Context, cfgPath string, stderr io.Writer) (storage.Store, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, newLogger(stderr, cfg, ""))
}
