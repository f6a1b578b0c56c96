package api_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

// A certificate signed but never activated (the process died between the
// audit record and the store write) comes back with reconcile.
func TestReconcile(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// Sign a certificate as a crashed issuance would have: pending row,
		// audit record with the DER, no activation.
		key := newP256(t)
		serial, _ := ca.NewSerial(rand.Reader)
		now := e.clock.Now()
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "lost.example.com"},
			DNSNames: []string{"lost.example.com"}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		hex := ca.SerialHex(serial)
		if err := e.store.InsertPendingCertificate(ctx, storage.Certificate{Serial: hex, CA: "issuing", Profile: "web", Method: "api",
			Requester: "crashed", SANs: []string{"lost.example.com"}, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.AppendAudit(ctx, storage.AuditEvent{At: now, Actor: "crashed", Action: "issue", Profile: "web", Serial: hex, DER: der}); err != nil {
			t.Fatal(err)
		}

		if p := e.list("?status=pending"); len(p.Certificates) != 1 || p.Certificates[0].Status != "pending" || p.Certificates[0].Serial != hex {
			t.Fatalf("pending: %+v", p)
		}
		// A pending certificate has nothing to show, revoke or export.
		e.do("GET", "/api/v1/certificates/"+hex+"/pem", reader, nil).problem(t, 409, "conflict", "pending")
		e.do("POST", "/api/v1/certificates/"+hex+"/revoke", revoker, nil).problem(t, 409, "conflict", "pending")
		e.do("POST", "/api/v1/certificates/"+hex+"/pkcs12", issuer, map[string]string{"password": "x"}).problem(t, 409, "conflict", "pending")

		var out struct {
			Restored int `json:"restored"`
		}
		// Too young for the default grace of 5 minutes.
		e.do("POST", "/api/v1/admin/reconcile", admin, nil).decode(t, http.StatusOK, &out)
		if out.Restored != 0 {
			t.Fatalf("restored %d within the grace period", out.Restored)
		}
		e.clock.Advance(time.Minute)
		e.do("POST", "/api/v1/admin/reconcile?grace=30s", admin, nil).decode(t, http.StatusOK, &out)
		if out.Restored != 1 {
			t.Fatalf("restored %d", out.Restored)
		}
		if c := e.get(hex); c.Status != "active" {
			t.Errorf("after reconcile: %+v", c)
		}
		r := e.do("GET", "/api/v1/certificates/"+hex+"/pem", reader, nil)
		if block, _ := pem.Decode(r.body); r.status != 200 || block == nil || string(block.Bytes) != string(der) {
			t.Errorf("pem after reconcile: %d %s", r.status, r.body)
		}
		e.do("POST", "/api/v1/admin/reconcile?grace=soon", admin, nil).problem(t, 400, "malformed", "grace")
		e.do("POST", "/api/v1/admin/reconcile?grace=-1m", admin, nil).problem(t, 400, "malformed", "grace")
		e.do("POST", "/api/v1/admin/reconcile?force=1", admin, nil).problem(t, 400, "malformed", `"force"`)
	})
}
