package acme

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// An order of a profile backed by an external CA is answered processing
// while that CA works, and polled to valid (or invalid, with the CA's
// reason) by x/crypto/acme; a second finalize does not start a second
// issuance.
func TestFinalizeByExternalCA(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "issued", true: "refused"}[fail]
		t.Run(name, func(t *testing.T) {
			st := teststore.SQLite(t)
			dns := startDNS(t)
			h01 := startHTTP01(t)
			f := newFixture(t, st, config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h01.port, AllowPrivateTargets: true},
				Settings{RetryAfter: 100 * time.Millisecond, ValidationHeadStart: 50 * time.Millisecond})
			up := coretest.NewExternalCA(t, time.Now)
			up.Gate = make(chan struct{})
			if fail {
				up.ObtainErr = errs.New(errs.Forbidden, "upstream ext-ca: the name does not reach the gateway")
			}
			p, err := ca.CompileProfile(func() config.Profile { p := testProfile(); p.Name, p.CA, p.Upstream = "ext", "", "ext-ca"; return p }())
			if err != nil {
				t.Fatal(err)
			}
			f.core.Profiles["ext"], f.core.Upstreams = p, map[string]ca.Upstream{"ext-ca": up}
			up.Register(t, st, "ext-ca")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			c := &xacme.Client{Key: key, DirectoryURL: f.ts.URL + "/acme/ext/directory",
				HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.tsRoots()}}}}
			o := readyOrder(ctx, t, c, h01, "up.test")
			ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"up.test"}}, ck)
			type result struct {
				ders [][]byte
				err  error
			}
			res := make(chan result, 1)
			go func() {
				ders, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
				res <- result{ders, err}
			}()
			for {
				cur, err := c.GetOrder(ctx, o.URI)
				if err != nil {
					t.Fatal(err)
				}
				if cur.Status == xacme.StatusProcessing {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			// A second finalize while the first runs is refused.
			if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, false); err == nil || !strings.Contains(err.Error(), "orderNotReady") {
				t.Errorf("second finalize: %v", err)
			}
			close(up.Gate)
			r := <-res
			if fail {
				if r.err == nil || !strings.Contains(r.err.Error(), "does not reach the gateway") {
					t.Fatalf("refused issuance: %v", r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("CreateOrderCert: %v", r.err)
			}
			// The leaf and the external CA's issuing CA, as it sent them.
			leaf, _ := x509.ParseCertificate(r.ders[0])
			if len(r.ders) != 2 || leaf.CheckSignatureFrom(up.Cert) != nil || !bytes.Equal(r.ders[1], up.Cert.Raw) {
				t.Fatalf("%d certificates, the first not signed by the external CA", len(r.ders))
			}
			rec, err := st.GetCertificate(ctx, ca.SerialHex(leaf.SerialNumber))
			if err != nil || rec.CA != "ext-ca" || rec.Method != "acme" {
				t.Fatalf("inventory record %+v, %v", rec, err)
			}
		})
	}
}

// An order whose issuance by an external CA a stopped replica left
// processing is failed by the sweeper once UpstreamTimeout and its grace
// have passed; one within it is left alone.
func TestSweeperFailsInterruptedUpstreamOrders(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{UpstreamTimeout: 5 * time.Minute})
		k := newECKey(t)
		acct := f.newAccount(k)
		claimed := func(name string) string {
			r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": name}}})
			if r.status != http.StatusCreated {
				t.Fatalf("newOrder: %d %s", r.status, r.body)
			}
			id := path.Base(r.header.Get("Location"))
			// As if its challenges were valid and its finalize had
			// claimed it, then the replica stopped.
			if ok, err := st.SetACMEOrderStatus(t.Context(), id, storage.ACMEPending, storage.ACMEReady, nil, ""); err != nil || !ok {
				t.Fatalf("ready: %v %v", ok, err)
			}
			if ok, err := st.ClaimACMEOrder(t.Context(), id, f.clock.Now()); err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			return id
		}
		stale := claimed("stale.example.com")
		f.clock.Advance(2 * time.Minute)
		fresh := claimed("fresh.example.com")
		f.clock.Advance(5*time.Minute + sweepGrace - 2*time.Minute + time.Second)
		if n, err := f.srv.sweepOrders(t.Context()); err != nil || n != 1 {
			t.Fatalf("sweepOrders = %d, %v; want 1", n, err)
		}
		for id, want := range map[string]string{stale: storage.ACMEInvalid, fresh: storage.ACMEProcessing} {
			if o, err := st.GetACMEOrder(t.Context(), id); err != nil || o.Status != want {
				t.Errorf("order %s: %s, %v; want %s", id, o.Status, err, want)
			}
		}
	})
}

// Drain waits for background jobs, until its context ends.
func TestJobsWait(t *testing.T) {
	var j jobs
	release := make(chan struct{})
	j.start("a", func() { <-release })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if j.wait(ctx) {
		t.Fatal("wait returned true while a job runs")
	}
	close(release)
	if !j.wait(t.Context()) {
		t.Fatal("wait returned false after the job ended")
	}
}
