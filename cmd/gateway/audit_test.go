package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
)

// gateway audit seal seals the trail with the audit key in the token,
// and gateway audit verify finds an event changed in the database
// afterwards (an UPDATE behind the gateway's back).
func TestAuditSealAndVerify(t *testing.T) {
	cfg, db := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	gateway := gatewayCommand(t, cfg)
	if _, err := gateway("audit", "verify"); err == nil || !strings.Contains(err.Error(), "no audit key") {
		t.Fatalf("verify before any seal: %v", err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"issue", "revoke", "export-key"} {
		if _, err := st.AppendAudit(ctx, storage.AuditEvent{At: time.Now().Add(-time.Hour), Actor: "test", Action: action, Detail: "as it was"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if _, err := gateway("init"); err != nil { // its events are too young to seal
		t.Fatal(err)
	}
	out, err := gateway("audit", "seal")
	if err != nil || !strings.Contains(out, "1 checkpoints made") {
		t.Fatalf("audit seal: %v\n%s", err, out)
	}
	out, err = gateway("audit", "verify")
	if err != nil || !strings.Contains(out, "audit trail verified: 1 checkpoints seal") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}

	// An export, checked away from the store and the token, with the
	// public key the auditor pins; changed, it fails.
	export := filepath.Join(t.TempDir(), "audit.ndjson")
	if out, err := gateway("audit", "export", "-o", export); err != nil || !strings.Contains(out, "and 1 checkpoints to") {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	b, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var first struct {
		PublicKey string `json:"public_key"`
	}
	json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &first)
	pub := filepath.Join(t.TempDir(), "audit-key.pem")
	if err := os.WriteFile(pub, []byte(first.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := gateway("audit", "verify", "-file", export, "-pubkey", pub); err != nil || !strings.Contains(out, "audit trail verified: 1 checkpoints") {
		t.Fatalf("audit verify -file: %v\n%s", err, out)
	}
	changed := filepath.Join(t.TempDir(), "changed.ndjson")
	if err := os.WriteFile(changed, bytes.Replace(b, []byte(`"as it was"`), []byte(`"as it was not"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway("audit", "verify", "-file", changed, "-pubkey", pub); err == nil || !strings.Contains(err.Error(), "do not match what was sealed") {
		t.Errorf("audit verify -file of a changed export: %v", err)
	}

	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := raw.QueryRow(`SELECT id FROM audit WHERE action = 'revoke'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit SET detail = 'nothing happened' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := gateway("audit", "verify"); err == nil || !strings.Contains(err.Error(), "audit checkpoint 1") || !strings.Contains(err.Error(), "do not match what was sealed") {
		t.Fatalf("verify after an UPDATE of a sealed event: %v", err)
	}
}
