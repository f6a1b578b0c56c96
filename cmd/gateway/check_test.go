package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/test/teststore"
	_ "modernc.org/sqlite"
)

// gateway check reports whether serve would start, changing nothing: no
// store before init (and none made); after init every part is ok, the
// audit key and the HTTPS certificate are what serve will make; a store
// of an older schema is left unmigrated; a CA configured under another
// parent than the one it was made under fails.
func TestCheckCommand(t *testing.T) {
	profile := "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n"
	cfg, db := testConfig(t, profile)
	body, _ := os.ReadFile(cfg)
	body = []byte(strings.Replace(string(body), "/tls.key}}", "/tls.key, auto: true, ca: issuing}}", 1))
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	gateway := gatewayCommand(t, cfg)
	wantLines := func(out string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(out, l) {
				t.Errorf("check says\n%s\nwant a line with %q", out, l)
			}
		}
	}

	out, err := gateway("check")
	if err == nil || !strings.Contains(err.Error(), "1 problem") {
		t.Errorf("check before init: %v, want one problem", err)
	}
	wantLines(out, "ok    config", "FAIL  store        sqlite: "+db+" does not exist (gateway init creates it)", "ok    token")
	if _, err := os.Stat(db); err == nil {
		t.Fatal("check created the store")
	}

	if _, err := gateway("init"); err != nil {
		t.Fatal(err)
	}
	out, err = gateway("check")
	if err != nil {
		t.Fatalf("check after init: %v\n%s", err, out)
	}
	wantLines(out, "ok    store        sqlite "+db+": schema", "current", "note  audit key    \"gateway-audit\" is not in the token; serve makes it",
		"ok    ca issuing", "ok    ca root", "ok    profiles     1 profiles", "note  tls          "+strings.TrimSuffix(db, "gateway.db")+"tls.pem is not there yet; serve issues it from CA issuing", "serve can start with this configuration")

	// A store of an older schema: nothing is migrated.
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var newest int
	sdb.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&newest)
	if _, err := sdb.Exec(`DELETE FROM schema_migrations WHERE version = ?`, newest); err != nil {
		t.Fatal(err)
	}
	out, err = gateway("check")
	if err != nil {
		t.Fatalf("check of an older schema: %v\n%s", err, out)
	}
	wantLines(out, "note  store", "serve (or init) applies migrations")
	var n int
	sdb.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, newest).Scan(&n)
	if n != 0 {
		t.Error("check migrated the store")
	}
	if _, err := sdb.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, newest); err != nil {
		t.Fatal(err)
	}

	// The issuing CA made a root in the configuration.
	body, _ = os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(body), "{name: issuing, parent: root}", "{name: issuing}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = gateway("check")
	if err == nil {
		t.Fatalf("check of a CA moved to be a root passed:\n%s", out)
	}
	wantLines(out, "FAIL  cas", `CA "issuing" is configured as certified by itself, a root`)
}

// The files the configuration names are read: a missing one fails, a
// secret others may read is a warning.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook-secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := testConfig(t, `  - {name: default, ca: issuing, methods: [api, est], names: {dns: ["*"]}, notify: {url: "https://hooks.example/x", secret_file: `+secret+`}, est: {bootstrap_cas: `+dir+`/vendor.pem}}
`)
	gateway := gatewayCommand(t, cfg)
	if _, err := gateway("init"); err != nil {
		t.Fatal(err)
	}
	out, err := gateway("check")
	if err == nil {
		t.Fatalf("check with a missing file passed:\n%s", out)
	}
	for _, want := range []string{
		"FAIL  file         profiles[0].est.bootstrap_cas: stat " + dir + "/vendor.pem: no such file or directory",
		"warn  file         profiles[0].notify.secret_file: " + secret + " has mode 644",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check says\n%s\nwant a line with %q", out, want)
		}
	}
}

// On PostgreSQL: a database the gateway never migrated has no schema, a
// failure that check leaves as it found it; after init, check passes.
func TestCheckCommandPostgres(t *testing.T) {
	cfg, db := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	body, _ := os.ReadFile(cfg)
	dsn := teststore.NewDatabase(t)
	body = []byte(strings.Replace(string(body), "storage: {driver: sqlite, path: "+db+"}", "storage: {driver: postgres, dsn: '"+dsn+"'}", 1))
	body = []byte(strings.Replace(string(body), "/tls.key}}", "/tls.key, auto: true, ca: issuing}}", 1))
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	gateway := gatewayCommand(t, cfg)
	for range 2 { // the first check created nothing
		out, err := gateway("check")
		if err == nil || !strings.Contains(out, "FAIL  store        postgres PostgreSQL holds no gateway schema yet (gateway init creates it, and the CAs)") {
			t.Fatalf("check of an empty database: %v\n%s", err, out)
		}
	}
	if _, err := gateway("init"); err != nil {
		t.Fatal(err)
	}
	out, err := gateway("check")
	if err != nil || !strings.Contains(out, "ok    ca issuing") || !strings.Contains(out, "current") {
		t.Errorf("check after init: %v\n%s", err, out)
	}
}
