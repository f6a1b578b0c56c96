package main

// The revocation service's benchmarks.
//
// OCSP: requests per second for a cached response, GET (RFC 6960 A.1), 64
// connections, against a trivial net/http handler that answers a fixed body
// of the same size with the same Content-Type. Both servers are net/http on
// 127.0.0.1 in this process; ours is the ocsp.Responder on a chi router as
// the gateway mounts it (without the gateway's request-logging middleware,
// which the trivial handler does not have either). The load generator is
// wrk (Debian's wrk package) for both, alternating.
//
// CRL: building and signing a CRL of 1,000,000 entries with crl.Builder
// (streaming encoder, lint of a sampled draft, signature) against
// x509.CreateRevocationList on the same entries, the same issuer and the
// same kind of key. Each build runs in a child process of its own (this
// binary, re-executed), which reports its time and its peak resident set
// size (VmHWM), so the memory figure includes everything the process held:
// garbage not yet collected, the Go runtime, zlint's registry. The
// entries come from the same deterministic generator for both sides; for
// crypto/x509 they must first be materialized as a []x509.RevocationListEntry,
// which is timed separately and not counted against it.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	xocsp "golang.org/x/crypto/ocsp"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/crl"
	"github.com/certgw/gateway/ocsp"
	"github.com/certgw/gateway/server"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// crlChildArg makes this binary a CRL-building child (see RevocationChild).
const crlChildArg = "-revocation-crl-child"

// crlBenchEntries is the size of the benchmarked CRL.
const crlBenchEntries = 1_000_000

// RevocationChild runs one CRL build and exits if the process was started
// as a child for it; main calls it first. It reports whether it was.
func RevocationChild() bool {
	if len(os.Args) != 6 || os.Args[1] != crlChildArg {
		return false
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		log.Fatal(err)
	}
	unix, err := strconv.ParseInt(os.Args[5], 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	server.TuneGC(os.Getenv) // as `gateway serve` runs, for ours and the reference alike
	if err := json.NewEncoder(os.Stdout).Encode(crlChild(os.Args[2], n, os.Args[4], time.Unix(unix, 0))); err != nil {
		log.Fatal(err)
	}
	return true
}

// RevocationBench runs both benchmarks and returns their BENCHMARKS.md
// section.
func RevocationBench(module string, dur time.Duration, rounds int) string {
	var b strings.Builder
	o := ocspBench(module, dur, rounds)
	log.Printf("ocsp: trivial %.0f/s responder %.0f/s ratio %.2f (%d-byte response)", o.trivial, o.ours, o.ours/o.trivial, o.size)
	fmt.Fprintf(&b, "\n## OCSP responder, cached responses\n\n")
	fmt.Fprintf(&b, "GET requests per second (RFC 6960 A.1) for one cached response of %d bytes, 64 connections,\n", o.size)
	fmt.Fprintf(&b, "load from `wrk -t2 -c64` on the same machine, against a trivial net/http handler answering a\n")
	fmt.Fprintf(&b, "fixed body of the same size; alternating, %d rounds of %s, medians. Ours parses the request,\n", rounds, max(dur, 2*time.Second).Round(time.Second))
	fmt.Fprintf(&b, "checks the issuer hashes, looks the response up and writes the caching headers (chi router,\n")
	fmt.Fprintf(&b, "no request-logging middleware on either side).\n\n")
	fmt.Fprintf(&b, "| trivial handler req/s | OCSP responder req/s | ratio | target | |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %.0f | %.0f | **%.2f** | ≥ 0.80 | %s |\n", o.trivial, o.ours, o.ours/o.trivial, verdict(o.ours/o.trivial >= 0.8))

	c := crlBench(min(rounds, 3))
	log.Printf("crl: ours %v %.0f MB RSS, x509 %v (+%v entries) %.0f MB RSS, DER %.1f MB", c.ours.dur(), c.ours.rssMB(), c.std.dur(), time.Duration(c.std.GenNS), c.std.rssMB(), float64(c.ours.DER)/1e6)
	fmt.Fprintf(&b, "\n## CRL of %d entries\n\n", crlBenchEntries)
	fmt.Fprintf(&b, "Build and sign (ECDSA P-256) a CRL of %d revoked certificates (128-bit serials, three in\n", crlBenchEntries)
	fmt.Fprintf(&b, "four with a reason code): `crl.Builder` (streaming DER encoder, lint of a sampled draft,\n")
	fmt.Fprintf(&b, "signature and its check) against `x509.CreateRevocationList`, each in a child process of its own,\n")
	fmt.Fprintf(&b, "alternating, %d rounds, medians. Peak memory is the child's maximum RSS (the whole process:\n", min(rounds, 3))
	fmt.Fprintf(&b, "Go runtime, zlint's registry, garbage not yet collected); an idle child's is shown for scale.\n")
	fmt.Fprintf(&b, "Both sides get the entries from the same generator; crypto/x509 needs them as a slice first, which\n")
	fmt.Fprintf(&b, "takes %s and is not counted in its time.\n\n", time.Duration(c.std.GenNS).Round(time.Millisecond))
	fmt.Fprintf(&b, "| | time | peak RSS | RSS / DER size |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| idle child | | %.0f MB | |\n", c.idle.rssMB())
	fmt.Fprintf(&b, "| x509.CreateRevocationList | %s | %.0f MB | %.1f |\n", c.std.dur().Round(time.Millisecond), c.std.rssMB(), c.std.rssRatio())
	fmt.Fprintf(&b, "| crl.Builder | %s | %.0f MB | %.1f |\n\n", c.ours.dur().Round(time.Millisecond), c.ours.rssMB(), c.ours.rssRatio())
	timeRatio := float64(c.ours.NS) / float64(c.std.NS)
	fmt.Fprintf(&b, "| measure | result | target | |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| time, crl.Builder / x509 | **%.2f** | ≤ 1.00 | %s |\n", timeRatio, verdict(timeRatio <= 1))
	fmt.Fprintf(&b, "| peak RSS of crl.Builder / DER size (%.1f MB) | **%.2f** | ≤ 3.00 | %s |\n", float64(c.ours.DER)/1e6, c.ours.rssRatio(), verdict(c.ours.rssRatio() <= 3))
	return b.String()
}

type ocspResult struct {
	trivial, ours float64
	size          int
}

// ocspBench serves a cached response and a trivial body, and loads both.
func ocspBench(module string, dur time.Duration, rounds int) ocspResult {
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk is not installed: apt-get install wrk")
	}
	ctx := context.Background()
	g := newBenchGateway(module, benchGatewayConfig{TempPrefix: "gateway-bench-ocsp", Store: "sqlite", MaxSessions: 4,
		RootLabel: "ocsp-bench-root", IssuingLabel: "ocsp-bench-issuing", Subject: "Bench"})
	defer g.Close()
	st, pool, cas := g.Store, g.Pool, g.CAs
	resp, err := ocsp.New(ocsp.Config{}, ocsp.Deps{Source: ocsp.StoreSource{Store: st}, Store: st, Signer: pool, Linter: g.Linter,
		Presign: g.Pre, Log: g.Log, Now: time.Now}, cas)
	if err != nil {
		log.Fatal(err)
	}
	if err := resp.Start(ctx); err != nil {
		log.Fatal(err)
	}

	// One issued certificate, and its response in the cache.
	serial, _ := ca.NewSerial(rand.Reader)
	now := time.Now()
	rec := storage.Certificate{Serial: ca.SerialHex(serial), CA: "issuing", Profile: "bench", Method: "api", Requester: "bench",
		NotBefore: now, NotAfter: now.Add(24 * time.Hour), CreatedAt: now}
	if err := st.InsertPendingCertificate(ctx, rec); err != nil {
		log.Fatal(err)
	}
	if err := st.ActivateCertificate(ctx, rec.Serial, []byte{0x30, 0}, rec.NotBefore, rec.NotAfter); err != nil {
		log.Fatal(err)
	}
	reqDER, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: serial}, cas["issuing"].Cert(), nil)
	if err != nil {
		log.Fatal(err)
	}
	router := chi.NewRouter()
	resp.Routes(router)
	oursURL := serveBench(router) + "/ocsp/issuing/" + url.PathEscape(base64.StdEncoding.EncodeToString(reqDER))
	body := fetchBench(oursURL)
	if r, err := xocsp.ParseResponseForCert(body, &x509.Certificate{SerialNumber: serial}, cas["issuing"].Cert()); err != nil || r.Status != xocsp.Good {
		log.Fatalf("OCSP response for the benchmark: %v", err)
	}
	fixed := bytes.Repeat([]byte{0x30}, len(body))
	trivialURL := serveBench(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(fixed)
	})) + "/ocsp/issuing/" + url.PathEscape(base64.StdEncoding.EncodeToString(reqDER))

	wrkRate(trivialURL, dur)
	wrkRate(oursURL, dur)
	var trivial, ours []float64
	for range rounds {
		trivial = append(trivial, wrkRate(trivialURL, dur))
		ours = append(ours, wrkRate(oursURL, dur))
	}
	return ocspResult{trivial: median(trivial), ours: median(ours), size: len(body)}
}

// serveBench serves h on a free port of 127.0.0.1 for the rest of the run.
func serveBench(h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
	return "http://" + l.Addr().String()
}

func fetchBench(u string) []byte {
	resp, err := http.Get(u)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.Bytes()
}

// wrkRate loads u with wrk, 2 threads and 64 connections, for dur, and
// returns the requests per second it reports. Any error response fails the
// benchmark.
func wrkRate(u string, dur time.Duration) float64 {
	// At least 2 seconds: shorter runs of wrk are mostly noise.
	secs := max(2, int(dur.Round(time.Second)/time.Second))
	out, err := exec.Command("wrk", "-t2", "-c64", "-d"+strconv.Itoa(secs)+"s", "--timeout", "5s", u).CombinedOutput()
	if err != nil {
		log.Fatalf("wrk: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) || bytes.Contains(out, []byte("Socket errors")) {
		log.Fatalf("wrk saw errors:\n%s", out)
	}
	m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		log.Fatalf("wrk output without a rate:\n%s", out)
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	return r
}

// crlResult is what a child reports.
type crlResult struct {
	NS    int64 // build and sign
	GenNS int64 // materializing the entries (crypto/x509 only)
	DER   int   // size of the CRL
	RSS   int64 // peak RSS in KiB
}

func (r crlResult) dur() time.Duration { return time.Duration(r.NS) }
func (r crlResult) rssMB() float64     { return float64(r.RSS) * 1024 / 1e6 }
func (r crlResult) rssRatio() float64  { return float64(r.RSS) * 1024 / float64(r.DER) }

type crlBenchResult struct{ ours, std, idle crlResult }

// crlBench runs the children, alternating, and returns the medians.
func crlBench(rounds int) crlBenchResult {
	dir, err := os.MkdirTemp("", "gateway-bench-crl")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var ours, std []crlResult
	now := time.Now()
	for i := range rounds {
		std = append(std, runCRLChild("x509", dir, now))
		ours = append(ours, runCRLChild("ours", dir, now))
		if i == 0 {
			checkCRLs(dir)
		}
	}
	return crlBenchResult{ours: medianCRL(ours), std: medianCRL(std), idle: runCRLChild("idle", dir, now)}
}

func medianCRL(rs []crlResult) crlResult {
	var ns, rss []float64
	for _, r := range rs {
		ns = append(ns, float64(r.NS))
		rss = append(rss, float64(r.RSS))
	}
	out := rs[0]
	out.NS, out.RSS = int64(median(ns)), int64(median(rss))
	return out
}

func runCRLChild(kind, dir string, now time.Time) crlResult {
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(self, crlChildArg, kind, strconv.Itoa(crlBenchEntries), dir, strconv.FormatInt(now.Unix(), 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("CRL child %s: %v", kind, err)
	}
	var r crlResult
	if err := json.Unmarshal(out, &r); err != nil {
		log.Fatalf("CRL child %s: %v: %q", kind, err, out)
	}
	return r
}

// checkCRLs makes sure both children built the same list: same entries,
// signatures that verify.
func checkCRLs(dir string) {
	var lists [2]*x509.RevocationList
	for i, kind := range []string{"x509", "ours"} {
		der, err := os.ReadFile(filepath.Join(dir, kind+".crl"))
		if err != nil {
			log.Fatal(err)
		}
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			log.Fatalf("%s CRL: %v", kind, err)
		}
		issuer, _ := os.ReadFile(filepath.Join(dir, kind+".issuer"))
		c, _ := x509.ParseCertificate(issuer)
		if err := l.CheckSignatureFrom(c); err != nil {
			log.Fatalf("%s CRL signature: %v", kind, err)
		}
		if len(l.RevokedCertificateEntries) != crlBenchEntries {
			log.Fatalf("%s CRL has %d entries", kind, len(l.RevokedCertificateEntries))
		}
		lists[i] = l
	}
	for i := range lists[0].RevokedCertificateEntries {
		a, b := lists[0].RevokedCertificateEntries[i], lists[1].RevokedCertificateEntries[i]
		if a.SerialNumber.Cmp(b.SerialNumber) != 0 || !a.RevocationTime.Equal(b.RevocationTime) || a.ReasonCode != b.ReasonCode {
			log.Fatalf("entry %d differs", i)
		}
	}
	if len(lists[0].RawTBSRevocationList) != len(lists[1].RawTBSRevocationList) {
		log.Fatalf("TBS sizes differ: %d and %d", len(lists[0].RawTBSRevocationList), len(lists[1].RawTBSRevocationList))
	}
}

// crlEntries generates the benchmark's entries, the same for every child.
func crlEntries(n int, this time.Time, emit func(serial []byte, at time.Time, reason int)) {
	rng := mrand.New(mrand.NewPCG(6, 1))
	serial := make([]byte, 16)
	reasons := [4]int{0, 1, 4, 5}
	for i := range n {
		for j := 0; j < 16; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				serial[j+k] = byte(v >> (8 * k))
			}
		}
		serial[0] |= 0x01 // never zero
		emit(serial, this.Add(-time.Duration(i)*time.Second), reasons[i%4])
	}
}

// crlChild builds one CRL of n entries with kind ("ours", "x509", or
// "idle": set up only), dated now, and writes it to dir.
func crlChild(kind string, n int, dir string, now time.Time) crlResult {
	ctx := context.Background()
	keyDir, err := os.MkdirTemp(dir, "keys")
	if err != nil {
		log.Fatal(err)
	}
	sg, err := signer.NewSoftware(keyDir, nil)
	if err != nil {
		log.Fatal(err)
	}
	key, err := sg.Generate(ctx, "crl-bench", signer.ECDSAP256)
	if err != nil {
		log.Fatal(err)
	}
	now = now.UTC().Truncate(time.Second)
	serial, _ := ca.NewSerial(rand.Reader)
	tmpl, err := ca.RootTemplate(ca.CAParams{Subject: pkix.Name{CommonName: "Bench CA", Organization: []string{"Bench"}, Country: []string{"XX"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), MaxPathLen: -1, PublicKey: key.Public()}, serial)
	if err != nil {
		log.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	a := ca.NewAuthority("bench", key, cert, nil)
	next := now.Add(24 * time.Hour)
	var res crlResult
	var out []byte
	runtime.GC()
	switch kind {
	case "idle":
		res.RSS = peakRSS()
		return res
	case "ours":
		linter, err := ca.NewLinter(nil, append(append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...), crl.ExcludedLints()...))
		if err != nil {
			log.Fatal(err)
		}
		b := &crl.Builder{Linter: linter, Presign: ca.NewPresigner()}
		src := func(ctx context.Context, emit func(crl.Entry) error) error {
			var err error
			crlEntries(n, now, func(s []byte, at time.Time, reason int) {
				if err == nil {
					err = emit(crl.Entry{Serial: s, RevokedAt: at, Reason: reason})
				}
			})
			return err
		}
		start := time.Now()
		out, err = b.Build(ctx, a, crl.Params{Number: 1, ThisUpdate: now, NextUpdate: next, SizeHint: n}, src)
		res.NS = int64(time.Since(start))
		if err != nil {
			log.Fatal(err)
		}
	case "x509":
		start := time.Now()
		entries := make([]x509.RevocationListEntry, 0, n)
		crlEntries(n, now, func(s []byte, at time.Time, reason int) {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: new(big.Int).SetBytes(s), RevocationTime: at, ReasonCode: reason})
		})
		res.GenNS = int64(time.Since(start))
		start = time.Now()
		out, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			SignatureAlgorithm: x509.ECDSAWithSHA256, RevokedCertificateEntries: entries,
			Number: big.NewInt(1), ThisUpdate: now, NextUpdate: next,
		}, cert, crypto.Signer(key))
		res.NS = int64(time.Since(start))
		if err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown CRL child %q", kind)
	}
	res.DER = len(out)
	res.RSS = peakRSS()
	if err := os.WriteFile(filepath.Join(dir, kind+".crl"), out, 0o600); err != nil {
		log.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, kind+".issuer"), cert.Raw, 0o600)
	return res
}

// peakRSS is the process's peak resident set size in KiB: VmHWM of
// /proc/self/status. (Not getrusage: after exec, Linux carries the parent's
// peak into the child's ru_maxrss.)
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				log.Fatal(err)
			}
			return kb
		}
	}
	log.Fatal("no VmHWM in /proc/self/status")
	return 0
}
