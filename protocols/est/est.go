// Package est is the RFC 7030 (Enrollment over Secure Transport) server,
// mounted on the HTTPS listener under /.well-known/est.
//
// Like the REST API it is a thin edge over the issuance core (package ca):
// a handler authenticates the client, decodes the base64 PKCS#10 body, asks
// the core, and encodes the answer as a base64 certs-only PKCS#7. Policy
// (names, key types, validity, whether the gateway may generate keys) is the
// core's; this package adds only what EST itself defines: who may enroll,
// what a re-enrollment must keep, channel binding.
//
// # URLs
//
// Every profile that allows the "est" method is served at
// /.well-known/est/PROFILE/{cacerts,csrattrs,simpleenroll,simplereenroll,
// serverkeygen}, and Settings.DefaultProfile also without the label
// (RFC 7030 section 3.2.2).
//
// # Authentication
//
// cacerts and csrattrs are public (RFC 7030 sections 4.1.1 and 4.5.1).
// simpleenroll and serverkeygen accept, per profile, HTTP Basic with a
// credential stored as an argon2id hash, a TLS client certificate, or both
// (see ProfileSettings). A client certificate counts when it chains to one
// of the gateway's CAs and is an active certificate of the same profile in
// the inventory, or when it chains to one of the profile's bootstrap CAs
// (manufacturer certificates). simplereenroll always needs the certificate
// being renewed as the TLS client certificate (RFC 7030 section 4.2.2).
//
// # Profiles backed by an external ACME CA
//
// They are served too (see upstreamCACerts, ownCertificate and
// Settings.UpstreamWait): the device's CSR becomes an order at that CA,
// answered 202 while the CA validates; the inventory stands in for the
// CA's chain when a client certificate of that CA is checked.
//
// The TLS listener only requests client certificates (tls.RequestClientCert,
// no ClientCAs), so that ACME and REST clients, which have none, are not
// affected, and so that a certificate from an unknown CA is answered with a
// 401 naming the problem rather than a failed handshake. Chains are verified
// here, in the handler, against the gateway's CAs and the bootstrap CAs.
//
// # Errors
//
// Every error is an HTTP status with a line of plain text (RFC 7030 section
// 4.2.3), written by one function, fail, which maps an errs.Kind to the
// status. A client's mistake names the problem; a fault of ours is a 500 or
// 503 whose cause goes only to the log.
package est

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/internal/ttlcache"
	"github.com/certgw/gateway/protocols/internal/textanswer"
	"github.com/certgw/gateway/protocols/internal/throttle"
	"github.com/certgw/gateway/storage"
)

// Store is what the EST server reads and writes itself; issuance and
// revocation go through the core.
type Store interface {
	GetESTCredential(ctx context.Context, profile, username string) (storage.ESTCredential, error)
	GetCertificate(ctx context.Context, serial string) (storage.Certificate, error)
	// The chain of the newest certificate of a profile backed by an
	// external CA is its cacerts answer (upstreamCACerts).
	LatestCertificate(ctx context.Context, profile string, now time.Time) (storage.Certificate, error)
	// Wrong passwords are counted in the store, so every replica sees
	// them (throttle.Shared).
	throttle.Shared
}

// Config holds the dependencies of the EST server.
type Config struct {
	Core     *ca.Core
	Store    Store
	Settings Settings
	// Limiter, if set, is the issuance rate limit
	// (est.issuances_per_minute, package ratelimit): an EST user or
	// client certificate is counted by simpleenroll and serverkeygen, a
	// certificate's subject by simplereenroll (a device that renews in a
	// loop renews a new certificate each time); more is a 429 with
	// Retry-After. nil: no limit.
	Limiter *ratelimit.Limiter
	Log     *slog.Logger     // nil discards
	Now     func() time.Time // nil is time.Now
}

// Server serves /.well-known/est.
type Server struct {
	core     *ca.Core
	store    Store
	log      *slog.Logger
	now      func() time.Time
	profiles map[string]*profileState
	deflt    string
	maxBody  int64
	// upstreamWait is Settings.UpstreamWait.
	upstreamWait time.Duration
	// limiter is Config.Limiter.
	limiter *ratelimit.Limiter
	// gateway holds every CA certificate of the gateway, as trust anchors
	// for client certificates the gateway issued.
	gateway *ca.Derived[*x509.CertPool]
	// hashSlots bounds the argon2id checks running at once: each takes 19
	// MiB, and a flood of wrong passwords must not take the memory.
	hashSlots chan struct{}
	verified  *verifiedCache
	// failed counts wrong passwords by profile and client address.
	failed *throttle.Failures
	// creds are the password hashes found in the store lately, by
	// profile and user (see basicAuth).
	creds     *ttlcache.Cache[credKey, string]
	dummyHash string
	// chains are the cacerts answers of profiles backed by an external
	// CA, by profile (upstreamCACerts).
	chains *ttlcache.Cache[string, []byte]
}

// credKey names an EST user of a profile.
type credKey struct{ profile, user string }

// Wrong passwords for one profile from one client address are throttled
// (basicAuth), so that a password an operator chose cannot be guessed at
// line speed and guesses cannot keep the CPUs busy with argon2id. Each
// replica counts its own.
const (
	maxPasswordFailures   = 10
	passwordFailureWindow = 10 * time.Minute
)

// credTTL is how long the server trusts a password hash it found in the
// store without asking again: a deleted user (gateway est user delete)
// stops working within it, on every replica.
const credTTL = 10 * time.Second

// chainTTL is how long the cacerts answer of a profile backed by an
// external CA is kept before the inventory is read again.
const chainTTL = time.Minute

// New checks the settings against the core's profiles, loads bootstrap CAs
// and prepares the cacerts and csrattrs answers of each profile.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	profiles, err := compile(cfg.Settings, cfg.Core.Profiles, cfg.Core.CAs)
	if err != nil {
		return nil, err
	}
	s := &Server{
		core: cfg.Core, store: cfg.Store, log: cfg.Log, now: cfg.Now, profiles: profiles,
		deflt: cfg.Settings.DefaultProfile, maxBody: cfg.Settings.MaxBodyBytes,
		gateway:   ca.PoolOf(cfg.Core.CAs),
		hashSlots: make(chan struct{}, max(2, runtime.NumCPU())),
		verified:  newVerifiedCache(10000),
		failed:    &throttle.Failures{Max: maxPasswordFailures, Window: passwordFailureWindow, Shared: cfg.Store, Scope: "est"},
		creds:     &ttlcache.Cache[credKey, string]{TTL: credTTL, Max: 10000},
		chains:    &ttlcache.Cache[string, []byte]{TTL: chainTTL, Max: len(profiles)},
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.limiter = cfg.Limiter
	if s.upstreamWait = cfg.Settings.UpstreamWait; s.upstreamWait == 0 {
		s.upstreamWait = DefaultUpstreamWait
	}
	for _, ps := range profiles {
		if a := ps.authority; a != nil {
			ps.cacerts = ca.NewDerived(func() ([]byte, error) { return certsOnly(a.Full()...) }, a)
			if _, err := ps.cacerts.Get(); err != nil {
				return nil, err
			}
		}
		if ps.csrattrs, err = csrAttrs(ps); err != nil {
			return nil, err
		}
	}
	if s.dummyHash, err = HashPassword("no such user"); err != nil {
		return nil, err
	}
	return s, nil
}

// opMethod is the one method an operation answers.
func opMethod(op string) string {
	switch op {
	case "cacerts", "csrattrs":
		return http.MethodGet
	}
	return http.MethodPost
}

// Routes mounts the EST operations (RFC 7030 section 3.2.2):
//
//	GET  /.well-known/est[/PROFILE]/cacerts         public   CA certificates (4.1)
//	GET  /.well-known/est[/PROFILE]/csrattrs        public   attributes the profile wants (4.5)
//	POST /.well-known/est[/PROFILE]/simpleenroll    auth     enroll a CSR (4.2.1)
//	POST /.well-known/est[/PROFILE]/simplereenroll  old cert renew a certificate (4.2.2)
//	POST /.well-known/est[/PROFILE]/serverkeygen    auth     enroll with a key the gateway makes (4.4)
//	POST /.well-known/est[/PROFILE]/fullcmc         -        501: Full CMC (4.3, optional) is not served
func (s *Server) Routes(r chi.Router) {
	r.Route("/.well-known/est", func(r chi.Router) {
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, "", errs.New(errs.NotFound, "no EST operation at %s", r.URL.Path))
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			op := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			w.Header().Set("Allow", opMethod(op))
			http.Error(w, "method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+opMethod(op), http.StatusMethodNotAllowed)
		})
		ops := func(r chi.Router) {
			r.Get("/cacerts", s.serve(s.cacerts))
			r.Get("/csrattrs", s.serve(s.csrattrsHandler))
			r.Post("/simpleenroll", s.serve(s.simpleenroll))
			r.Post("/simplereenroll", s.serve(s.simplereenroll))
			r.Post("/serverkeygen", s.serve(s.serverkeygen))
			r.Post("/fullcmc", notServed)
		}
		ops(r)
		r.Route("/{label}", ops)
	})
}

// serve resolves the profile of the URL (the label, or the default
// profile) before the handler runs.
func (s *Server) serve(h func(http.ResponseWriter, *http.Request, *profileState)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "label")
		if name == "" {
			if s.deflt == "" {
				s.fail(w, r, "", errs.New(errs.NotFound, "no default EST profile here: use /.well-known/est/PROFILE/..."))
				return
			}
			name = s.deflt
		}
		ps, ok := s.profiles[name]
		if !ok {
			s.fail(w, r, "", errs.New(errs.NotFound, "no EST service for profile %q", name))
			return
		}
		h(w, r, ps)
	}
}

// fail writes err as EST does: a status and a line of text
// (textanswer.Fail). It is the one place where an error of this package
// becomes an HTTP status. profile names the realm of a 401's challenge.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, profile string, err error) {
	if errs.KindOf(err) == errs.Unauthorized {
		// RFC 9110 section 15.5.2: a 401 carries a challenge. HTTP Basic
		// is the only scheme; TLS client authentication has none.
		w.Header().Set("WWW-Authenticate", `Basic realm="EST `+profile+`", charset="UTF-8"`)
	}
	textanswer.Fail(w, r, s.log, "EST", err)
}

// notServed answers the optional Full CMC operation (RFC 7030 section 4.3)
// with 501, which tells a client that tries it first to fall back on the
// simple operations, rather than a 404 that reads like a wrong URL.
func notServed(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "Full CMC (RFC 7030 section 4.3) is not served here; use simpleenroll, simplereenroll or serverkeygen", http.StatusNotImplemented)
}
