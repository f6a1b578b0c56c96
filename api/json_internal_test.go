package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"slices"
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
)

// A held request shows as what it keeps: PKCS#10, or a CMP ir's CRMF.
func TestHeldRequestPEM(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p10, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"a.example.com"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	crmf := []byte{0x30, 0x03, 0x30, 0x01, 0x00} // a CertReqMessages is no PKCS#10
	for _, tc := range []struct {
		der  []byte
		want string
	}{
		{p10, "-----BEGIN CERTIFICATE REQUEST-----\n"},
		{crmf, "-----BEGIN CERTIFICATE REQUEST MESSAGES-----\n"},
	} {
		if got := heldRequestPEM(tc.der); !strings.HasPrefix(got, tc.want) {
			t.Errorf("heldRequestPEM = %q, want %q...", got, tc.want)
		}
	}
}

// GET /profiles shows a profile's subject rules: what it fixes, what a
// request may set, and the patterns as configured.
func TestProfileSubjectRules(t *testing.T) {
	p, err := ca.CompileProfile(config.Profile{Name: "devices", CA: "issuing", Methods: []string{"est"},
		Subject: config.ProfileSubject{Organization: "Example", FromCSR: []string{"serial_number"},
			Patterns: map[string]string{"serial_number": "SN-[0-9]{6}", "common_name": `dev-[0-9]+`}}})
	if err != nil {
		t.Fatal(err)
	}
	got := profileOf(p).Subject
	if got.Fixed["organization"] != "Example" || !slices.Equal(got.FromCSR, []string{"serial_number"}) ||
		got.Patterns["serial_number"] != "SN-[0-9]{6}" || got.Patterns["common_name"] != "dev-[0-9]+" {
		t.Errorf("subject rules %+v", got)
	}
	if empty := profileOf(&ca.Profile{Name: "plain"}).Subject; empty.Fixed == nil || empty.FromCSR == nil || empty.Patterns == nil {
		t.Errorf("a profile without subject rules shows %+v, want empty objects and list", empty)
	}
}
