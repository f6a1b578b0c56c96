package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// TestRequestApproveOfTwo: on a profile that wants two approvals, gateway
// request approve records the operator's and says how many are missing;
// the same operator again is refused; another's issues.
func TestRequestApproveOfTwo(t *testing.T) {
	cfg, _ := testConfig(t, "  - {name: held, ca: issuing, methods: [api], names: {dns: [\"*\"]}, approval: {methods: [api], approvals: 2}}\n")
	ctx := context.Background()
	gateway := gatewayCommand(t, cfg)
	if _, err := gateway("init"); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"held.test"}}, key)
	d, core, err := openConfigCore(ctx, cfg, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = core.Issue(ctx, ca.IssueRequest{Profile: "held", Method: "api", Requester: "pipeline", CSR: csr})
	p, ok := ca.AsPending(err)
	if !ok {
		t.Fatalf("Issue: %v, want held", err)
	}
	id := p.Request.ID

	out, err := gateway("request", "approve", "-id", id)
	if err != nil || !strings.Contains(out, "1 of the 2 it needs") || !strings.Contains(out, "waits for 1 more") {
		t.Fatalf("first approval: %v\n%s", err, out)
	}
	if out, err := gateway("request", "approve", "-id", id); !errs.Is(err, errs.Conflict) {
		t.Fatalf("the same operator again: %v\n%s", err, out)
	}
	issued, err := core.Approve(ctx, id, "another-operator")
	if err != nil || issued == nil {
		t.Fatalf("second approval: %v", err)
	}
}
