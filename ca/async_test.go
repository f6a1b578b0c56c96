package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// waitRequest waits until request id is no longer approved and returns it.
func waitRequest(t *testing.T, st storage.Store, id string) storage.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := st.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != storage.RequestApproved {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s still approved after 10s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An asynchronous issuance by an external CA answers pending while the CA
// works and goes on without the requester: the request it recorded ends
// issued, its repeat answers the certificate, and the issuance is told
// once (by the issuance itself, as nobody waited). Repeats while it works
// start no second order.
func TestUpstreamAsyncPending(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, u := upstreamFixture(t, st, nil)
		var told atomic.Int32
		f.core.OnEvent = func(context.Context, ca.CertificateEvent) { told.Add(1) }
		u.Gate = make(chan struct{})
		ctx := context.Background()
		req := ca.IssueRequest{Profile: "ext", Method: "api", Requester: "pipeline", CSR: csrFor(t, "slow.example.com", "slow.example.com"), Async: true}

		_, err := f.core.Issue(ctx, req)
		pe, ok := ca.AsPending(err)
		if !ok || pe.Request.Status != storage.RequestApproved || pe.Request.DecidedBy != ca.AsyncActor || pe.RetryAfter != ca.AsyncRetryAfter ||
			!strings.Contains(err.Error(), "external CA") {
			t.Fatalf("Issue() = %v, want pending for an approved request, retry after %s", err, ca.AsyncRetryAfter)
		}
		_, err = f.core.Issue(ctx, req)
		if again, ok := ca.AsPending(err); !ok || again.Request.ID != pe.Request.ID || again.RetryAfter != ca.AsyncRetryAfter {
			t.Fatalf("repeat while the CA works: %v, want pending for request %s", err, pe.Request.ID)
		}
		close(u.Gate)
		r := waitRequest(t, st, pe.Request.ID)
		if r.Status != storage.RequestIssued || r.Serial == "" {
			t.Fatalf("request ended %+v", r)
		}
		issued, err := f.core.Issue(ctx, req)
		if err != nil || !issued.Earlier || issued.Serial != r.Serial || issued.Cert.CheckSignatureFrom(u.Cert) != nil {
			t.Fatalf("repeat after the issuance: %+v, %v", issued, err)
		}
		if obtains, _ := u.Counts(); obtains != 1 {
			t.Errorf("the external CA was asked %d times, want once", obtains)
		}
		deadline := time.Now().Add(5 * time.Second)
		for told.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := told.Load(); n != 1 {
			t.Errorf("the issuance was told %d times, want once", n)
		}
		if a := auditActions(t, st); a["request"] != 1 || a["approve-request"] != 1 || a["issue"] != 1 {
			t.Errorf("audit actions %v", a)
		}
	})
}

// Within AsyncWait the requester gets the certificate, or the CA's
// refusal, as a synchronous issuance would; the request records either,
// and a repeat after a failure asks the CA again.
func TestUpstreamAsyncInTime(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, u := upstreamFixture(t, st, nil)
		var told atomic.Int32
		f.core.OnEvent = func(context.Context, ca.CertificateEvent) { told.Add(1) }
		ctx := context.Background()
		req := ca.IssueRequest{Profile: "ext", Method: "api", Requester: "pipeline", CSR: csrFor(t, "quick.example.com", "quick.example.com"),
			Async: true, AsyncWait: time.Minute}

		u.ObtainErr = errs.New(errs.RejectedIdentifier, "the CA says no")
		if _, err := f.core.Issue(ctx, req); !errs.Is(err, errs.RejectedIdentifier) {
			t.Fatalf("Issue() with the CA refusing = %v, want its refusal", err)
		}
		failed, err := st.ListRequests(ctx, storage.RequestFilter{Profile: "ext", Status: storage.RequestFailed})
		if err != nil || len(failed) != 1 || !strings.Contains(failed[0].Reason, "the CA says no") {
			t.Fatalf("failed requests: %+v, %v", failed, err)
		}

		u.ObtainErr = nil
		issued, err := f.core.Issue(ctx, req)
		if err != nil || issued.Earlier {
			t.Fatalf("Issue() = %+v, %v; want a new certificate", issued, err)
		}
		done, err := st.ListRequests(ctx, storage.RequestFilter{Profile: "ext", Status: storage.RequestIssued})
		if err != nil || len(done) != 1 || done[0].Serial != issued.Serial {
			t.Fatalf("issued requests: %+v, %v", done, err)
		}
		if obtains, _ := u.Counts(); obtains != 2 {
			t.Errorf("the external CA was asked %d times, want twice", obtains)
		}
		if n := told.Load(); n != 1 {
			t.Errorf("the issuance was told %d times, want once", n)
		}
	})
}

// A key the gateway generates is issued asynchronously too when it keeps
// the key: the request carries the generated key's CSR, the certificate
// is recorded with the key sealed, and the requester, who cannot repeat
// its request (a repeat makes another key), reads the request and takes
// the key with the certificate (Bundle). A key the requester takes alone
// (DiscardKey) waits for the CA.
func TestUpstreamAsyncGeneratedKey(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, u := upstreamFixture(t, st, nil)
		u.Gate = make(chan struct{})
		ctx := context.Background()
		gen := &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{"gen.example.com"}}
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", Requester: "pipeline", Generate: gen, Async: true})
		pe, ok := ca.AsPending(err)
		if !ok || pe.Request.DecidedBy != ca.AsyncActor {
			t.Fatalf("Issue() with a generated key = %v, want pending", err)
		}
		csr, err := x509.ParseCertificateRequest(pe.Request.CSR)
		if err != nil || csr.CheckSignature() != nil || !slices.Equal(csr.DNSNames, gen.DNSNames) {
			t.Fatalf("the request's CSR: %v", err)
		}
		close(u.Gate)
		r := waitRequest(t, st, pe.Request.ID)
		if r.Status != storage.RequestIssued {
			t.Fatalf("request ended %+v", r)
		}
		b, err := f.core.Bundle(ctx, r.Serial)
		if err != nil || b.KeyPEM == nil {
			t.Fatalf("bundle of %s: %+v, %v", r.Serial, b, err)
		}
		block, _ := pem.Decode(b.KeyPEM)
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil || !key.(*ecdsa.PrivateKey).PublicKey.Equal(b.Cert.PublicKey) || !b.Cert.PublicKey.(*ecdsa.PublicKey).Equal(csr.PublicKey) {
			t.Fatalf("the held key does not belong to the certificate and the request: %v", err)
		}

		before, err := st.ListRequests(ctx, storage.RequestFilter{Profile: "ext"})
		if err != nil {
			t.Fatal(err)
		}
		issued, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", Requester: "device", Generate: gen, Async: true, DiscardKey: true})
		if err != nil || issued.Key == nil {
			t.Fatalf("Issue() of a key the requester takes alone = %+v, %v; want the certificate at once", issued, err)
		}
		if after, _ := st.ListRequests(ctx, storage.RequestFilter{Profile: "ext"}); len(after) != len(before) {
			t.Errorf("%d requests after a synchronous issuance, want %d", len(after), len(before))
		}
	})
}
