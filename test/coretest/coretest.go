// Package coretest builds, for tests, the issuance core the gateway runs
// on: a root and an issuing CA created by ca.Hierarchy over the software
// signer, the gateway's lint gate (the default and private-PKI exclusions),
// a ca.Sealer with a random key-encryption key, the compiled profiles, and a
// *ca.Core whose Issuer writes to the given store.
//
// It exists so that the fixtures of the ca, api, ACME, EST and OCSP tests
// build that core one way instead of each repeating the same thirty lines;
// each fixture keeps only what is its own (its clock, its server, its
// wrappers around the store or the signer).
package coretest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// PublicURL is the public URL of an environment unless Options says
// otherwise.
const PublicURL = "http://pki.example.net"

// Options adjusts an environment. The zero value is a usable default: the
// CAs of DefaultCAs, PublicURL, no profiles, time.Now and a discarded log.
type Options struct {
	// PublicURL is the gateway's public URL, the base of the URLs in
	// certificates. "" means PublicURL.
	PublicURL string
	// CAs is the hierarchy to create; nil means DefaultCAs().
	CAs []config.CA
	// Profiles are compiled into the core, by name.
	Profiles []config.Profile
	// Now is the clock of the hierarchy, the core and the issuer; nil
	// means time.Now.
	Now func() time.Time
	// Log is the log of every part; nil discards it.
	Log *slog.Logger
	// WrapSigner, if set, wraps the software signer before the hierarchy
	// uses it (to count or fail signatures).
	WrapSigner func(signer.Signer) signer.Signer
	// CoreStore, if set, is the store of the core and its issuer in place
	// of the store given to New (which still holds the hierarchy).
	CoreStore storage.Store
}

// Env is a built core and the parts it is made of.
type Env struct {
	Core     *ca.Core
	CAs      map[string]*ca.Authority // by CA name, as Core.CAs
	Signer   signer.Signer            // after Options.WrapSigner
	Linter   *ca.Linter
	Sealer   *ca.Sealer
	Profiles map[string]*ca.Profile // by profile name, as Core.Profiles
	Config   *config.Config
	// Hierarchy created and loaded CAs (to renew and reload them).
	Hierarchy *ca.Hierarchy
}

// DefaultCAs is a root ("root", ECDSA P-384, ten years) and an issuing CA
// under it ("issuing", ECDSA P-256, five years). Each call returns a new
// slice, which the caller may edit.
func DefaultCAs() []config.CA {
	return []config.CA{
		{Name: "root", Key: config.Key{Type: "ecdsa-p384", Label: "root"}, Validity: config.Duration(10 * 365 * 24 * time.Hour),
			Subject: config.Subject{CommonName: "Root", Organization: "Example", Country: "DE"}},
		{Name: "issuing", Parent: "root", Key: config.Key{Type: "ecdsa-p256", Label: "issuing"}, Validity: config.Duration(5 * 365 * 24 * time.Hour),
			Subject: config.Subject{CommonName: "Issuing", Organization: "Example", Country: "DE"}},
	}
}

// Linter is the gateway's default lint gate for a private PKI, sources
// and lints left out as `gateway serve` leaves them out by default. (With
// the Chrome source on, every certificate with the default serverAuth and
// clientAuth whose validity starts after 2027-03-15 would fail.)
func Linter(t testing.TB) *ca.Linter {
	t.Helper()
	l, err := ca.NewLinter(ca.PrivatePKIExcludedSources(), append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// New creates the hierarchy of opts in st with a software signer under a
// temporary directory, loads it, and returns a core over it. It fails t on
// any error.
func New(t testing.TB, st storage.Store, opts Options) *Env {
	t.Helper()
	ctx := context.Background()
	if opts.PublicURL == "" {
		opts.PublicURL = PublicURL
	}
	if opts.CAs == nil {
		opts.CAs = DefaultCAs()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	coreStore := opts.CoreStore
	if coreStore == nil {
		coreStore = st
	}
	cfg := &config.Config{
		Listen:   config.Listen{PublicURL: opts.PublicURL},
		CAs:      opts.CAs,
		Profiles: opts.Profiles,
	}
	var sg signer.Signer
	sw, err := signer.NewSoftware(filepath.Join(t.TempDir(), "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sg = sw
	if opts.WrapSigner != nil {
		sg = opts.WrapSigner(sg)
	}
	linter := Linter(t)
	pre := ca.NewPresigner()
	h := &ca.Hierarchy{Config: cfg, Signer: sg, Store: st, Linter: linter, Presign: pre, Log: opts.Log, Now: opts.Now}
	if _, err := h.Init(ctx); err != nil {
		t.Fatal(err)
	}
	cas, err := h.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	sealer, err := ca.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	compiled := map[string]*ca.Profile{}
	for _, p := range opts.Profiles {
		cp, err := ca.CompileProfile(p)
		if err != nil {
			t.Fatalf("profile %s: %v", p.Name, err)
		}
		compiled[p.Name] = cp
	}
	core := &ca.Core{
		Store: coreStore, CAs: cas, Profiles: compiled, Log: opts.Log, Now: opts.Now,
		Issuer: &ca.Issuer{Store: coreStore, Linter: linter, Presign: pre, Sealer: sealer,
			URLs: ca.URLs{Base: opts.PublicURL}, Log: opts.Log, Now: opts.Now},
	}
	return &Env{Core: core, CAs: cas, Signer: sg, Linter: linter, Sealer: sealer, Profiles: compiled, Config: cfg, Hierarchy: h}
}

// CountCertificates is the number of certificates in st, in any state, for
// tests that check a refused request stored nothing.
func CountCertificates(t testing.TB, st storage.Store) int {
	t.Helper()
	certs, _, err := st.ListCertificates(context.Background(), storage.CertificateFilter{Limit: storage.MaxCertificateLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(certs)
}
