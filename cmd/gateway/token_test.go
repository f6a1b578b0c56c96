package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
)

// TestTokenCommands runs `gateway token create|list|revoke` against an
// embedded store.
func TestTokenCommands(t *testing.T) {
	cfg, db := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	ctx := context.Background()
	gateway := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(args, "-config", cfg), &out, &errOut)
		return out.String(), err
	}
	lookup := func(secret string) (storage.Token, error) {
		t.Helper()
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		return st.TokenByHash(ctx, api.HashToken(secret))
	}

	secret, err := gateway("token", "create", "-name", "pipeline", "-scope", "issue,read")
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.TrimSpace(secret)
	tok, err := lookup(secret)
	if err != nil {
		t.Fatalf("the printed token is not stored: %v", err)
	}
	out, err := gateway("token", "list")
	if err != nil {
		t.Fatal(err)
	}
	if fields := strings.Split(strings.TrimSpace(out), "\t"); len(fields) != 4 || fields[0] != tok.ID || fields[1] != "pipeline" || fields[2] != "issue,read" {
		t.Fatalf("token list:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Fatal("token list shows the secret")
	}

	if out, err := gateway("token", "revoke", "-id", tok.ID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %v\n%s", err, out)
	}
	if _, err := lookup(secret); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the revoked token is still stored: %v", err)
	}
	if out, err := gateway("token", "list"); err != nil || out != "" {
		t.Fatalf("token list after the revocation: %v %q", err, out)
	}
	if _, err := gateway("token", "revoke", "-id", tok.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("second revoke: %v, want not found", err)
	}
	// The creation and the revocation are in the audit trail, the refused
	// second revocation is not.
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.ListAudit(ctx, storage.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "token-") {
			actions = append(actions, e.Action+" "+e.Detail)
		}
	}
	want := []string{"token-revoke token " + tok.ID, fmt.Sprintf("token-create token %s name=%q scopes=issue,read", tok.ID, "pipeline")}
	if !slices.Equal(actions, want) {
		t.Errorf("audit (newest first) = %q, want %q", actions, want)
	}
	if _, err := gateway("token", "revoke"); err == nil {
		t.Fatal("token revoke without -id succeeded")
	}
}
