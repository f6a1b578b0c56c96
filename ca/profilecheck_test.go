package ca_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/teststore"
)

// A profile whose own settings fail the lint gate is reported before any
// request, naming the profile and the key; the others pass.
func TestCheckProfiles(t *testing.T) {
	good := webProfile(nil)
	ipOnly := webProfile(func(p *config.Profile) {
		p.Name, p.Names.DNS, p.Names.CommonName = "ip-only", nil, "require"
	})
	ed := webProfile(func(p *config.Profile) { p.Name, p.KeyTypes = "ed", []string{"ed25519"} })
	f := newFixture(t, teststore.SQLite(t), good, ipOnly, ed)
	if err := f.core.CheckProfiles(); err != nil {
		t.Fatalf("good profiles: %v", err)
	}
	// What the check passed issues: an Ed25519 key (RFC 8410), and a CN
	// repeating a private IP SAN.
	ctx := context.Background()
	if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ed", Method: "api", Generate: &ca.GenerateRequest{KeyType: "ed25519", DNSNames: []string{"ed.example.com"}}}); err != nil {
		t.Errorf("Ed25519: %v", err)
	}
	if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ip-only", Method: "api", Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", CommonName: "10.1.2.3", IPs: []string{"10.1.2.3"}}}); err != nil {
		t.Errorf("CN repeating a private IP: %v", err)
	}
	if n := f.key.n.Load(); n != 2 {
		t.Errorf("the CA key signed %d times, want 2 (the two issuances, not the check)", n)
	}

	// keyEncipherment with clientAuth alone: zlint's
	// e_key_usage_and_extended_key_usage_inconsistent.
	bad := webProfile(func(p *config.Profile) {
		p.Name, p.KeyTypes = "vpn", []string{"ecdsa-p256", "rsa-2048"}
		p.KeyUsage, p.ExtKeyUsage = []string{"digital_signature", "key_encipherment"}, []string{"client_auth"}
	})
	f = newFixture(t, teststore.SQLite(t), good, bad)
	err := f.core.CheckProfiles()
	if err == nil || !strings.Contains(err.Error(), "profile vpn, rsa-2048 key") || strings.Contains(err.Error(), "profile web") {
		t.Fatalf("CheckProfiles = %v", err)
	}

	// A two-year device profile passes the private-PKI lint set and issues
	// two-year certificates; under a CA that keeps the Baseline
	// Requirements' lifetime schedule, its longest validity fails at start.
	devices := webProfile(func(p *config.Profile) {
		p.Name, p.MaxValidity, p.DefaultValidity = "devices", config.Duration(730*24*time.Hour), config.Duration(730*24*time.Hour)
	})
	f = newFixture(t, teststore.SQLite(t), devices)
	if err := f.core.CheckProfiles(); err != nil {
		t.Fatalf("a two-year profile under the private-PKI lint set: %v", err)
	}
	if got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "devices", Method: "api", CSR: csrFor(t, "", "dev.example.com")}); err != nil || got.Cert.NotAfter.Sub(got.Cert.NotBefore) < 729*24*time.Hour {
		t.Fatalf("a two-year certificate: %v", err)
	}
	br, err := ca.NewLinter(ca.PrivatePKIExcludedSources(), ca.DefaultExcludedLints())
	if err != nil {
		t.Fatal(err)
	}
	f.core.CAs["issuing"].Linter = br
	if err := f.core.CheckProfiles(); err == nil || !strings.Contains(err.Error(), "e_server_cert_valid_time_longer_than_200_days") {
		t.Fatalf("a two-year profile under the BR lifetime schedule: %v", err)
	}
}
