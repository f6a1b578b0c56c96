package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A bulk revocation of more certificates than one commit takes revokes
// every one, in batches: each audited and told (CRLs and OCSP, webhooks)
// as a revocation by serial is, and, for keyCompromise, each key blocked
// once; the certificates of another profile stay active.
func TestRevokeMatchingInBatches(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil))
		ctx := context.Background()
		var toldCRL, toldHook atomic.Int64
		f.core.OnRevoke = func(context.Context, string, string) { toldCRL.Add(1) }
		f.core.OnEvent = func(_ context.Context, ev ca.CertificateEvent) {
			if ev.Kind == "revoked" {
				toldHook.Add(1)
			}
		}
		keys := []*ecdsa.PrivateKey{}
		for range 2 {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			keys = append(keys, k)
		}
		const n = 205 // two commits
		for i := range n + 3 {
			name := fmt.Sprintf("h%d.leak.example.com", i)
			if i >= n {
				name = fmt.Sprintf("h%d.keep.example.com", i)
			}
			der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, keys[i%2])
			if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "t", CSR: der}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := f.core.RevokeMatching(ctx, ca.BulkRevokeRequest{Filter: storage.CertificateFilter{SAN: ".leak.example.com"},
			Reason: storage.ReasonKeyCompromise, Limit: 1000, Requester: "ops"})
		if err != nil || len(out.Matched) != n || len(out.Revoked) != n || len(out.Failed) != 0 {
			t.Fatalf("RevokeMatching: %d matched, %d revoked, %v failed, %v", len(out.Matched), len(out.Revoked), out.Failed, err)
		}
		if toldCRL.Load() != n || toldHook.Load() != n {
			t.Errorf("told %d revocations to the CRLs and %d to the webhooks, want %d", toldCRL.Load(), toldHook.Load(), n)
		}
		for action, want := range map[string]int{"revoke": n, "block-key": 2, "bulk-revoke": 1} {
			if events, err := st.ListAudit(ctx, storage.AuditFilter{Action: action, Limit: 1000}); err != nil || len(events) != want {
				t.Errorf("%d %s events (%v), want %d", len(events), action, err, want)
			}
		}
		if keys, _ := f.core.BlockedKeys(ctx); len(keys) != 2 {
			t.Errorf("%d blocked keys, want 2", len(keys))
		}
		certs, _, err := st.ListCertificates(ctx, storage.CertificateFilter{SAN: ".keep.example.com", Status: "active", Now: f.now, Limit: 10})
		if err != nil || len(certs) != 3 {
			t.Errorf("%d certificates of other names active (%v), want 3", len(certs), err)
		}
	})
}
