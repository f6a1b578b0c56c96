package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/protocols/acme"
	"github.com/certgw/gateway/test/stepca"
)

// acmeClients is the number of concurrent ACME clients.
const acmeClients = 8

// http01Server answers the http-01 challenges of both servers on
// 127.0.0.1:80, where both validate the identifier 127.0.0.1.
type http01Server struct {
	mu   sync.RWMutex
	keys map[string]string // path -> key authorization
}

func (h *http01Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.RLock()
	body, ok := h.keys[r.URL.Path]
	h.mu.RUnlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(body))
}

func (h *http01Server) set(path, body string) {
	h.mu.Lock()
	h.keys[path] = body
	h.mu.Unlock()
}

func (h *http01Server) del(path string) {
	h.mu.Lock()
	delete(h.keys, path)
	h.mu.Unlock()
}

// acmeTarget is one ACME server under test with its clients, each holding
// one registered account.
type acmeTarget struct {
	name    string
	clients []*xacme.Client
	csrs    chan []byte // CSRs with fresh P-256 keys, prepared in advance
	lats    latencies
}

// acmeBench measures complete ACME orders (new-order, http-01 validation,
// finalize, download) per second through the gateway's ACME server against
// step-ca, with the same x/crypto/acme client code, alternating.
func acmeBench(module string, dur time.Duration, rounds int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:80")
	if err != nil {
		log.Fatalf("ACME benchmark: both servers validate http-01 on port 80 of 127.0.0.1, which is not available: %v", err)
	}
	h01 := &http01Server{keys: map[string]string{}}
	hsrv := &http.Server{Handler: h01}
	go hsrv.Serve(ln)
	defer hsrv.Close()

	dir, err := os.MkdirTemp("", "gateway-bench-acme")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	gwURL, stopGW := startGatewayACME(module, dir)
	defer stopGW()
	stepURL, stopStep := startStepCA(dir)
	defer stopStep()

	gw := newACMETarget("gateway", gwURL)
	st := newACMETarget("step-ca", stepURL)
	stop := make(chan struct{})
	defer close(stop)
	for _, t := range []*acmeTarget{gw, st} {
		go t.prepareCSRs(stop)
		t.register()
	}

	// Warm up, then alternate.
	gw.round(h01, dur/4)
	st.round(h01, dur/4)
	gw.lats.reset()
	st.lats.reset()
	var gws, sts []float64
	for range rounds {
		gws = append(gws, gw.round(h01, dur))
		sts = append(sts, st.round(h01, dur))
	}
	g, s := median(gws), median(sts)
	gp50, gp99 := gw.lats.p50p99()
	sp50, sp99 := st.lats.p50p99()
	log.Printf("ACME: gateway %.1f orders/s (p50 %s, p99 %s), step-ca %.1f orders/s (p50 %s, p99 %s), ratio %.2f",
		g, gp50, gp99, s, sp50, sp99, g/s)

	var b strings.Builder
	fmt.Fprintf(&b, "## ACME: full order against step-ca\n\n")
	fmt.Fprintf(&b, "Complete ACME orders per second with %d concurrent `golang.org/x/crypto/acme` clients, each\n", acmeClients)
	fmt.Fprintf(&b, "with one account registered once, then in a loop: new-order for the IP identifier 127.0.0.1\n")
	fmt.Fprintf(&b, "(RFC 8738), http-01 (answered by one in-process server on 127.0.0.1:80 for both CAs), wait for\n")
	fmt.Fprintf(&b, "the authorization and the order, finalize with a CSR (fresh P-256 key prepared in advance) and\n")
	fmt.Fprintf(&b, "download the certificate with its chain. The same client code runs against the gateway (in\n")
	fmt.Fprintf(&b, "process, HTTPS, SQLite store, issuing CA in SoftHSM, default ACME settings) and step-ca\n")
	fmt.Fprintf(&b, "%s (built from the module proxy in the same run, ACME provisioner, badger store, a separate process on the\n", stepca.Version)
	fmt.Fprintf(&b, "same machine), alternating, %d rounds of %s; the medians are compared. A round lets the\n", rounds, dur)
	fmt.Fprintf(&b, "orders in flight at its end finish and counts them. Latency is one whole order, new-order to\n")
	fmt.Fprintf(&b, "certificate; the client waits as long as the server's `Retry-After` says (x/crypto/acme\n")
	fmt.Fprintf(&b, "waits 1 s when there is none); \"orders ≥ 1 s\" is the share of orders that waited for such a\n")
	fmt.Fprintf(&b, "poll, typically an authorization still pending when first asked. Everything shares the machine's %d CPUs.\n\n", runtime.NumCPU())
	fmt.Fprintf(&b, "| server | key backend | orders/s | p50 | p99 | orders ≥ 1 s |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| gateway | SoftHSM (PKCS#11) | %.1f | %s | %s | %s |\n", g, gp50.Round(100*time.Microsecond), gp99.Round(100*time.Microsecond), slowShare(gw.lats.d))
	fmt.Fprintf(&b, "| step-ca %s | software keys (PEM files) | %.1f | %s | %s | %s |\n\n", stepca.Version, s, sp50.Round(100*time.Microsecond), sp99.Round(100*time.Microsecond), slowShare(st.lats.d))
	fmt.Fprintf(&b, "| | result | target | |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| orders/s, gateway / step-ca | **%.2f** | ≥ 2 | %s |\n", g/s, verdict(g/s >= 2))
	fmt.Fprintf(&b, "| p99, gateway vs step-ca | %s vs %s | lower | %s |\n\n", gp99.Round(100*time.Microsecond), sp99.Round(100*time.Microsecond), verdict(gp99 < sp99))
	return b.String()
}

func newACMETarget(name, directory string) *acmeTarget {
	t := &acmeTarget{name: name, csrs: make(chan []byte, 256)}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: acmeClients, ForceAttemptHTTP2: true}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	for range acmeClients {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		t.clients = append(t.clients, &xacme.Client{Key: k, DirectoryURL: directory, HTTPClient: hc, UserAgent: "gateway-bench"})
	}
	return t
}

func (t *acmeTarget) prepareCSRs(stop chan struct{}) {
	for {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, k)
		if err != nil {
			log.Fatal(err)
		}
		select {
		case t.csrs <- der:
		case <-stop:
			return
		}
	}
}

func (t *acmeTarget) register() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range t.clients {
		if _, err := c.Register(ctx, &xacme.Account{Contact: []string{"mailto:bench@example.org"}}, xacme.AcceptTOS); err != nil {
			log.Fatalf("ACME benchmark, %s: register: %v", t.name, err)
		}
	}
	// Wait until the CSR buffer is full, so that key generation does not
	// compete with the first round.
	for len(t.csrs) < cap(t.csrs) {
		time.Sleep(10 * time.Millisecond)
	}
}

// round runs all clients for dur (letting the orders in flight finish)
// and returns completed orders per second.
func (t *acmeTarget) round(h01 *http01Server, dur time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for _, c := range t.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := acmeOrder(c, h01, <-t.csrs); err != nil {
					log.Fatalf("ACME benchmark, %s: %v", t.name, err)
				}
				t.lats.add(time.Since(t0))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// acmeOrder is one complete order for 127.0.0.1 over http-01.
func acmeOrder(c *xacme.Client, h01 *http01Server, csr []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "ip", Value: "127.0.0.1"}})
	if err != nil {
		return fmt.Errorf("new-order: %w", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return fmt.Errorf("authorization: %w", err)
		}
		if z.Status == xacme.StatusValid {
			continue
		}
		var ch *xacme.Challenge
		for _, x := range z.Challenges {
			if x.Type == "http-01" {
				ch = x
			}
		}
		if ch == nil {
			return errors.New("no http-01 challenge offered")
		}
		body, err := c.HTTP01ChallengeResponse(ch.Token)
		if err != nil {
			return err
		}
		path := c.HTTP01ChallengePath(ch.Token)
		h01.set(path, body)
		defer h01.del(path)
		if _, err := c.Accept(ctx, ch); err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			return fmt.Errorf("wait authorization: %w", err)
		}
	}
	if _, err := c.WaitOrder(ctx, o.URI); err != nil {
		return fmt.Errorf("wait order: %w", err)
	}
	der, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	if len(der) < 2 {
		return fmt.Errorf("finalize: %d certificates, want the leaf and its chain", len(der))
	}
	return nil
}

// startGatewayACME builds the gateway's ACME server in process over a real
// issuance core (SoftHSM, SQLite), as cmd/gateway wires it, behind TLS.
func startGatewayACME(module, dir string) (directory string, stop func()) {
	g := newBenchGateway(module, benchGatewayConfig{Dir: dir, Store: "sqlite", MaxSessions: 9, PrivatePKISources: true,
		RootLabel: "acme-root", IssuingLabel: "acme-issuing", Subject: "Bench ACME"})
	st := g.Store
	no := false
	core, prof := g.Core(config.Profile{Name: "bench", CA: "issuing", Methods: []string{"acme"},
		Names:    config.Names{DNS: []string{"*"}, IPRanges: []string{"127.0.0.0/8"}, CommonName: "allow", CommonNameInSAN: &no, Max: 10},
		KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(90 * 24 * time.Hour)}, st)
	profiles := map[string]*ca.Profile{"bench": prof}
	r := chi.NewRouter()
	acme.New(acme.Config{
		Store: st, CA: core, Profiles: profiles,
		Validation: config.ACMEValidation{HTTP01Port: 80, AllowPrivateTargets: true},
		Log:        g.Log, Now: time.Now,
	}).Routes(r)
	srv := httptest.NewUnstartedServer(r)
	srv.StartTLS()
	return srv.URL + "/acme/bench/directory", func() {
		srv.Close()
		g.Close()
	}
}

// startStepCA builds step-ca and starts it with http-01 (test/stepca).
func startStepCA(dir string) (directory string, stop func()) {
	sdir := filepath.Join(dir, "step-ca")
	bin, err := stepca.Build(sdir)
	if err != nil {
		log.Fatal(err)
	}
	c, err := stepca.Start(stepca.Options{Bin: bin, Dir: sdir, Challenges: []string{"http-01"}})
	if err != nil {
		log.Fatal(err)
	}
	return c.Directory, c.Stop
}

// slowShare is the share of orders that took a second or more: those that
// waited for at least one client poll interval.
func slowShare(lats []time.Duration) string {
	if len(lats) == 0 {
		return "–"
	}
	n := 0
	for _, d := range lats {
		if d >= time.Second {
			n++
		}
	}
	return fmt.Sprintf("%.0f %% (%d of %d)", 100*float64(n)/float64(len(lats)), n, len(lats))
}
