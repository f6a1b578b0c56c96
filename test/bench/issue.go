package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"
)

// countingStore counts the calls that reach the store. An issuance through
// the API makes three: the token lookup, the pending record and the
// completion (audit event and activation in one write); AppendAudit and
// ActivateCertificate are counted in case a change brings them back.
type countingStore struct {
	storage.Store
	calls atomic.Int64
}

func (s *countingStore) TokenByHash(ctx context.Context, h []byte) (storage.Token, error) {
	s.calls.Add(1)
	return s.Store.TokenByHash(ctx, h)
}
func (s *countingStore) InsertPendingCertificate(ctx context.Context, c storage.Certificate) error {
	s.calls.Add(1)
	return s.Store.InsertPendingCertificate(ctx, c)
}
func (s *countingStore) ActivateCertificate(ctx context.Context, serial string, der []byte, nb, na time.Time) error {
	s.calls.Add(1)
	return s.Store.ActivateCertificate(ctx, serial, der, nb, na)
}
func (s *countingStore) AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error) {
	s.calls.Add(1)
	return s.Store.AppendAudit(ctx, e)
}
func (s *countingStore) CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, nb, na time.Time) (int64, error) {
	s.calls.Add(1)
	return s.Store.CompleteIssuance(ctx, e, serial, der, nb, na)
}

type issueResult struct {
	store    string
	raw, api float64
	// apiBare is the REST API over a core whose store keeps nothing of
	// an issuance (discardStore): what the API could do with a free store.
	apiBare float64
	// peer is the REST API against step-ca's /1.0/sign (SQLite only).
	peer *peerResult
	// Without HTTP (the core called directly) and without HTTP or the
	// store (a store that keeps nothing), alternated with their own raw
	// reference: what HTTP and the store could at most give back.
	direct                 directResult
	roundTrips             float64
	csr, lint, st, sgn, ht time.Duration
	p50, p99               time.Duration
	fsync                  time.Duration // one write + fdatasync in the store's directory
	rawCPU, apiCPU         time.Duration // CPU time of one raw signature, one issuance
	apiUse                 float64       // share of the CPUs busy while issuing
	pgCPU                  time.Duration // the PostgreSQL server's CPU time per issuance
}

// fsyncLatency times small synchronous writes in dir: the floor under every
// flushed commit, which the issuance path makes once (the completion; the
// pending record before the HSM signs is committed without a flush).
func fsyncLatency(dir string) time.Duration {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	const n = 100
	t0 := time.Now()
	for range n {
		if _, err := f.Write(buf); err != nil {
			log.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			log.Fatal(err)
		}
	}
	return time.Since(t0) / n
}

// issuanceBench measures certificates per second through the REST API
// (CSR in, ECDSA P-256 issuing CA in SoftHSM, `callers` concurrent clients)
// against the raw sign rate of the same key, interleaved.
func issuanceBench(module, storeKind string, callers int, dur time.Duration, rounds int) issueResult {
	ctx := context.Background()
	g := newBenchGateway(module, benchGatewayConfig{TempPrefix: "gateway-bench-issue", Store: storeKind, MaxSessions: 9, PrivatePKISources: true,
		RootLabel: "issue-root-" + storeKind, IssuingLabel: "issue-issuing-" + storeKind, Subject: "Bench"})
	defer g.Close()
	st, cas, linter, pre, discard := g.Store, g.CAs, g.Linter, g.Pre, g.Log
	counting := &countingStore{Store: st}
	core, prof := g.Core(benchProfile("api"), counting)
	secret, tok, err := api.NewToken("bench", []string{"issue"}, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	if err := st.InsertToken(ctx, tok, storage.AuditEvent{At: time.Now(), Actor: "gateway bench", Action: "token-create"}); err != nil {
		log.Fatal(err)
	}
	bareCore, _ := g.Core(benchProfile("api"), &discardStore{Store: st})
	serve := func(core *ca.Core, st storage.Store) (*httptest.Server, *http.Client) {
		r := chi.NewRouter()
		api.New(api.Config{Core: core, Store: st, Log: discard, Now: time.Now}).Routes(r)
		srv := httptest.NewUnstartedServer(r)
		srv.StartTLS()
		client := srv.Client()
		client.Transport.(*http.Transport).MaxIdleConnsPerHost = callers
		return srv, client
	}
	srv, client := serve(core, counting)
	defer srv.Close()
	bareSrv, bareClient := serve(bareCore, st)
	defer bareSrv.Close()

	// Requests are prepared up front: client key generation is not the
	// gateway's work.
	bodies := make([][]byte, 256)
	csrs := make([][]byte, len(bodies))
	names := make([]string, len(bodies))
	for i := range bodies {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		name := fmt.Sprintf("host-%d.bench.example", i)
		names[i] = name
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, k)
		csrs[i] = der
		bodies[i], _ = json.Marshal(map[string]string{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	}
	var next atomic.Int64
	var lats, bareLats latencies
	issuer := func(srv *httptest.Server, client *http.Client, lats *latencies) func() error {
		endpoint := srv.URL + "/api/v1/profiles/bench/certificates"
		return func() error {
			body := bodies[next.Add(1)%int64(len(bodies))]
			req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			return timedRequest(client, req, http.StatusCreated, "issue", lats)
		}
	}
	issueOnce, issueBare := issuer(srv, client, &lats), issuer(bareSrv, bareClient, &bareLats)

	// The raw reference: the same issuing key in the same token, through
	// crypto11 directly, with as many callers.
	rawSign, closeRaw := rawSigner(module, "issue-issuing-"+storeKind, 9, tbsDigest())
	defer closeRaw()

	rate(rawSign, callers, dur/4)
	rate(issueOnce, callers, dur/4)
	rate(issueBare, callers, dur/4)
	lats.reset()
	before := counting.calls.Load()
	var raws, apis, bares []float64
	var rawCPU, apiCPU cpuMeter
	for range rounds {
		raws = append(raws, rawCPU.rate(rawSign, callers, dur))
		apis = append(apis, apiCPU.rate(issueOnce, callers, dur))
		bares = append(bares, rate(issueBare, callers, dur))
	}
	res := issueResult{store: storeKind, raw: median(raws), api: median(apis), apiBare: median(bares), fsync: fsyncLatency(g.Dir),
		rawCPU: rawCPU.perCall(rawCPU.cpu), apiCPU: apiCPU.perCall(apiCPU.cpu), apiUse: apiCPU.use(), pgCPU: apiCPU.perCall(apiCPU.postgres)}
	res.roundTrips = float64(counting.calls.Load()-before) / float64(lats.len())
	res.p50, res.p99 = lats.p50p99()
	res.direct = directBench(g, st, rawSign, csrs, callers, dur, rounds)
	if storeKind == "sqlite" {
		p := peerBench(g.Dir, issueOnce, csrs, names, callers, dur, rounds)
		res.peer = &p
	}
	profileSubject("issue-"+storeKind, issueOnce, callers, dur)

	// Where the time goes, one issuance at a time, per step.
	a := cas["issuing"]
	const n = 200
	res.csr = timeIt(n, func(i int) {
		c, _ := x509.ParseCertificateRequest(csrs[i%len(csrs)])
		c.CheckSignature()
		prof.CheckKey(c.PublicKey)
		prof.CheckNames(ca.Names{DNS: c.DNSNames})
	})
	csr0, _ := x509.ParseCertificateRequest(csrs[0])
	tmpl := func() *x509.Certificate {
		serial, _ := ca.NewSerial(rand.Reader)
		now := time.Now()
		t, err := ca.LeafTemplate(ca.LeafParams{DNSNames: csr0.DNSNames, NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), IssuerKey: a.Key.Public(),
			CRLURLs: []string{"http://pki.example.net/crl/issuing.crl"}, OCSPURL: "http://pki.example.net/ocsp/issuing", IssuerURL: "http://pki.example.net/ca/issuing.crt"}, csr0.PublicKey, serial)
		if err != nil {
			log.Fatal(err)
		}
		return t
	}
	res.lint = timeIt(n, func(int) {
		d, err := pre.PreSign(tmpl(), a.Cert(), csr0.PublicKey, a.Key.Public())
		if err != nil {
			log.Fatal(err)
		}
		if err := linter.LintCertificate(d); err != nil {
			log.Fatal(err)
		}
	})
	res.sgn = timeIt(n, func(int) {
		if _, err := x509.CreateCertificate(rand.Reader, tmpl(), a.Cert(), csr0.PublicKey, a.Key); err != nil {
			log.Fatal(err)
		}
	})
	der, _ := x509.CreateCertificate(rand.Reader, tmpl(), a.Cert(), csr0.PublicKey, a.Key)
	// The store writes of one issuance: the pending record, then the
	// completion.
	res.st = timeIt(n, func(i int) {
		serial := hex.EncodeToString(big.NewInt(int64(1e9+i)).Bytes()) + "ff"
		now := time.Now()
		if err := st.InsertPendingCertificate(ctx, storage.Certificate{Serial: serial, CA: "issuing", Profile: "bench", Method: "api",
			Status: storage.StatusPending, NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now, Subject: (pkix.Name{}).String()}); err != nil {
			log.Fatal(err)
		}
		if _, err := st.CompleteIssuance(ctx, storage.AuditEvent{At: now, Action: "issue", Serial: serial, DER: der}, serial, der, now, now.Add(time.Hour)); err != nil {
			log.Fatal(err)
		}
	})
	lats.reset()
	total := timeIt(n, func(int) {
		if err := issueOnce(); err != nil {
			log.Fatal(err)
		}
	})
	res.ht = total - res.csr - res.lint - res.sgn - res.st
	return res
}

// discardStore keeps nothing an issuance writes: the pending record and
// the completion return at once. Everything else goes to the store.
type discardStore struct {
	storage.Store
	ids atomic.Int64
}

func (s *discardStore) InsertPendingCertificate(context.Context, storage.Certificate) error {
	return nil
}
func (s *discardStore) CompleteIssuance(context.Context, storage.AuditEvent, string, []byte, time.Time, time.Time) (int64, error) {
	return s.ids.Add(1), nil
}

// directResult is the issuance called in process, from as many callers as
// the API benchmark has clients, with and without the store, against the
// raw reference measured in the same rounds.
type directResult struct {
	raw, core, coreStore      float64
	rawCPU, coreCPU, storeCPU time.Duration // per call
	coreUse, storeUse         float64       // share of the CPUs busy
}

// directBench runs ca.Core.Issue on the prepared CSRs (parse and check,
// profile, template, throwaway signature and lint, HSM signature and its
// check, the two store writes) without HTTP, over the store st and over
// one that keeps nothing, alternating with rawSign.
func directBench(g *benchGateway, st storage.Store, rawSign func() error, csrs [][]byte, callers int, dur time.Duration, rounds int) directResult {
	ctx := context.Background()
	bare, _ := g.Core(benchProfile("api"), &discardStore{Store: st})
	stored, _ := g.Core(benchProfile("api"), st)
	var next atomic.Int64
	issueWith := func(c *ca.Core) func() error {
		return func() error {
			_, err := c.Issue(ctx, ca.IssueRequest{Profile: "bench", Method: "api", Requester: "bench",
				CSR: csrs[next.Add(1)%int64(len(csrs))]})
			return err
		}
	}
	core, coreStore := issueWith(bare), issueWith(stored)
	rate(core, callers, dur/4)
	rate(coreStore, callers, dur/4)
	var raws, cores, storeds []float64
	var rawM, coreM, storeM cpuMeter
	for range rounds {
		raws = append(raws, rawM.rate(rawSign, callers, dur))
		cores = append(cores, coreM.rate(core, callers, dur))
		storeds = append(storeds, storeM.rate(coreStore, callers, dur))
	}
	profileSubject("core-"+g.StoreKind, core, callers, dur)
	profileSubject("core-store-"+g.StoreKind, coreStore, callers, dur)
	return directResult{raw: median(raws), core: median(cores), coreStore: median(storeds),
		rawCPU: rawM.perCall(rawM.cpu), coreCPU: coreM.perCall(coreM.cpu), storeCPU: storeM.perCall(storeM.cpu),
		coreUse: coreM.use(), storeUse: storeM.use()}
}

func timeIt(n int, f func(i int)) time.Duration {
	t0 := time.Now()
	for i := range n {
		f(i)
	}
	return time.Since(t0) / time.Duration(n)
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// benchDatabase creates an empty PostgreSQL database for the run.
func benchDatabase() string {
	admin := os.Getenv("GATEWAY_TEST_POSTGRES_DSN")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		log.Fatalf("PostgreSQL for the benchmark (GATEWAY_TEST_POSTGRES_DSN): %v", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "gw_bench_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		log.Fatal(err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		log.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
