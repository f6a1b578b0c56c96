package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
)

// TestKeystoreCommands rotates the key-encryption key of a store with two
// held keys: both are sealed again under the new key and still open, the
// earlier key is kept until retire drops it (not sooner than retireAfter
// after the rotation), and each step is audited.
func TestKeystoreCommands(t *testing.T) {
	cfg, db := testConfig(t, "  - {name: default, ca: issuing, methods: [api], server_keygen: true, names: {dns: [\"*\"]}}\n")
	kek := filepath.Join(filepath.Dir(cfg), "kek") // testConfig's keystore.kek_file
	ctx := context.Background()
	gateway := gatewayCommand(t, cfg)
	if _, err := gateway("init"); err != nil {
		t.Fatal(err)
	}
	var serials []string
	d, core, err := openConfigCore(ctx, cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.test", "b.test"} {
		issued, err := core.Issue(ctx, ca.IssueRequest{Profile: "default", Method: "api", Requester: "test",
			Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{name}}})
		if err != nil {
			t.Fatal(err)
		}
		serials = append(serials, issued.Serial)
	}
	first := core.Issuer.Sealer.Current()
	d.Close()

	out, err := gateway("keystore", "status")
	if err != nil || !strings.Contains(out, first+"\tcurrent\t2 held keys") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = gateway("keystore", "rotate")
	if err != nil || !strings.Contains(out, "2 held keys sealed again") {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	out, err = gateway("keystore", "status")
	if err != nil || !strings.Contains(out, "\tcurrent\t2 held keys") || !strings.Contains(out, first+"\tearlier\t0 held keys") {
		t.Fatalf("status after the rotation: %v\n%s", err, out)
	}
	opens := func() string {
		t.Helper()
		d, core, err := openConfigCore(ctx, cfg, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, s := range serials {
			b, err := core.Bundle(ctx, s)
			if err != nil || !strings.Contains(string(b.KeyPEM), "PRIVATE KEY") {
				t.Fatalf("held key of %s: %v", s, err)
			}
		}
		return core.Issuer.Sealer.Current()
	}
	current := opens()
	if current == first {
		t.Fatal("the current key did not change")
	}

	// Too soon: running gateways may not have reloaded yet.
	if out, err := gateway("keystore", "retire"); err == nil || !strings.Contains(err.Error(), "retire in") {
		t.Fatalf("retire at once: %v\n%s", err, out)
	}
	old := time.Now().Add(-retireAfter - time.Second)
	if err := os.Chtimes(kek, old, old); err != nil {
		t.Fatal(err)
	}
	out, err = gateway("keystore", "retire")
	if err != nil || !strings.Contains(out, "1 earlier keys retired ["+first+"]") {
		t.Fatalf("retire: %v\n%s", err, out)
	}
	if opens() != current {
		t.Fatal("retire changed the current key")
	}
	if b, _ := os.ReadFile(kek); len(strings.Fields(string(b))) != 1 {
		t.Fatalf("%s after retire holds %d keys", kek, len(strings.Fields(string(b))))
	}

	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.ListAudit(ctx, storage.AuditFilter{Limit: 10})
	if err != nil || len(events) < 2 || events[0].Action != "keystore-retire" || events[1].Action != "keystore-rotate" ||
		events[1].Detail != "key "+current || !strings.Contains(events[0].Detail, first) {
		t.Fatalf("audit trail: %+v, %v", events, err)
	}
}

// gateway audit list shows the trail, filtered, newest first.
func TestAuditListCommand(t *testing.T) {
	cfg, _ := testConfig(t, "  - {name: default, ca: issuing, methods: [api], names: {dns: [\"*\"]}}\n")
	gateway := gatewayCommand(t, cfg)
	for _, name := range []string{"one", "two"} {
		if _, err := gateway("token", "create", "-name", name, "-scope", "read"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := gateway("audit", "list", "-action", "token-create", "-within", "1h")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.Contains(lines[0], `name="two"`) || !strings.Contains(lines[1], `name="one"`) ||
		strings.Split(lines[0], "\t")[3] != "token-create" {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	if out, err := gateway("audit", "list", "-action", "token-create", "-limit", "1"); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("audit list -limit 1: %v\n%s", err, out)
	}
	if _, err := gateway("audit", "list", "-within", "soon"); err == nil {
		t.Fatal("-within soon accepted")
	}
}
