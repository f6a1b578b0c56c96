package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/test/teststore"
)

// TestBackupCommand runs `gateway backup` against an embedded store: the
// copy holds the store's data, the backup is audited, and an existing
// file, a missing -o and a PostgreSQL store are refused.
func TestBackupCommand(t *testing.T) {
	cfg, db := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	ctx := context.Background()
	gateway := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(args, "-config", cfg), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	if _, _, err := gateway("token", "create", "-name", "pipeline", "-scope", "read"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "gateway-backup.db")
	out, _, err := gateway("backup", "-o", backup)
	if err != nil || !strings.Contains(out, "backup written to "+backup) || !strings.Contains(out, "integrity_check ok") {
		t.Fatalf("gateway backup: %v\n%s", err, out)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	events, err := st.ListAudit(ctx, storage.AuditFilter{Limit: 50})
	st.Close()
	if err != nil || len(events) == 0 || events[0].Action != "backup" || !strings.Contains(events[0].Detail, "path="+backup) {
		t.Fatalf("audit trail after the backup: %+v, %v; want a backup event first", events, err)
	}
	// The copy holds the token created before it.
	copied, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "gateway.db")
	if err := os.WriteFile(restored, copied, 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := sqlite.Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := rs.ListAudit(ctx, storage.AuditFilter{Limit: 50})
	rs.Close()
	if err != nil || len(trail) == 0 || trail[0].Action != "token-create" {
		t.Fatalf("restored audit trail: %+v, %v; want the token's creation last", trail, err)
	}

	if _, _, err := gateway("backup", "-o", backup); !errs.Is(err, errs.Conflict) {
		t.Errorf("backup onto an existing file: %v, want a conflict", err)
	}
	if _, errOut, err := gateway("backup"); err != errUsage || !strings.Contains(errOut, "usage: gateway backup -o FILE") {
		t.Errorf("backup without -o: %v %q", err, errOut)
	}

	// PostgreSQL: its own tools, said so, and nothing written.
	pgCfg := filepath.Join(t.TempDir(), "gateway.yaml")
	yaml, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pg := strings.Replace(string(yaml), "storage: {driver: sqlite, path: "+db+"}", "storage: {driver: postgres, dsn: '"+teststore.NewDatabase(t)+"'}", 1)
	if err := os.WriteFile(pgCfg, []byte(pg), 0o600); err != nil {
		t.Fatal(err)
	}
	pgBackup := filepath.Join(t.TempDir(), "pg-backup.db")
	var pgOut, pgErr bytes.Buffer
	err = run(ctx, []string{"backup", "-o", pgBackup, "-config", pgCfg}, &pgOut, &pgErr)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of a PostgreSQL store: %v, want a pointer to pg_dump", err)
	}
	if _, err := os.Stat(pgBackup); err == nil {
		t.Error("the refused backup of a PostgreSQL store wrote a file")
	}
}

// gateway tidy runs the store's tidy step once with the configuration's
// policy and says what it deleted.
func TestTidyCommand(t *testing.T) {
	cfg, _ := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tidy", "-config", cfg}, &out, &errOut); err != nil || out.String() != "deleted 0 ACME orders, 0 certificates, 0 requests, 0 notifications\n" {
		t.Fatalf("gateway tidy: %v\n%s%s", err, out.String(), errOut.String())
	}
	if err := run(context.Background(), []string{"tidy", "extra"}, &out, &errOut); err != errUsage {
		t.Errorf("gateway tidy extra = %v, want the usage", err)
	}
}
