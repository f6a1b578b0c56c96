package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
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
