package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/protocols/est"
	"github.com/certgw/gateway/storage"
)

// estResult is one store's EST simpleenroll measurement.
type estResult struct {
	store    string
	raw, est float64 // raw HSM signatures/s, certificates/s through EST
	p50, p99 time.Duration
	rawCPU   time.Duration // CPU time of one raw signature
	estCPU   time.Duration // CPU time of one enrollment
	estUse   float64       // share of the CPUs busy while enrolling
}

// estBench measures certificates per second through EST simpleenroll
// over TLS (HTTP Basic, base64 PKCS#10 of ECDSA P-256 keys prepared in
// advance, `callers` concurrent clients with keep-alive) against the raw
// sign rate of the same issuing key in the same token, interleaved, as
// issuanceBench does for the REST API.
func estBench(module, storeKind string, callers int, dur time.Duration, rounds int) estResult {
	ctx := context.Background()
	issuingLabel := "est-issuing-" + storeKind
	g := newBenchGateway(module, benchGatewayConfig{TempPrefix: "gateway-bench-est", Store: storeKind, MaxSessions: 9,
		RootLabel: "est-root-" + storeKind, IssuingLabel: issuingLabel, Subject: "Bench"})
	defer g.Close()
	estStore, ok := g.Store.(interface {
		est.Store
		storage.ESTStore
	})
	if !ok {
		log.Fatalf("the %s store keeps no EST credentials", storeKind)
	}
	discard := g.Log
	core, _ := g.Core(benchProfile("est"), g.Store)

	const user, password = "bench-device", "bench-password-0123456789"
	hash, err := est.HashPassword(password)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	if err := estStore.InsertESTCredential(ctx, storage.ESTCredential{Profile: "bench", Username: user, Hash: hash, CreatedAt: now, UpdatedAt: now}, storage.AuditEvent{At: time.Now(), Actor: "gateway bench", Action: "est-user-add"}); err != nil {
		log.Fatal(err)
	}
	settings := est.Settings{DefaultProfile: "bench", Profiles: map[string]est.ProfileSettings{"bench": {Auth: []string{est.AuthBasic}}}}
	server, err := est.New(est.Config{Core: core, Store: estStore, Settings: settings, Log: discard, Now: time.Now})
	if err != nil {
		log.Fatal(err)
	}
	r := chi.NewRouter()
	server.Routes(r)
	srv := httptest.NewUnstartedServer(r)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert} // as the gateway's listener
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = callers

	// Requests are prepared up front: client key generation is not the
	// gateway's work. Bodies are base64 in lines of 64, as devices send.
	bodies := make([][]byte, 256)
	for i := range bodies {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		name := fmt.Sprintf("device-%d.bench.example", i)
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, k)
		bodies[i] = base64Lines(der)
	}
	endpoint := srv.URL + "/.well-known/est/simpleenroll"
	var next atomic.Int64
	var lats latencies
	enrollOnce := func() error {
		body := bodies[next.Add(1)%int64(len(bodies))]
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		req.SetBasicAuth(user, password)
		req.Header.Set("Content-Type", "application/pkcs10")
		return timedRequest(client, req, http.StatusOK, "simpleenroll", &lats)
	}

	rawSign, closeRaw := rawSigner(module, issuingLabel, 9, tbsDigest())
	defer closeRaw()

	rate(rawSign, callers, dur/4)
	rate(enrollOnce, callers, dur/4)
	lats.reset()
	var raws, ests []float64
	var rawCPU, estCPU cpuMeter
	for range rounds {
		raws = append(raws, rawCPU.rate(rawSign, callers, dur))
		ests = append(ests, estCPU.rate(enrollOnce, callers, dur))
	}
	res := estResult{store: storeKind, raw: median(raws), est: median(ests), rawCPU: rawCPU.perCall(rawCPU.cpu), estCPU: estCPU.perCall(estCPU.cpu), estUse: estCPU.use()}
	res.p50, res.p99 = lats.p50p99()
	profileSubject("est-"+storeKind, enrollOnce, callers, dur)
	return res
}

// base64Lines is the body a device sends: base64 in lines of 64.
func base64Lines(der []byte) []byte {
	var b bytes.Buffer
	enc := []byte(base64.StdEncoding.EncodeToString(der))
	for len(enc) > 64 {
		b.Write(enc[:64])
		b.WriteByte('\n')
		enc = enc[64:]
	}
	b.Write(enc)
	b.WriteByte('\n')
	return b.Bytes()
}

// estMarkdown is the BENCHMARKS.md section of the EST results.
func estMarkdown(results []estResult) string {
	if len(results) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## EST simpleenroll\n\n")
	fmt.Fprintf(&b, "Certificates per second through `POST /.well-known/est/simpleenroll` (RFC 7030) over HTTPS\n")
	fmt.Fprintf(&b, "with client certificates requested as on the gateway's listener: HTTP Basic, base64 PKCS#10 of\n")
	fmt.Fprintf(&b, "ECDSA P-256 keys prepared in advance, certs-only PKCS#7 back, 8 concurrent clients with\n")
	fmt.Fprintf(&b, "keep-alive, ECDSA P-256 issuing CA in SoftHSM; against the raw sign rate of the same key in the\n")
	fmt.Fprintf(&b, "same token (crypto11, 8 callers), alternating. The password is checked with argon2id once;\n")
	fmt.Fprintf(&b, "later requests with the same credential hit the server's memo of verified hashes, and the\n")
	fmt.Fprintf(&b, "stored hash is read once per 10 seconds. Client, server and token share the machine's %d CPUs.\n\n", runtime.NumCPU())
	fmt.Fprintf(&b, "| store | raw sign/s | certificates/s | ratio | target | | p50 | p99 | CPU per certificate | CPU per raw signature | CPUs busy |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | **%.3f** | ≥ 0.15 | %s | %s | %s | %s | %s | %.0f %% |\n", r.store, r.raw, r.est, r.est/r.raw,
			verdict(r.est/r.raw >= 0.15), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), us(r.estCPU), us(r.rawCPU), 100*r.estUse)
	}
	fmt.Fprintf(&b, "\nThe CPU columns are this process's CPU time (server, clients and SoftHSM) per call, as in the\n")
	fmt.Fprintf(&b, "issuance benchmark above; an enrollment costs what an API issuance costs plus the PKCS#7 and\n")
	fmt.Fprintf(&b, "the credential lookup, so the same bound holds.\n")
	return b.String()
}
