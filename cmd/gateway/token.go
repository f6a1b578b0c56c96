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
	var scopes listFlag
	fs.Var(&scopes, "scope", "scope: issue, read, revoke or admin (repeat or separate with commas)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg, "")
	secret, rec, err := api.NewToken(*name, scopes, time.Now())
	if err != nil {
		return err
	}
	st, err := open.Open(ctx, cfg.Storage.Driver, cfg.Storage.Path, cfg.Storage.DSN, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.InsertToken(ctx, rec); err != nil {
		return err
	}
	if _, err := st.AppendAudit(ctx, storage.AuditEvent{
		At: rec.CreatedAt, Actor: "gateway token create", Action: "token-create",
		Detail: fmt.Sprintf("token %s name=%q scopes=%s", rec.ID, rec.Name, strings.Join(rec.Scopes, ",")),
	}); err != nil {
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
