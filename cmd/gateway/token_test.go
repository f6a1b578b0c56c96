package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
	gateway := gatewayCommand(t, cfg)
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
	if fields := strings.Split(strings.TrimSpace(out), "\t"); len(fields) != 6 || fields[0] != tok.ID || fields[1] != "pipeline" || fields[2] != "issue,read" || fields[4] != "*" || fields[5] != "never" {
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

	// A token limited to a profile: to one that exists, and not admin.
	if _, err := gateway("token", "create", "-name", "web", "-scope", "issue", "-profiles", "nope"); err == nil || !strings.Contains(err.Error(), `no profile "nope"`) {
		t.Fatalf("token create -profiles nope: %v", err)
	}
	if _, err := gateway("token", "create", "-name", "root", "-scope", "admin", "-profiles", "default"); err == nil || !strings.Contains(err.Error(), "admin token cannot be limited") {
		t.Fatalf("token create -scope admin -profiles default: %v", err)
	}
	limited, err := gateway("token", "create", "-name", "web", "-scope", "issue", "-profiles", "default")
	if err != nil {
		t.Fatal(err)
	}
	if lt, err := lookup(strings.TrimSpace(limited)); err != nil || !slices.Equal(lt.Profiles, []string{"default"}) {
		t.Fatalf("the limited token is stored as %+v (%v)", lt, err)
	}
	if out, err := gateway("token", "list"); err != nil || !strings.HasSuffix(strings.TrimSpace(out), "\tdefault\tnever") {
		t.Fatalf("token list does not show the limit: %v\n%s", err, out)
	}
}

// gateway token create -valid-for makes a token that expires; list says
// when; a duration that is not positive is refused.
func TestTokenValidFor(t *testing.T) {
	cfg, _ := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	gateway := gatewayCommand(t, cfg)
	before := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	if _, err := gateway("token", "create", "-name", "short", "-scope", "read", "-valid-for", "30d"); err != nil {
		t.Fatal(err)
	}
	out, err := gateway("token", "list")
	fields := strings.Split(strings.TrimSpace(out), "\t")
	if err != nil || len(fields) != 6 {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	if at, err := time.Parse(time.RFC3339, fields[5]); err != nil || at.Before(before) || at.After(before.Add(time.Minute)) {
		t.Fatalf("expiry %q, want about %s", fields[5], before)
	}
	for _, bad := range []string{"0d", "-1h", "soon"} {
		if _, err := gateway("token", "create", "-name", "bad", "-scope", "read", "-valid-for", bad); err == nil || !strings.Contains(err.Error(), "-valid-for") {
			t.Errorf("-valid-for %s: %v", bad, err)
		}
	}
}
