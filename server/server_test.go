package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}}, pool
}

func start(t *testing.T, cfg Config) (*Server, context.CancelFunc, chan error) {
	t.Helper()
	cfg.HTTPSAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	s := New(cfg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return s, cancel, done
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	tlsCfg, roots := selfSigned(t)
	var storeErr error
	s, cancel, done := start(t, Config{TLS: tlsCfg, Probes: []Probe{
		{Name: "signer", Check: func(context.Context) error { return nil }},
		{Name: "store", Check: func(context.Context) error { return storeErr }},
	}})
	defer func() { cancel(); <-done }()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	hs, hp := s.Addrs()
	for _, base := range []string{"https://" + hs.String(), "http://" + hp.String()} {
		if code, _ := get(t, c, base+"/healthz"); code != 200 {
			t.Fatalf("%s/healthz: %d", base, code)
		}
		storeErr = nil
		if code, body := get(t, c, base+"/readyz"); code != 200 {
			t.Fatalf("%s/readyz: %d %s", base, code, body)
		}
		storeErr = errors.New("database is gone: password=secret")
		code, body := get(t, c, base+"/readyz")
		if code != 503 || body != "store: not ready\n" {
			t.Fatalf("%s/readyz with the store down: %d %q", base, code, body)
		}
	}
}

// A request in flight when shutdown starts still gets its answer.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	tlsCfg, roots := selfSigned(t)
	entered := make(chan struct{})
	s, cancel, done := start(t, Config{TLS: tlsCfg, ShutdownTimeout: 10 * time.Second, HTTPS: func(r chi.Router) {
		r.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			time.Sleep(500 * time.Millisecond)
			w.Write([]byte("finished"))
		})
	}})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	hs, _ := s.Addrs()
	type result struct {
		code int
		body string
	}
	res := make(chan result, 1)
	go func() {
		code, body := get(t, c, "https://"+hs.String()+"/slow")
		res <- result{code, body}
	}()
	<-entered
	cancel()
	r := <-res
	if r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request got %d %q", r.code, r.body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", hs.String(), time.Second); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
}

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	debug.SetGCPercent(100)
	if got := TuneGC(func(string) string { return "" }); got != GCPercent || debug.SetGCPercent(100) != GCPercent {
		t.Errorf("without GOGC: target %d, want %d", got, GCPercent)
	}
	debug.SetGCPercent(150) // as the runtime would have for GOGC=150
	if got := TuneGC(func(k string) string { return map[string]string{"GOGC": "150"}[k] }); got != 150 || debug.SetGCPercent(100) != 150 {
		t.Errorf("with GOGC=150: target %d, want 150 left alone", got)
	}
}

// Every request is observed with its route pattern; /metrics is served on
// its own listener only.
func TestObserveAndMetricsListener(t *testing.T) {
	type seen struct {
		listener, route string
		status          int
	}
	var mu sync.Mutex
	var got []seen
	tlsCfg, _ := selfSigned(t)
	s, cancel, done := start(t, Config{TLS: tlsCfg, MetricsAddr: "127.0.0.1:0",
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("gateway_up 1\n")) }),
		Observe: func(listener, route string, status int, _ time.Duration) {
			mu.Lock()
			got = append(got, seen{listener, route, status})
			mu.Unlock()
		},
		HTTP: func(r chi.Router) { r.Get("/crl/{ca}.crl", func(http.ResponseWriter, *http.Request) {}) },
	})
	defer func() { cancel(); <-done }()
	_, hp := s.Addrs()
	c := &http.Client{}
	get(t, c, "http://"+hp.String()+"/crl/issuing.crl")
	get(t, c, "http://"+hp.String()+"/nothing/here")
	if code, _ := get(t, c, "http://"+hp.String()+"/metrics"); code != 404 {
		t.Errorf("/metrics on the public listener: %d", code)
	}
	if code, body := get(t, c, "http://"+s.lnM.Addr().String()+"/metrics"); code != 200 || body != "gateway_up 1\n" {
		t.Errorf("/metrics: %d %q", code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []seen{{"http", "/crl/{ca}.crl", 200}, {"http", "", 404}, {"http", "", 404}}
	if len(got) != len(want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("observation %d: %v, want %v", i, got[i], want[i])
		}
	}
}
