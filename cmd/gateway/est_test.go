package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/certgw/gateway/protocols/est"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
)

// TestESTUserCommands runs `gateway est user add|list|delete` against an
// embedded store and checks what they store.
func TestESTUserCommands(t *testing.T) {
	cfg, db := testConfig(t, "  - {name: default, ca: issuing, methods: [est, api], names: {dns: [\"*\"]}}\n"+
		"  - {name: web, ca: issuing, methods: [acme], names: {dns: [\"*\"]}}\n")
	ctx := context.Background()
	run := func(stdin string, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := cmdEST(ctx, append(args, "-config", cfg), strings.NewReader(stdin), &out, &errOut)
		return out.String(), errOut.String(), err
	}
	hashOf := func(profile, user string) string {
		t.Helper()
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		c, err := st.GetESTCredential(ctx, profile, user)
		if err != nil {
			t.Fatalf("%s/%s: %v", profile, user, err)
		}
		return c.Hash
	}
	verifies := func(hash, password string) bool {
		t.Helper()
		ok, err := est.CheckPassword(hash, password)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Generated: printed once on stdout, alone.
	out, _, err := run("", "user", "add", "-profile", "default", "-user", "dev1")
	if err != nil {
		t.Fatal(err)
	}
	generated := strings.TrimSpace(out)
	if len(generated) < 32 || strings.ContainsAny(generated, ": \n") {
		t.Fatalf("generated password %q", generated)
	}
	if !verifies(hashOf("default", "dev1"), generated) {
		t.Fatal("the stored hash does not verify the printed password")
	}

	// From standard input, for scripts.
	if _, _, err := run("s3cret-from-a-script\n", "user", "add", "-profile", "default", "-user", "estuser", "-password-stdin"); err != nil {
		t.Fatal(err)
	}
	h := hashOf("default", "estuser")
	if !verifies(h, "s3cret-from-a-script") || strings.Contains(h, "s3cret") {
		t.Fatal("the stored hash does not verify the password from stdin, or holds it")
	}

	// Adding twice needs -replace.
	if _, _, err := run("another-password!\n", "user", "add", "-profile", "default", "-user", "estuser", "-password-stdin"); err == nil || !strings.Contains(err.Error(), "-replace") {
		t.Fatalf("second add = %v, want an error naming -replace", err)
	}
	if !verifies(hashOf("default", "estuser"), "s3cret-from-a-script") {
		t.Fatal("a refused add changed the password")
	}
	if _, _, err := run("another-password!\n", "user", "add", "-profile", "default", "-user", "estuser", "-password-stdin", "-replace"); err != nil {
		t.Fatal(err)
	}
	if !verifies(hashOf("default", "estuser"), "another-password!") {
		t.Fatal("-replace did not set the new password")
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"user", "add", "-profile", "web", "-user", "x"}, "does not allow the est method"},
		{"", []string{"user", "add", "-profile", "nosuch", "-user", "x"}, `no profile "nosuch"`},
		{"", []string{"user", "add", "-user", "x"}, "-profile is required"},
		{"", []string{"user", "add", "-profile", "default", "-user", "a:b"}, "no colon"},
		{"short\n", []string{"user", "add", "-profile", "default", "-user", "x", "-password-stdin"}, "at least 12"},
		{"", []string{"user", "delete", "-profile", "default", "-user", "nobody"}, `no EST user "nobody"`},
	} {
		if _, _, err := run(tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v = %v, want an error with %q", tc.args, err, tc.want)
		}
	}

	out, _, err = run("", "user", "list")
	if err != nil || !strings.Contains(out, "default  dev1") || !strings.Contains(out, "default  estuser") {
		t.Fatalf("list = %v\n%s", err, out)
	}
	if _, _, err := run("", "user", "delete", "-profile", "default", "-user", "dev1"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = run("", "user", "list", "-profile", "default")
	if strings.Contains(out, "dev1") {
		t.Fatalf("deleted user still listed:\n%s", out)
	}

	// Every change is in the audit trail.
	st, _ := sqlite.Open(ctx, db)
	defer st.Close()
	events, _ := st.ListAudit(ctx, storage.AuditFilter{Limit: 50})
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "est-user-delete est-user-replace est-user-add est-user-add" {
		t.Errorf("audit actions (newest first) = %s", got)
	}

	if err := cmdEST(ctx, []string{"user"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != errUsage {
		t.Errorf("est user = %v, want usage", err)
	}
}
