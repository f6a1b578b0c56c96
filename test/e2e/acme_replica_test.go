package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/test/teststore"
)

// alternate sends every request to the next of two replicas in turn, as a
// round-robin load balancer would: the Host header (and so every URL the
// server builds and every JWS url it checks) stays the one address the
// client knows.
type alternate struct {
	base  http.RoundTripper
	addrs [2]string // host:port, under a name the certificates carry
	n     atomic.Int32
	hits  [2]atomic.Int32
}

func (a *alternate) RoundTrip(r *http.Request) (*http.Response, error) {
	i := (a.n.Add(1) - 1) % 2
	a.hits[i].Add(1)
	r = r.Clone(r.Context())
	r.Host = r.URL.Host
	r.URL.Host = a.addrs[i]
	return a.base.RoundTrip(r)
}

// TestACMETwoReplicasOnePostgres: two gateway processes over one
// PostgreSQL database and one var/ (one SoftHSM token, one CA), and an
// x/crypto/acme client whose requests alternate between them, complete an
// order with http-01: nonces, accounts, orders and validations live in the
// store, so it does not matter which replica answers.
func TestACMETwoReplicasOnePostgres(t *testing.T) {
	e := newACMEEnv(t)
	gdir := t.TempDir()
	dsn := teststore.NewDatabase(t)
	pg := []string{"GATEWAY_STORAGE_DRIVER=postgres", "GATEWAY_STORAGE_DSN=" + dsn}
	g1 := e.start(t, gdir, pg...)
	g2 := e.start(t, gdir, pg...) // StartQuickstart picks other ports
	dir1 := e.directory(t, g1, "default")
	e.directory(t, g2, "default")

	base := g1.Client(t).Transport.(*http.Transport)
	base.DisableKeepAlives = true
	lb := &alternate{base: base, addrs: [2]string{
		net.JoinHostPort("localhost", portOf(t, g1.HTTPS)),
		net.JoinHostPort("localhost", portOf(t, g2.HTTPS)),
	}}
	c := &xacme.Client{Key: newKey(t), DirectoryURL: dir1, HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: lb}}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// http-01 responses, on the port both gateways validate on.
	var mu sync.Mutex
	h01 := map[string]string{}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", e.http01))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, ok := h01[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	if _, err := c.Register(ctx, &xacme.Account{Contact: []string{"mailto:ops@example.org"}}, xacme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	const name = "replica.test"
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: name}})
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		var ch *xacme.Challenge
		for _, x := range z.Challenges {
			if x.Type == "http-01" {
				ch = x
			}
		}
		if ch == nil {
			t.Fatalf("authorization %s offers no http-01", u)
		}
		body, err := c.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		h01[c.HTTP01ChallengePath(ch.Token)] = body
		mu.Unlock()
		if _, err := c.Accept(ctx, ch); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("WaitAuthorization: %v", err)
		}
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		t.Fatalf("WaitOrder: %v", err)
	}
	ck := newKey(t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, ck)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("CreateOrderCert: %v", err)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
		t.Errorf("certificate names %v", leaf.DNSNames)
	}
	// The chain verifies against the one root both replicas share.
	roots := x509.NewCertPool()
	roots.AddCert(readPEMCert(t, g1.Dir+"/var/root.pem"))
	inter := x509.NewCertPool()
	for _, b := range der[1:] {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Errorf("certificate does not verify: %v", err)
	}
	// Both replicas kept it in PostgreSQL, not in a file of the shared var/.
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rec, err := st.GetCertificate(ctx, ca.SerialHex(leaf.SerialNumber)); err != nil || rec.Profile != "default" {
		t.Errorf("the certificate in PostgreSQL: %+v %v", rec, err)
	}
	h1, h2 := lb.hits[0].Load(), lb.hits[1].Load()
	t.Logf("requests: %d to the first gateway, %d to the second", h1, h2)
	if h1 < 4 || h2 < 4 {
		t.Errorf("requests did not alternate: %d to the first gateway, %d to the second", h1, h2)
	}
}
