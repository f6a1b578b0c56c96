// Command bench runs the gateway's benchmarks and writes BENCHMARKS.md.
//
// Every figure is a ratio to a reference measured in the same run, on the
// same machine, interleaved with the measurement itself: absolute rates on
// shared machines are noise, ratios are not.
//
// Signer pool: signatures per second through signer.Pool against a raw
// crypto11 sign loop (same module, same token, same key, same number of
// sessions and callers), for ECDSA P-256 and RSA-2048 at 1, 2 and 8
// concurrent callers.
package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/certgw/gateway/server"
	"github.com/certgw/gateway/signer"
)

const pin = "1234"

func main() {
	if RevocationChild() {
		return
	}
	out := flag.String("out", "BENCHMARKS.md", "file to write")
	dur := flag.Duration("duration", time.Second, "length of one measurement")
	rounds := flag.Int("rounds", 5, "alternating rounds of reference and subject; the median counts")
	only := flag.String("only", "", "run only this benchmark: signer, issue, est, bulk, revocation or acme (for profiling)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	blockprofile := flag.String("blockprofile", "", "write a blocking profile to this file")
	flag.StringVar(&subjectProfile, "subjectprofile", "", "write a CPU profile, an allocation profile and an execution trace of extra runs of each issuance subject (not its reference) to this file, suffixed with the benchmark's name")
	flag.Parse()
	// The gateway's benchmarks run the gateway in this process: with the
	// collector's target that `gateway serve` sets.
	gogc := server.TuneGC(os.Getenv)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *blockprofile != "" {
		runtime.SetBlockProfileRate(100000) // one event per 100 µs blocked
		runtime.SetMutexProfileFraction(10)
		defer func() {
			f, err := os.Create(*blockprofile)
			if err != nil {
				log.Fatal(err)
			}
			pprof.Lookup("block").WriteTo(f, 0)
			f.Close()
		}()
	}

	module := findModule()
	dir, err := os.MkdirTemp("", "gateway-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	os.Setenv("SOFTHSM2_CONF", conf)
	run("softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", pin, "--so-pin", "5678")

	var rows []string
	for _, kt := range []signer.KeyType{signer.ECDSAP256, signer.RSA2048} {
		if *only != "" && *only != "signer" {
			break
		}
		for _, n := range []int{1, 2, 8} {
			raw, pool := signerRound(module, kt, n, *dur, *rounds)
			rows = append(rows, fmt.Sprintf("| %s | %d | %.0f | %.0f | **%.2f** | ≥ 0.90 | %s |",
				kt, n, raw, pool, pool/raw, verdict(pool/raw >= 0.9)))
			log.Printf("signer %s x%d: raw %.0f/s pool %.0f/s ratio %.2f", kt, n, raw, pool, pool/raw)
		}
	}

	var issues []issueResult
	for _, kind := range []string{"sqlite", "postgres"} {
		if *only != "" && *only != "issue" {
			break
		}
		r := issuanceBench(module, kind, 8, *dur, *rounds)
		log.Printf("issuance %s without HTTP: raw %.0f/s core %.0f/s (%.3f, %v/cert) core+store %.0f/s (%.3f, %v/cert)", kind, r.direct.raw,
			r.direct.core, r.direct.core/r.direct.raw, r.direct.coreCPU, r.direct.coreStore, r.direct.coreStore/r.direct.raw, r.direct.storeCPU)
		log.Printf("issuance %s: raw %.0f/s api %.0f/s ratio %.3f (no store %.3f), %.1f store calls/cert, CPU %v/cert + PostgreSQL %v (raw %v/sig), CPUs %.0f%% busy", kind, r.raw, r.api, r.api/r.raw, r.apiBare/r.raw, r.roundTrips, r.apiCPU, r.pgCPU, r.rawCPU, 100*r.apiUse)
		issues = append(issues, r)
	}

	var ests []estResult
	for _, kind := range []string{"sqlite", "postgres"} {
		if *only != "" && *only != "est" {
			break
		}
		r := estBench(module, kind, 8, *dur, *rounds)
		log.Printf("EST simpleenroll %s: raw %.0f/s est %.0f/s ratio %.3f", kind, r.raw, r.est, r.est/r.raw)
		ests = append(ests, r)
	}

	var bulks []bulkResult
	for _, kind := range []string{"sqlite", "postgres"} {
		if *only != "" && *only != "bulk" {
			break
		}
		r := bulkRevokeBench(module, kind, 500, 3)
		log.Printf("bulk revocation %s: one at a time %.0f/s, bulk %.0f/s, ratio %.2f", kind, r.one, r.bulk, r.bulk/r.one)
		bulks = append(bulks, r)
	}

	var revocation string
	if *only == "" || *only == "revocation" {
		revocation = RevocationBench(module, *dur, *rounds)
	}

	var acmeSection string
	if *only == "" || *only == "acme" {
		acmeSection = acmeBench(module, *dur, *rounds)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (test/bench). Every result is a ratio to a reference\n")
	fmt.Fprintf(&b, "measured in the same run on the same machine; absolute rates are shown for scale only.\n")
	fmt.Fprintf(&b, "Reference and subject alternate, %d rounds of %s each; the medians are compared.\n\n", *rounds, *dur)
	fmt.Fprintf(&b, "Machine: %d CPUs, %s/%s, %s. Token: SoftHSM (%s). Garbage collector target GOGC=%d,\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), module, gogc)
	fmt.Fprintf(&b, "as `gateway serve` sets it (server.TuneGC); reference and subject share it.\n\n")
	fmt.Fprintf(&b, "## Signer pool vs raw PKCS#11\n\n")
	fmt.Fprintf(&b, "Signatures per second through `signer.Pool` (round robin, bounded session wait,\n")
	fmt.Fprintf(&b, "failover checks) against a raw `crypto11` sign loop on the same token and key, with the\n")
	fmt.Fprintf(&b, "same number of sessions (9) and concurrent callers.\n\n")
	fmt.Fprintf(&b, "| key | callers | raw crypto11 sig/s | pool sig/s | pool / raw | target | |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	fmt.Fprintf(&b, "\n## Issuance through the REST API\n\n")
	fmt.Fprintf(&b, "Certificates per second through `POST /api/v1/profiles/P/certificates` over HTTPS (CSR in,\n")
	fmt.Fprintf(&b, "ECDSA P-256 issuing CA in SoftHSM, 8 concurrent clients with keep-alive, CSRs prepared in\n")
	fmt.Fprintf(&b, "advance) against the raw sign rate of the same key in the same token (crypto11, 8 callers),\n")
	fmt.Fprintf(&b, "alternating. Client, server and token share the machine's %d CPUs.\n\n", runtime.NumCPU())
	fmt.Fprintf(&b, "| store | raw sign/s | certificates/s | ratio | target | | p50 | p99 | store calls per certificate |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range issues {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | **%.3f** | ≥ 0.15 | %s | %s | %s | %.1f |\n", r.store, r.raw, r.api, r.api/r.raw,
			verdict(r.api/r.raw >= 0.15), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.roundTrips)
	}
	for _, r := range issues {
		if r.peer != nil {
			b.WriteString(peerMarkdown(*r.peer))
		}
	}
	fmt.Fprintf(&b, "\nStore calls per certificate: the pending record before the HSM signs, and the completion\n")
	fmt.Fprintf(&b, "(audit record with the DER and activation in one commit); the bearer token is read once per\n")
	fmt.Fprintf(&b, "10 seconds (the API trusts a token it found that long). Writes of\n")
	fmt.Fprintf(&b, "concurrent requests share commits (group commit; PostgreSQL writes two batches at once);\n")
	fmt.Fprintf(&b, "every commit is flushed to disk but the pending record's, which is committed (every replica\n")
	fmt.Fprintf(&b, "sees it, it outlives the process) and carried to disk by the completion's flush before the\n")
	fmt.Fprintf(&b, "certificate is handed out (storage.Store.InsertPendingCertificate): one wait for the disk per\n")
	fmt.Fprintf(&b, "certificate instead of two, which raised the ratio by about a tenth on SQLite and a fifth on\n")
	fmt.Fprintf(&b, "PostgreSQL in alternating runs.\n\n")
	fmt.Fprintf(&b, "The raw reference moves between runs on this VM by as much as half (from 8,400 to 16,000\n")
	fmt.Fprintf(&b, "signatures per second on one day), and the ratios move with it: over a dozen runs on one day\n")
	fmt.Fprintf(&b, "the REST API gave 0.068-0.093 (SQLite) and 0.066-0.087 (PostgreSQL), and alternated variants\n")
	fmt.Fprintf(&b, "(GOMAXPROCS 4, SQLite batches without savepoints) stayed in the same band: the spread is the\n")
	fmt.Fprintf(&b, "machine's. The CPU columns below say\n")
	fmt.Fprintf(&b, "what a run measured; the table after them says where the ratio is lost (the store).\n\n")
	fmt.Fprintf(&b, "**What bounds the ratio.** SoftHSM signs inside this process, on the same %d CPUs as\n", runtime.NumCPU())
	fmt.Fprintf(&b, "the gateway and its clients, so the raw sign rate is itself a CPU rate, and so is the\n")
	fmt.Fprintf(&b, "issuance rate. The ratio can be no better than (CPU per raw signature) / (CPU per\n")
	fmt.Fprintf(&b, "certificate) unless the issuance keeps the CPUs busier than the raw loop does; both are\n")
	fmt.Fprintf(&b, "measured in the same rounds (process CPU time over the calls made; the PostgreSQL server's\n")
	fmt.Fprintf(&b, "processes, read from /proc, apart). 0.15 means an issuance may cost about 6.7 raw signatures of\n")
	fmt.Fprintf(&b, "CPU, everything included: TLS and HTTP at both ends, JSON, the CSR and its signature check, the\n")
	fmt.Fprintf(&b, "template, the throwaway signature, zlint, two commits (one flushed), the HSM\n")
	fmt.Fprintf(&b, "signature and its check.\n\n")
	fmt.Fprintf(&b, "| store | CPU per certificate | PostgreSQL server CPU per certificate | CPU per raw signature | bound: raw / (certificate + server) | ratio | CPUs busy issuing (this process) |\n|---|---|---|---|---|---|---|\n")
	for _, r := range issues {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.3f | %.3f | %.0f %% |\n", r.store, us(r.apiCPU), us(r.pgCPU), us(r.rawCPU),
			float64(r.rawCPU)/float64(r.apiCPU+r.pgCPU), r.api/r.raw, 100*r.apiUse)
	}
	fmt.Fprintf(&b, "\nA CPU profile of the subject alone (`go run ./test/bench -only issue -subjectprofile F`)\n")
	fmt.Fprintf(&b, "spreads the certificate's CPU over many parts, none dominant: the SQLite writer (statements,\n")
	fmt.Fprintf(&b, "WAL frames, and the fsync, whose kernel time this VM charges as CPU), two ECDSA P-256\n")
	fmt.Fprintf(&b, "verifications (the CSR, the HSM's signature), the throwaway signature, the HSM signature\n")
	fmt.Fprintf(&b, "itself (one raw signature), zlint (parsing with zcrypto and\n")
	fmt.Fprintf(&b, "about 190 applicable lints), garbage collection, and TLS, HTTP and JSON on both ends.\n")
	fmt.Fprintf(&b, "What was cut: statements prepared once instead of compiled per call, zlint's lints run\n")
	fmt.Fprintf(&b, "directly from instances kept between certificates (no per-call name sort, result map or\n")
	fmt.Fprintf(&b, "constructors), the collector at GOGC=400, the pending record and completion as the only\n")
	fmt.Fprintf(&b, "commits, the throwaway draft assembled from the to-be-signed bytes crypto/x509 hands its\n")
	fmt.Fprintf(&b, "signer (x509.CreateCertificate no longer verifies a signature that is thrown away: a third\n")
	fmt.Fprintf(&b, "of a raw signature saved), the pending record's commit without an fsync. On SQLite the store's one writer is the other limit: an execution trace of the\n")
	fmt.Fprintf(&b, "subject (`-subjectprofile` writes one) shows it busy nearly all the time, about half of it\n")
	fmt.Fprintf(&b, "in fsyncs that take about 0.8 ms each under this load (the idle figure is below), with\n")
	fmt.Fprintf(&b, "about three writes per batch. Flushing outside the write lock (a goroutine syncing the WAL\n")
	fmt.Fprintf(&b, "while the next batch is written) was tried and dropped: batches shrank, fsyncs per\n")
	fmt.Fprintf(&b, "certificate nearly doubled, and as this VM charges their kernel time as CPU, throughput\n")
	fmt.Fprintf(&b, "did not improve. The ceiling that idle fsyncs would set, were all 8 clients' flushed writes\n")
	fmt.Fprintf(&b, "to share each commit:\n\n")
	fmt.Fprintf(&b, "| store | fsync | ceiling 8 / fsync | certificates/s | share of the ceiling | ceiling / raw sign/s |\n|---|---|---|---|---|---|\n")
	for _, r := range issues {
		ceiling := 8 / r.fsync.Seconds()
		fmt.Fprintf(&b, "| %s | %s | %.0f/s | %.0f | %.2f | %.3f |\n", r.store, r.fsync.Round(10*time.Microsecond), ceiling, r.api, r.api/ceiling, ceiling/r.raw)
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "Where the time of one issuance goes (one client, steps timed one at a time):\n\n")
	fmt.Fprintf(&b, "| store | CSR parse, signature, policy | template, throwaway signature, zlint | store (2 writes) | HSM signature | HTTP, JSON, TLS, rest |\n|---|---|---|---|---|---|\n")
	for _, r := range issues {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.store, us(r.csr), us(r.lint), us(r.st), us(r.sgn), us(r.ht))
	}
	fmt.Fprintf(&b, "\nThe steps besides the store and HTTP (CSR check, template, throwaway signature, zlint, HSM\n")
	fmt.Fprintf(&b, "signature and its check) take")
	b.WriteString(" " + perStore(issues, func(r issueResult) string {
		return fmt.Sprintf("%.1f raw signatures", float64(r.csr+r.lint+r.sgn)/float64(r.rawCPU))
	}))
	fmt.Fprintf(&b, " when timed one at a time, of the\n")
	fmt.Fprintf(&b, "6.7 that 0.15 allows; in the CPU profile under the 8-client load the same steps cost about\n")
	fmt.Fprintf(&b, "1.7 times what they cost alone (two CPUs, caches shared with SoftHSM and the clients), which\n")
	fmt.Fprintf(&b, "leaves about one raw signature for two commits and TLS and HTTP at both ends.\n")
	fmt.Fprintf(&b, "\nThe same issuance under the same load without HTTP: `ca.Core.Issue` called in process by 8\n")
	fmt.Fprintf(&b, "goroutines on the same prepared CSRs (parse and signature check, profile, template, throwaway\n")
	fmt.Fprintf(&b, "signature and zlint, pending record, HSM signature and its check, completion), over the\n")
	fmt.Fprintf(&b, "store and over a store that keeps nothing, alternating with the raw reference (%d rounds);\n", *rounds)
	fmt.Fprintf(&b, "and the REST API of the first table once more over a core whose store keeps nothing, alternated\n")
	fmt.Fprintf(&b, "with its runs there:\n\n")
	fmt.Fprintf(&b, "| store | raw sign/s | core, no store: /s | ratio | CPU per certificate | CPUs busy | core and store: /s | ratio | CPU per certificate | CPUs busy | REST API, no store: ratio | REST API ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range issues {
		d := r.direct
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | **%.3f** | %s | %.0f %% | %.0f | **%.3f** | %s | %.0f %% | **%.3f** | %.3f |\n", r.store, d.raw,
			d.core, d.core/d.raw, us(d.coreCPU), 100*d.coreUse, d.coreStore, d.coreStore/d.raw, us(d.storeCPU), 100*d.storeUse, r.apiBare/r.raw, r.api/r.raw)
	}
	fmt.Fprintf(&b, "\nThe first ratio is the ceiling that the issue's steps before the store set on this machine:\n")
	fmt.Fprintf(&b, "were the store and HTTP free, the REST API could do no better. The second adds the two\n")
	fmt.Fprintf(&b, "commits (the pending record before the HSM signs; the audit record with the DER and the\n")
	fmt.Fprintf(&b, "activation after it, flushed): the gap between the first two is the store's share, the gap\n")
	fmt.Fprintf(&b, "between the second and the REST API's ratio that of TLS, HTTP and JSON at both ends. The\n")
	fmt.Fprintf(&b, "store costs more than its CPU: with 8 callers, each waits for two commits in turn (an\n")
	fmt.Fprintf(&b, "execution trace, `-subjectprofile`, shows about half of a request's time there), so the\n")
	fmt.Fprintf(&b, "CPUs idle meanwhile. The REST API over a store that keeps nothing is the ceiling of any work\n")
	fmt.Fprintf(&b, "on the store, TLS, HTTP and JSON at both ends still on the same CPUs: in this run")
	b.WriteString(" " + perStore(issues, func(r issueResult) string { return fmt.Sprintf("%.3f", r.apiBare/r.raw) }))
	fmt.Fprintf(&b, ".\n")
	b.WriteString(estMarkdown(ests))
	if len(bulks) > 0 {
		b.WriteString(bulkSection(bulks, 3))
	}
	b.WriteString(revocation)
	b.WriteString(acmeSection)
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", *out)
}

// perStore lists value of each result with its store, as prose: "0.1
// (sqlite), 0.2 (x) and 0.3 (postgres)".
func perStore(issues []issueResult, value func(issueResult) string) string {
	var out strings.Builder
	for i, r := range issues {
		switch {
		case i == 0:
		case i == len(issues)-1:
			out.WriteString(" and ")
		default:
			out.WriteString(", ")
		}
		fmt.Fprintf(&out, "%s (%s)", value(r), r.store)
	}
	return out.String()
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Microseconds())) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func findModule() string {
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	log.Fatal("SoftHSM is not installed: apt-get install softhsm2")
	return ""
}

func run(name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		log.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// signerRound measures the raw loop and the pool alternately and returns
// the median rate of each.
func signerRound(module string, kt signer.KeyType, callers int, dur time.Duration, rounds int) (raw, pool float64) {
	const sessions = 9
	p, err := signer.NewPool(signer.PoolConfig{
		Members: []signer.Member{{Module: module, TokenLabel: "bench"}}, PIN: pin, MaxSessions: sessions,
		SessionWait: 10 * time.Second, HealthInterval: time.Minute, ReconnectInterval: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	label := "bench-" + string(kt)
	pk, err := p.Key(ctx, p.URI(label))
	if err != nil {
		if pk, err = p.Generate(ctx, label, kt); err != nil {
			log.Fatal(err)
		}
	}
	digest := sha256.Sum256([]byte("benchmark"))
	rawSign, closeRaw := rawSigner(module, label, sessions, digest[:])
	defer closeRaw()
	poolSign := func() error { _, err := pk.SignContext(ctx, digest[:], crypto.SHA256); return err }

	// Warm up both paths (sessions opened, handles cached).
	m := alternate(callers, dur, rounds, rawSign, poolSign)
	return m[0], m[1]
}

// alternate warms each subject up (a quarter of dur), then runs them in
// turn, rounds times for dur each, and returns the median rate of each, in
// order.
func alternate(callers int, dur time.Duration, rounds int, subjects ...func() error) []float64 {
	for _, f := range subjects {
		rate(f, callers, dur/4)
	}
	rates := make([][]float64, len(subjects))
	for range rounds {
		for i, f := range subjects {
			rates[i] = append(rates[i], rate(f, callers, dur))
		}
	}
	medians := make([]float64, len(subjects))
	for i, r := range rates {
		medians[i] = median(r)
	}
	return medians
}

// subjectProfile is the -subjectprofile flag.
var subjectProfile string

// profileSubject writes a CPU profile of f run from callers goroutines for
// dur to subjectProfile + "." + name, if that flag is set.
func profileSubject(name string, f func() error, callers int, dur time.Duration) {
	if subjectProfile == "" {
		return
	}
	pf, err := os.Create(subjectProfile + "." + name)
	if err != nil {
		log.Fatal(err)
	}
	defer pf.Close()
	if err := pprof.StartCPUProfile(pf); err != nil {
		log.Fatal(err)
	}
	runtime.MemProfileRate = 64 << 10
	rate(f, callers, dur)
	pprof.StopCPUProfile()
	mf, err := os.Create(subjectProfile + "." + name + ".allocs")
	if err != nil {
		log.Fatal(err)
	}
	defer mf.Close()
	pprof.Lookup("allocs").WriteTo(mf, 0)
	runtime.MemProfileRate = 512 << 10
	// An execution trace of a shorter run: where requests and the store's
	// writer wait (go tool trace; -pprof=sched for scheduler latency).
	tf, err := os.Create(subjectProfile + "." + name + ".trace")
	if err != nil {
		log.Fatal(err)
	}
	defer tf.Close()
	if err := trace.Start(tf); err != nil {
		log.Fatal(err)
	}
	rate(f, callers, dur/4)
	trace.Stop()
}

// cpuMeter adds up the CPU time this process (server, clients and the
// SoftHSM library alike) spends in the runs it measures, and their calls;
// and, apart, that of the machine's PostgreSQL server processes.
type cpuMeter struct {
	cpu, wall, postgres time.Duration
	calls               float64
}

// rate is rate, metered.
func (m *cpuMeter) rate(f func() error, callers int, dur time.Duration) float64 {
	c0, p0, t0 := cpuTime(), postgresCPU(), time.Now()
	r := rate(f, callers, dur)
	wall := time.Since(t0)
	m.cpu += cpuTime() - c0
	m.postgres += postgresCPU() - p0
	m.wall += wall
	m.calls += r * wall.Seconds()
	return r
}

// postgresCPU is the user and system CPU time of the processes named
// postgres on this machine (the server the PostgreSQL benchmarks use, and
// whatever else it serves), from /proc; 0 where there is no /proc.
func postgresCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15), counted from
		// the field after the comm, which may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasPrefix(s[strings.IndexByte(s, '(')+1:], "postgres") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// perCall is d (m.cpu or m.postgres) divided over the calls.
func (m *cpuMeter) perCall(d time.Duration) time.Duration {
	if m.calls == 0 {
		return 0
	}
	return time.Duration(float64(d) / m.calls)
}

// use is the share of the machine's CPUs the runs kept busy.
func (m *cpuMeter) use() float64 {
	if m.wall == 0 {
		return 0
	}
	return m.cpu.Seconds() / m.wall.Seconds() / float64(runtime.NumCPU())
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rate runs sign from callers goroutines for dur and returns calls per second.
func rate(sign func() error, callers int, dur time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(dur)
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := sign(); err != nil {
					log.Fatal(err)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
