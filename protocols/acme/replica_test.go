package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/teststore"
)

// TestTwoReplicasOnePostgres: two ACME servers over one PostgreSQL store,
// and a client whose every connection goes to the other one, complete an
// order (nonces, accounts, orders and validations are all in the store).
func TestTwoReplicasOnePostgres(t *testing.T) {
	st := teststore.Postgres(t)
	dns := startDNS(t)
	h01 := startHTTP01(t)
	val := config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h01.port, AllowPrivateTargets: true}
	f := newFixture(t, st, val, Settings{})
	second := New(Config{Store: st.(Store), CA: f.core, Profiles: f.core.Profiles, Validation: val, Log: f.srv.log, Now: f.clock.Now})
	r := chi.NewRouter()
	second.Routes(r)
	ts2 := httptest.NewUnstartedServer(r)
	ts2.TLS = f.ts.TLS
	ts2.StartTLS()
	t.Cleanup(ts2.Close)

	// Both servers present the same httptest certificate; the client keeps
	// the first one's URLs (Host) and dials the two in turn.
	addrs := []string{f.ts.Listener.Addr().String(), ts2.Listener.Addr().String()}
	var n, hits2 atomic.Int32
	pool := x509.NewCertPool()
	pool.AddCert(f.ts.Certificate())
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			i := n.Add(1) % 2
			if i == 1 {
				hits2.Add(1)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addrs[i])
		},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &xacme.Client{Key: key, DirectoryURL: f.dir, HTTPClient: &http.Client{Transport: tr}}
	o := readyOrder(ctx, t, c, h01, "replica.test")
	ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"replica.test"}}, ck)
	if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	if hits2.Load() < 3 {
		t.Errorf("only %d requests went to the second replica", hits2.Load())
	}
}
