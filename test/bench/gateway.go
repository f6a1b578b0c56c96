package main

// The gateway as the benchmarks build it in process: a store, a signer
// pool over SoftHSM, a linter, a presigner and a two-level CA hierarchy;
// optionally a profile with its issuer and core. Plus the helpers the
// benchmarks share: a raw crypto11 sign loop on the same key and latency
// collection.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ThalesIgnite/crypto11"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
)

// benchGatewayConfig says how one benchmark's gateway differs from the
// others'.
type benchGatewayConfig struct {
	// Dir holds the SQLite database; if empty, a temporary directory
	// named TempPrefix is made and removed by Close.
	Dir, TempPrefix string
	// Store is "sqlite" or "postgres" (a fresh database, benchDatabase).
	Store string
	// MaxSessions is the signer pool's session limit.
	MaxSessions int
	// PrivatePKISources excludes zlint's sources that do not apply to a
	// private PKI (ca.PrivatePKIExcludedSources) besides the lints.
	PrivatePKISources bool
	// RootLabel and IssuingLabel are the CA keys' labels in the token.
	RootLabel, IssuingLabel string
	// Subject prefixes the CAs' common names: "<Subject> Root" and
	// "<Subject> Issuing".
	Subject string
}

// benchGateway is the gateway's issuance machinery, up to its CAs.
type benchGateway struct {
	Dir       string
	StoreKind string // sqlite or postgres
	Store     storage.Store
	Pool      *signer.Pool
	Log       *slog.Logger
	Linter    *ca.Linter
	Pre       *ca.Presigner
	CAs       map[string]*ca.Authority

	ownDir bool
}

// newBenchGateway opens the store and the signer pool and initializes and
// loads the CA hierarchy (an ECDSA P-384 root, an ECDSA P-256 issuing CA).
func newBenchGateway(module string, c benchGatewayConfig) *benchGateway {
	ctx := context.Background()
	g := &benchGateway{Dir: c.Dir, StoreKind: c.Store, Log: slog.New(slog.DiscardHandler)}
	if g.Dir == "" {
		dir, err := os.MkdirTemp("", c.TempPrefix)
		if err != nil {
			log.Fatal(err)
		}
		g.Dir, g.ownDir = dir, true
	}
	var err error
	switch c.Store {
	case "sqlite":
		g.Store, err = sqlite.Open(ctx, filepath.Join(g.Dir, "gateway.db"))
	case "postgres":
		g.Store, err = postgres.Open(ctx, benchDatabase())
	default:
		err = fmt.Errorf("unknown store")
	}
	if err != nil {
		log.Fatalf("%s store: %v", c.Store, err)
	}
	g.Pool, err = signer.NewPool(signer.PoolConfig{Members: []signer.Member{{Module: module, TokenLabel: "bench"}}, PIN: pin,
		MaxSessions: c.MaxSessions, SessionWait: 10 * time.Second, HealthInterval: time.Minute, ReconnectInterval: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	var sources []string
	if c.PrivatePKISources {
		sources = ca.PrivatePKIExcludedSources()
	}
	g.Linter, err = ca.NewLinter(sources, append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...))
	if err != nil {
		log.Fatal(err)
	}
	g.Pre = ca.NewPresigner()
	cfg := &config.Config{
		Listen: config.Listen{PublicURL: "http://pki.example.net"},
		CAs: []config.CA{
			{Name: "root", Key: config.Key{Type: "ecdsa-p384", Label: c.RootLabel}, Validity: config.Duration(10 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: c.Subject + " Root", Organization: "Bench", Country: "XX"}},
			{Name: "issuing", Parent: "root", Key: config.Key{Type: "ecdsa-p256", Label: c.IssuingLabel}, Validity: config.Duration(5 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: c.Subject + " Issuing", Organization: "Bench", Country: "XX"}},
		},
	}
	h := &ca.Hierarchy{Config: cfg, Signer: g.Pool, Store: g.Store, Linter: g.Linter, Presign: g.Pre, Log: g.Log, Now: time.Now}
	if _, err := h.Init(ctx); err != nil {
		log.Fatal(err)
	}
	if g.CAs, err = h.Load(ctx); err != nil {
		log.Fatal(err)
	}
	return g
}

// Close closes the pool and the store and removes the temporary directory.
func (g *benchGateway) Close() {
	g.Pool.Close()
	g.Store.Close()
	if g.ownDir {
		os.RemoveAll(g.Dir)
	}
}

// benchProfile is the profile "bench" of the issuing CA for method: any
// DNS name, ECDSA P-256 keys, 90 days.
func benchProfile(method string) config.Profile {
	yes := true
	return config.Profile{Name: "bench", CA: "issuing", Methods: []string{method},
		Names:    config.Names{DNS: []string{"*"}, CommonName: "allow", CommonNameInSAN: &yes, Max: 10},
		KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(90 * 24 * time.Hour),
		AutoRenew: config.AutoRenew{RenewBeforeDays: 30}}
}

// Core compiles p and builds the issuer and the core over st (the
// gateway's store, or a wrapper of it).
func (g *benchGateway) Core(p config.Profile, st storage.Store) (*ca.Core, *ca.Profile) {
	prof, err := ca.CompileProfile(p)
	if err != nil {
		log.Fatal(err)
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	sealer, _ := ca.NewSealer(kek)
	issuer := &ca.Issuer{Store: st, Linter: g.Linter, Presign: g.Pre, Sealer: sealer, URLs: ca.URLs{Base: "http://pki.example.net"}, Log: g.Log, Now: time.Now}
	core := &ca.Core{Store: st, Issuer: issuer, CAs: g.CAs, Profiles: map[string]*ca.Profile{p.Name: prof}, Log: g.Log, Now: time.Now}
	return core, prof
}

// rawSigner is the raw reference: the key labelled label in the same
// token, through crypto11 directly with as many sessions, signing digest.
// close releases the crypto11 context.
func rawSigner(module, label string, sessions int, digest []byte) (sign func() error, close func()) {
	c11, err := crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: "bench", Pin: pin, MaxSessions: sessions})
	if err != nil {
		log.Fatal(err)
	}
	rawKey, err := c11.FindKeyPair(nil, []byte(label))
	if err != nil || rawKey == nil {
		log.Fatalf("raw key: %v", err)
	}
	sign = func() error { _, err := rawKey.Sign(rand.Reader, digest, crypto.SHA256); return err }
	return sign, func() { c11.Close() }
}

// tbsDigest is what the raw reference of the issuance benchmarks signs.
func tbsDigest() []byte {
	d := sha256.Sum256([]byte("tbs"))
	return d[:]
}

// latencies collects the durations of concurrent requests.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.d = nil
	l.mu.Unlock()
}

func (l *latencies) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// p50p99 returns the median and the 99th percentile.
func (l *latencies) p50p99() (time.Duration, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return percentile(l.d, 50), percentile(l.d, 99)
}

// timedRequest sends req with client, reads the whole response and, if its
// status is want, records the time it took in lats; any other status is
// an error naming what.
func timedRequest(client *http.Client, req *http.Request, want int, what string, lats *latencies) error {
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %d %s", what, resp.StatusCode, out.String())
	}
	lats.add(time.Since(t0))
	return nil
}
