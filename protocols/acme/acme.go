// Package acme is the gateway's RFC 8555 server: one directory per profile
// that allows the "acme" method, at /acme/{profile}/directory.
//
// Design, after Boulder and Pebble:
//
//   - Every object (nonces included) lives in the store (Store, a subset of
//     storage.ACMEStore), so replicas behind one address serve one client.
//     Status changes are compare-and-set in the store: it arbitrates races
//     such as two finalize calls on one order or two validations of one
//     challenge.
//   - Handlers are methods on Server. A POST handler gets a verified
//     request (jws.go: as strict as Boulder's) and returns an object or an
//     error; the error becomes an RFC 8555 problem document in one place
//     (problems.go). Internal details never reach the client.
//   - Issuance and revocation go through the issuance core (CA); this
//     package decides nothing about names or keys beyond what RFC 8555
//     itself requires (identifiers of an order equal to the CSR's names).
//   - Challenge validation (validate.go) runs asynchronously with a timeout
//     and, unless allowed, refuses private and loopback targets.
//   - Authorizations are never reused: each order gets fresh ones, so an
//     authorization belongs to one account and one order.
package acme

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
)

// Store is what the ACME server keeps in the store.
type Store interface {
	InsertACMENonce(ctx context.Context, nonce string, expires time.Time) error
	ConsumeACMENonce(ctx context.Context, nonce string, now time.Time) (bool, error)
	InsertACMEAccount(ctx context.Context, a storage.ACMEAccount) error
	GetACMEAccount(ctx context.Context, id string) (storage.ACMEAccount, error)
	ACMEAccountByThumbprint(ctx context.Context, profile, thumbprint string) (storage.ACMEAccount, error)
	UpdateACMEAccount(ctx context.Context, a storage.ACMEAccount) error
	GetACMEEABKey(ctx context.Context, keyID string) (storage.ACMEEABKey, error)
	InsertACMEOrder(ctx context.Context, o storage.ACMEOrder, authzs []storage.ACMEAuthz) error
	GetACMEOrder(ctx context.Context, id string) (storage.ACMEOrder, error)
	ListACMEOrders(ctx context.Context, accountID, after string, now time.Time, limit int) ([]string, error)
	CountACMEOrders(ctx context.Context, accountID string, since time.Time) (int, error)
	CountIssuedACMEOrders(ctx context.Context, profile string, ids []storage.ACMEIdentifier, since time.Time) (int, time.Time, error)
	CountFailedACMEValidations(ctx context.Context, accountID string, id storage.ACMEIdentifier, since time.Time) (int, time.Time, error)
	SetACMEOrderStatus(ctx context.Context, id, from, to string, errDoc []byte, certSerial string) (bool, error)
	ClaimACMEOrder(ctx context.Context, id string, now time.Time) (bool, error)
	StaleACMEOrders(ctx context.Context, before time.Time, limit int) ([]string, error)
	GetACMEAuthz(ctx context.Context, id string) (storage.ACMEAuthz, error)
	ACMEOrderAuthzs(ctx context.Context, orderID string) ([]storage.ACMEAuthz, error)
	SetACMEAuthzStatus(ctx context.Context, id, from, to string) (bool, error)
	GetACMEChallenge(ctx context.Context, id string) (storage.ACMEChallenge, error)
	SetACMEChallengeStatus(ctx context.Context, id, from, to string, validated time.Time, errDoc []byte) (bool, error)
	StartACMEValidation(ctx context.Context, id string, at time.Time) (bool, error)
	StaleACMEChallenges(ctx context.Context, before time.Time, limit int) ([]storage.ACMEChallengeRef, error)
	RecordACMEValidation(ctx context.Context, challengeID, authzID, orderID string, valid bool, validated time.Time, problem []byte) (orderReady bool, err error)
	MarkRenewed(ctx context.Context, oldSerial, newSerial string) error
}

var _ Store = storage.Store(nil)

// CA is what the ACME server asks of the issuance core.
type CA interface {
	Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error)
	Revoke(ctx context.Context, serial string, reason int, requester string) error
	Bundle(ctx context.Context, serial string) (*ca.Bundle, error)
	CheckNames(profile string, n ca.Names) error
	CheckKeyBlocked(ctx context.Context, pub crypto.PublicKey) error
}

var _ CA = (*ca.Core)(nil)

// Config is what New needs.
type Config struct {
	Store      Store
	CA         CA
	Profiles   map[string]*ca.Profile
	Validation config.ACMEValidation
	Settings   Settings
	Log        *slog.Logger
	Now        func() time.Time
}

// Server is the ACME server of every profile that allows "acme".
type Server struct {
	store    Store
	ca       CA
	profiles map[string]*ca.Profile
	set      Settings
	val      validator
	caa      *caaChecker // nil: CAA is not checked
	log      *slog.Logger
	now      func() time.Time

	validating jobs // challenge validations running here
	finalizing jobs // issuances by external CAs running here, by order
}

// New builds a Server. Zero Settings fields take their defaults.
func New(c Config) *Server {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	set := c.Settings.withDefaults()
	return &Server{
		store: c.Store, ca: c.CA, profiles: c.Profiles, set: set, log: c.Log, now: c.Now,
		val: newValidator(c.Validation, set), caa: newCAAChecker(c.Validation.CAAIdentities, c.Validation.Resolver),
	}
}

// Routes mounts the directories of all ACME profiles.
func (s *Server) Routes(r chi.Router) {
	r.Route("/acme/{profile}", func(r chi.Router) {
		r.Use(s.profileOnly)
		r.Get("/directory", s.directory)
		r.Head("/new-nonce", s.newNonce)
		r.Get("/new-nonce", s.newNonce)
		r.Post("/new-account", s.post(authJWK, s.newAccount))
		r.Post("/acct/{id}", s.post(authKID, s.account))
		r.Post("/acct/{id}/orders", s.post(authKID, s.accountOrders))
		r.Post("/key-change", s.post(authKID, s.keyChange))
		r.Post("/new-order", s.post(authKID, s.newOrder))
		r.Post("/order/{id}", s.post(authKID, s.getOrder))
		r.Post("/order/{id}/finalize", s.post(authKID, s.finalize))
		r.Post("/authz/{id}", s.post(authKID, s.authz))
		r.Post("/chall/{id}", s.post(authKID, s.challenge))
		r.Post("/cert/{id}", s.post(authKID, s.certificate))
		r.Post("/revoke-cert", s.post(authEither, s.revokeCert))
		r.Get("/renewal-info/{id}", s.renewalInfo)
	})
}

// profileOnly answers 404 for a profile that does not exist or does not
// allow ACME, so nothing below has to check.
func (s *Server) profileOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.profiles[chi.URLParam(r, "profile")]
		if !ok || !p.Allows("acme") {
			s.writeError(w, r, probNotFound("no ACME directory here"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// baseURL is the directory's prefix as the client sees it. The JWS "url"
// header must match it exactly (RFC 8555 section 6.4).
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host + "/acme/" + chi.URLParam(r, "profile")
}

func requestURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	if r.URL.RawQuery != "" {
		return scheme + "://" + r.Host + r.URL.Path + "?" + r.URL.RawQuery
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// randomID is 128 random bits, base64url: IDs of objects and nonces.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// token is a challenge token: 256 random bits (RFC 8555 section 8.1
// asks for at least 128).
func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
