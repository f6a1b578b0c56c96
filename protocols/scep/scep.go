// Package scep is the RFC 8894 (Simple Certificate Enrolment Protocol)
// server, mounted on the HTTP listener at /scep/PROFILE.
//
// Like EST it is a thin edge over the issuance core (package ca): a
// PKIOperation is opened, authenticated and turned into an IssueRequest,
// and the certificate goes back in a CertRep. The messages themselves
// (CMS signed and enveloped data, the SCEP attributes) are read and written
// with github.com/smallstep/scep, the library step-ca serves SCEP with.
//
// # The registration authority
//
// Devices encrypt their request to a certificate from GetCACert, and SCEP
// knows only RSA key transport, while the gateway's CAs may hold ECDSA
// keys. So each CA that serves SCEP has a registration authority (RA): an
// RSA key made in the token (label scep-ra-CA, sensitive, never
// extractable) that opens the envelopes and signs the CertReps, certified
// by the CA for digitalSignature and keyEncipherment. GetCACert answers
// the RA certificate first, then the CA chain; clients pick the RA as
// recipient by its keyEncipherment usage. See ra.go.
//
// # Operations
//
//	GET  /scep/P?operation=GetCACaps              capabilities (RFC 8894 3.5.2)
//	GET  /scep/P?operation=GetCACert              RA and CA certificates (4.2)
//	POST /scep/P?operation=PKIOperation           PKCSReq, RenewalReq (4.3)
//	GET  /scep/P?operation=PKIOperation&message=  the same, base64 in the URL
//
// /scep/P/pkiclient.exe is the same endpoint, for clients that append it.
//
// # Authentication
//
// A first enrollment (PKCSReq) carries in the CSR the profile's challenge
// password (scep.challenge_file) or a one-time challenge made for it
// (CreateChallenge); a renewal (RenewalReq) is signed with the
// certificate being renewed, which must be an active certificate of the
// same profile, and its CSR keeps that certificate's common name and SANs.
//
// # Errors
//
// A request the server can read and attribute gets a CertRep with
// pkiStatus FAILURE and a failInfo (badMessageCheck for an envelope or
// signature that does not open, badRequest for a refused request, badAlg
// for a key SCEP cannot answer); the reason goes to the log, since a CertRep
// has no room for text. Anything else is an HTTP status with a line of
// text: 400 for a message that does not parse, 404 for an unknown profile,
// 413 for an oversized body, 500 or 503 (Retry-After) for a fault of ours.
package scep

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/smallstep/pkcs7"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/protocols/internal/textanswer"
	"github.com/certgw/gateway/protocols/internal/throttle"
	"github.com/certgw/gateway/signer"
)

// ProfileSettings is the SCEP part of a profile.
type ProfileSettings struct {
	// Challenge is the static challengePassword of first enrollments;
	// empty: only one-time challenges (CreateChallenge).
	Challenge string
	// ChallengeWebhook, if set, decides on a challenge that is neither
	// the static one nor a one-time one (profiles[].scep.challenge_url).
	ChallengeWebhook *ChallengeWebhook
	// RevokeOnRenewal revokes (superseded) the certificate a RenewalReq
	// replaces.
	RevokeOnRenewal bool
}

// Config holds the dependencies of the SCEP server.
type Config struct {
	Core  *ca.Core
	Store Store
	// Challenges keeps one-time challenges.
	Challenges ChallengeStore
	Signer     signer.Signer
	// Profiles are the profiles served, by name; each must allow scep.
	Profiles map[string]ProfileSettings
	// MaxBodyBytes caps a PKIOperation (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// RAValidity is the lifetime of an RA certificate (0: a year, at most
	// the CA's); a new one is made RARenewBefore its end (0: 30 days).
	RAValidity, RARenewBefore time.Duration
	// Limiter, if set, is the issuance rate limit
	// (scep.issuances_per_minute, package ratelimit), by the CSR's
	// subject; more is a 429 with Retry-After, before a challenge is
	// spent. nil: no limit.
	Limiter *ratelimit.Limiter
	Log     *slog.Logger     // nil discards
	Now     func() time.Time // nil is time.Now
}

// DefaultMaxBodyBytes caps a PKIOperation: a CSR of an RSA 4096 key in two
// layers of CMS is a few KiB.
const DefaultMaxBodyBytes = 64 << 10

// Server serves /scep.
type Server struct {
	core       *ca.Core
	store      Store
	challenges ChallengeStore
	failed     *throttle.Failures // wrong challenges by client address
	log        *slog.Logger
	now        func() time.Time
	maxBody    int64
	limiter    *ratelimit.Limiter // nil: no limit
	profiles   map[string]*profileState
	// gateway holds every CA certificate of the gateway, the trust
	// anchors of the certificates renewals are signed with.
	gateway *ca.Derived[*x509.CertPool]
}

// profileState is a served profile.
type profileState struct {
	name string
	set  ProfileSettings
	ra   *raState
}

// capabilities is the GetCACaps answer (RFC 8894 section 3.5.2): renewal,
// the digests and ciphers the server reads, and POST.
const capabilities = "Renewal\nSHA-1\nSHA-256\nSHA-512\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation\n"

// New makes sure every CA that serves SCEP has a current RA, so that a
// token or store problem shows at start-up, and sets the CMS algorithms
// the answers use: SHA-256 signatures and AES-256-CBC envelopes (the
// library's defaults are SHA-1 and single DES, process-wide).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RAValidity == 0 {
		cfg.RAValidity = 365 * 24 * time.Hour
	}
	if cfg.RARenewBefore == 0 {
		cfg.RARenewBefore = 30 * 24 * time.Hour
	}
	if err := pkcs7.SetDefaultDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256); err != nil {
		return nil, err
	}
	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES256CBC
	s := &Server{
		core: cfg.Core, store: cfg.Store, challenges: cfg.Challenges, log: cfg.Log, now: cfg.Now, maxBody: cfg.MaxBodyBytes,
		limiter:  cfg.Limiter,
		profiles: map[string]*profileState{}, gateway: ca.PoolOf(cfg.Core.CAs),
		failed: &throttle.Failures{Max: maxChallengeFailures, Window: challengeFailureWindow, Shared: cfg.Store, Scope: "scep"},
	}
	ras := map[string]*raState{} // by CA: one RA serves every profile of its CA
	for name, set := range cfg.Profiles {
		p, ok := cfg.Core.Profiles[name]
		if !ok {
			return nil, errs.New(errs.Config, "scep: no profile %q", name)
		}
		if !p.Allows("scep") {
			return nil, errs.New(errs.Config, "scep: profile %q does not allow the scep method", name)
		}
		ra, ok := ras[p.CA]
		if !ok {
			a, ok := cfg.Core.CAs[p.CA]
			if !ok {
				return nil, errs.New(errs.Config, "scep: CA %q of profile %q is not loaded", p.CA, name)
			}
			ra = &raState{a: a, cfg: &cfg}
			ras[p.CA] = ra
		}
		if _, err := ra.current(ctx); err != nil {
			return nil, err
		}
		if set.Challenge == "" {
			s.log.Info("SCEP profile has no static challenge password: first enrollments need a one-time challenge", "profile", name)
		}
		s.profiles[name] = &profileState{name: name, set: set, ra: ra}
	}
	return s, nil
}

// Routes mounts /scep/{profile} and /scep/{profile}/pkiclient.exe.
func (s *Server) Routes(r chi.Router) {
	r.Route("/scep/{profile}", func(r chi.Router) {
		for _, path := range []string{"/", "/pkiclient.exe"} {
			r.Get(path, s.serve)
			r.Post(path, s.serve)
		}
	})
}

// serve dispatches on the operation parameter.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "profile")
	ps, ok := s.profiles[name]
	if !ok {
		s.fail(w, r, errs.New(errs.NotFound, "no SCEP service for profile %q", name))
		return
	}
	op := r.URL.Query().Get("operation")
	switch {
	case op == "GetCACaps" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, capabilities)
	case op == "GetCACert" && r.Method == http.MethodGet:
		ra, err := ps.ra.current(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-x509-ca-ra-cert")
		w.Write(ra.caCerts)
	case op == "PKIOperation":
		msg, err := s.readMessage(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.pkiOperation(w, r, ps, msg)
	case op == "":
		s.fail(w, r, errs.New(errs.Malformed, "the operation parameter is missing (GetCACaps, GetCACert or PKIOperation)"))
	case op == "GetCACaps" || op == "GetCACert":
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, op+" takes GET", http.StatusMethodNotAllowed)
	default:
		s.fail(w, r, errs.New(errs.Malformed, "operation %q is not supported (GetCACaps, GetCACert, PKIOperation)", op))
	}
}

// readMessage reads a PKIOperation's DER: the POST body, or the message
// parameter of a GET in base64 (RFC 8894 section 4.1, with or without URL
// escaping and padding).
func (s *Server) readMessage(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		if err != nil {
			return nil, err
		}
		if len(body) == 0 {
			return nil, errs.New(errs.Malformed, "the PKIOperation body is empty")
		}
		return body, nil
	}
	m := r.URL.Query().Get("message")
	if m == "" {
		return nil, errs.New(errs.Malformed, "a PKIOperation by GET needs the message parameter")
	}
	if int64(len(m)) > s.maxBody*4/3+4 {
		return nil, &http.MaxBytesError{Limit: s.maxBody}
	}
	m = strings.NewReplacer("\r", "", "\n", "", " ", "+").Replace(m)
	der, err := base64.StdEncoding.DecodeString(m)
	if err != nil {
		der, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(m, "="))
	}
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "the message parameter is not base64")
	}
	return der, nil
}

// fail answers err as an HTTP status and a line of text
// (textanswer.Fail), for what cannot be answered with a CertRep. It is the
// one place where an error of this package becomes an HTTP status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	textanswer.Fail(w, r, s.log, "SCEP", err)
}
