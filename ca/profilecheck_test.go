package ca_test

import (
	"strings"
	"testing"

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
	f := newFixture(t, teststore.SQLite(t), good, ipOnly)
	if err := f.core.CheckProfiles(); err != nil {
		t.Fatalf("good profiles: %v", err)
	}
	if n := f.key.n.Load(); n != 0 {
		t.Errorf("the CA key signed %d times", n)
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
}
