// Package api is the REST API for operators and pipelines, mounted under
// /api/v1 on the HTTPS listener.
//
// It is a thin edge over the issuance core (package ca): a handler decodes
// JSON or query parameters, asks the core or the store, and encodes the
// answer. Policy lives in the core; this package only checks the shape of
// requests (fields, formats, scopes).
//
// # Authentication
//
// Every route takes a bearer token (RFC 6750) made by NewToken. The store
// holds only the SHA-256 of a token, so a request is authenticated by
// hashing its token and looking the hash up. Each route names one scope
// (issue, read, revoke, approve, admin); admin implies every other scope.
//
// # Errors
//
// Every error is an RFC 9457 problem document (application/problem+json),
// written by one function, problem, which maps an errs.Kind to an HTTP
// status. Client mistakes name the field or parameter; faults of ours are a
// 5xx with a generic detail, and the cause goes only to the log.
//
// # Wire formats
//
//   - Serials are lowercase hex without separators (ca.SerialHex). A serial
//     in a path may be typed in either case and with colons, as
//     `openssl x509 -text` prints it.
//   - Times are RFC 3339 in UTC (with fractional seconds where the store
//     keeps them), both in answers and in query parameters.
//   - Lists are paged by an opaque cursor that the store makes: an answer
//     carries next_cursor when there is a next page, and the client passes
//     it back unchanged as the cursor query parameter.
//   - Certificates are PEM; a chain is PEM certificates, issuing CA first
//     and root last.
package api

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/internal/ttlcache"
	"github.com/certgw/gateway/storage"
)

// Store is what the REST API reads and writes itself; issuance, revocation
// and bundles go through the core.
type Store interface {
	TokenByHash(ctx context.Context, hash []byte) (storage.Token, error)
	InsertToken(ctx context.Context, t storage.Token, audit storage.AuditEvent) error
	ListTokens(ctx context.Context) ([]storage.Token, error)
	DeleteToken(ctx context.Context, id string, audit storage.AuditEvent) error
	GetCertificate(ctx context.Context, serial string) (storage.Certificate, error)
	ListCertificates(ctx context.Context, f storage.CertificateFilter) ([]storage.Certificate, string, error)
	SetAutoRenew(ctx context.Context, serial string, enabled bool, audit storage.AuditEvent) error
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	ListCAs(ctx context.Context) ([]storage.CA, error)
	GetRequest(ctx context.Context, id string) (storage.Request, error)
	ListRequests(ctx context.Context, f storage.RequestFilter) ([]storage.Request, error)
	// The Idempotency-Keys of issuing requests (see idempotent).
	storage.IdempotencyStore
	// The notifications waiting for their webhook (GET /notifications).
	ListNotifications(ctx context.Context, limit int, givenUp bool) ([]storage.Notification, error)
	RetryNotification(ctx context.Context, id int64, at time.Time, lastErr string) (bool, error)
	// AppendAudit records what the API does besides issuance and
	// revocation (which the core audits): key exports and auto-renew
	// switches.
	AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error)
}

// Config holds the dependencies of the API.
type Config struct {
	Core  *ca.Core
	Store Store
	Log   *slog.Logger // nil discards
	Now   func() time.Time
	// RenewCA, if set, serves POST /cas/{name}/renew: it renews the CA
	// (ca.Hierarchy.Renew) and has this process serve the new certificate.
	RenewCA func(ctx context.Context, name string, validity time.Duration, actor string) (ca.Renewal, error)
	// RevokeCA, if set, serves POST /cas/{name}/revoke: it revokes the CA
	// (ca.Hierarchy.Revoke) and has this process stop issuing under it.
	RevokeCA func(ctx context.Context, name string, reason int, actor string) (ca.CARevocation, error)
	// CARequest, if set, serves GET /cas/{name}/csr: a certificate request
	// for the key of a CA an external CA certifies (ca.Hierarchy.Request).
	CARequest func(ctx context.Context, name string) ([]byte, error)
	// ImportCA, if set, serves POST /cas/{name}/certificate: it installs
	// the certificate an external CA issued (ca.Hierarchy.Import) and has
	// this process serve it.
	ImportCA func(ctx context.Context, name string, data []byte, actor string) (ca.Imported, error)
	// VerifyAudit, if set, serves GET /audit/verify: it checks the audit
	// trail against its seals with the audit key (ca.VerifyAudit).
	VerifyAudit func(ctx context.Context) (ca.AuditVerification, error)
	// ExportAudit, if set, serves GET /audit/export: it writes the audit
	// trail with its seals and the audit key's public key (ca.ExportAudit).
	ExportAudit func(ctx context.Context, w io.Writer) (events, checkpoints int, err error)
	// OIDC are the OpenID Connect issuers whose ID tokens are taken as
	// bearer tokens (api.oidc), fetched with OIDCClient (default: the
	// system's roots, 10-second timeouts).
	OIDC       []config.OIDCIssuer
	OIDCClient *http.Client
	// ClientCerts are the profiles whose client certificates stand for a
	// token (api.client_certs).
	ClientCerts []config.ClientCertAuth
	// Limiter, if set, is the issuance rate limit of each requester
	// (api.issuances_per_minute, see limitIssuance); nil: no limit.
	Limiter *ratelimit.Limiter
}

// API serves /api/v1.
type API struct {
	core        *ca.Core
	store       Store
	log         *slog.Logger
	now         func() time.Time
	renewCAFn   func(ctx context.Context, name string, validity time.Duration, actor string) (ca.Renewal, error)
	revokeCAFn  func(ctx context.Context, name string, reason int, actor string) (ca.CARevocation, error)
	caRequestFn func(ctx context.Context, name string) ([]byte, error)
	importCAFn  func(ctx context.Context, name string, data []byte, actor string) (ca.Imported, error)
	verifyAudit func(ctx context.Context) (ca.AuditVerification, error)
	exportAudit func(ctx context.Context, w io.Writer) (events, checkpoints int, err error)
	// oidc are the trusted OpenID Connect issuers, by their "iss".
	oidc map[string]*oidcIssuer
	// clientCerts, caPool and certs serve client certificate
	// authentication: the entries, the gateway's CAs as trust anchors,
	// and the inventory records of certificates seen lately.
	clientCerts []config.ClientCertAuth
	caPool      *ca.Derived[*x509.CertPool]
	certs       *ttlcache.Cache[string, storage.Certificate]
	// tokens are the tokens found in the store lately, by the SHA-256
	// of their secret (see authenticate).
	tokens *ttlcache.Cache[string, storage.Token]
	// revoked are the IDs of the tokens revoked through this API lately:
	// refused at once here, whatever a concurrent lookup put in tokens.
	revoked *ttlcache.Cache[string, struct{}]
	// limiter is nil without api.issuances_per_minute.
	limiter *ratelimit.Limiter
}

// tokenTTL is how long the API trusts a token it found in the store
// without asking again: a revoked token stops working within it on every
// replica (gateway token revoke, or the API of another replica), and at
// once on the replica whose API revoked it.
const tokenTTL = 10 * time.Second

// New returns the API over cfg. Now defaults to time.Now.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OIDCClient == nil {
		cfg.OIDCClient = &http.Client{Timeout: 10 * time.Second}
	}
	a := &API{core: cfg.Core, store: cfg.Store, log: cfg.Log, now: cfg.Now, renewCAFn: cfg.RenewCA, revokeCAFn: cfg.RevokeCA,
		caRequestFn: cfg.CARequest, importCAFn: cfg.ImportCA, verifyAudit: cfg.VerifyAudit, exportAudit: cfg.ExportAudit,
		tokens:  &ttlcache.Cache[string, storage.Token]{TTL: tokenTTL, Max: 1024},
		revoked: &ttlcache.Cache[string, struct{}]{TTL: tokenTTL, Max: 1024},
		oidc:    map[string]*oidcIssuer{}, clientCerts: cfg.ClientCerts,
		certs: &ttlcache.Cache[string, storage.Certificate]{TTL: tokenTTL, Max: 4096}}
	if cfg.Core != nil {
		a.caPool = ca.PoolOf(cfg.Core.CAs)
	}
	for _, o := range cfg.OIDC {
		a.oidc[o.Issuer] = &oidcIssuer{cfg: o, client: cfg.OIDCClient}
	}
	a.limiter = cfg.Limiter
	return a
}

// Scopes of the routes (see Scopes for the list a token may carry).
const (
	scopeIssue  = "issue"
	scopeRead   = "read"
	scopeRevoke = "revoke"
	scopeAdmin  = "admin"
	// scopeApprove decides enrollment requests held for approval.
	scopeApprove = "approve"
)

// Routes mounts the API under /api/v1. Each route and the scope it needs:
//
//	GET  /profiles                            read    the certificate profiles: rules and endpoints
//	POST /profiles/{profile}/certificates     issue   issue from a CSR or a generated key
//	GET  /profiles/{profile}/latest           issue   newest active bundle (with a held key)
//	GET  /certificates                        read    inventory, filtered and paged
//	GET  /certificates/{serial}               read    one certificate
//	GET  /certificates/{serial}/pem           read    certificate and chain
//	POST /certificates/{serial}/pkcs12        issue   PKCS#12 (with a held key)
//	POST /certificates/revoke                 revoke  revoke every active certificate a filter selects
//	POST /certificates/{serial}/revoke        revoke  revoke with an RFC 5280 reason
//	POST /blocked-keys                        revoke  block a key: nothing is issued for it any more
//	GET  /blocked-keys                        read    the blocked keys
//	POST /certificates/{serial}/release-hold  revoke  make a certificate on hold active again
//	POST /certificates/{serial}/auto-renew    admin   switch server-driven renewal
//	POST /certificates/{serial}/renew         issue   issue its successor now (same profile and names)
//	POST /profiles/{profile}/acme/eab         admin   a single-use ACME External Account Binding key
//	POST /profiles/{profile}/scep/challenges  issue   a one-time SCEP challengePassword
//	GET  /requests                            read    enrollment requests held for approval
//	GET  /requests/{id}                       read    one request, with its CSR
//	POST /requests/{id}/approve               approve approve a request: its certificate is issued
//	POST /requests/{id}/reject                approve reject a request with a reason
//	GET  /cas                                 read    the CAs and their certificates
//	POST /cas/{name}/renew                    admin   renew a CA's certificate (same key)
//	POST /cas/{name}/revoke                   admin   revoke a subordinate CA
//	GET  /cas/{name}/csr                      admin   a request for the key of a CA an external CA certifies
//	POST /cas/{name}/certificate              admin   install the certificate an external CA issued
//	POST /tokens                              admin   create an API token (its secret is answered once)
//	GET  /tokens                              admin   list API tokens (never a secret)
//	POST /tokens/{id}/revoke                  admin   revoke an API token
//	GET  /audit                               admin   audit trail
//	GET  /audit/verify                        admin   check the audit trail against its seals
//	GET  /audit/export                        admin   the audit trail, its seals and the audit key, for an auditor
//	POST /admin/reconcile                     admin   restore signed but unstored certificates
//	GET  /openapi.yaml, /openapi.json         none    this list as an OpenAPI 3.0 document
//
// Routes that can hand out a private key the gateway holds need the issue
// scope, not read: a read token sees the inventory but never a key.
func (a *API) Routes(r chi.Router) {
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(noStore)
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			a.problem(w, r, errs.New(errs.NotFound, "no route %s", r.URL.Path))
		})
		sub := r
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			// chi leaves Allow (RFC 9110 section 15.5.6) to a custom
			// handler; ask the router which methods the path takes.
			rel := strings.TrimPrefix(r.URL.Path, "/api/v1")
			var allow []string
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				if sub.Match(chi.NewRouteContext(), m, rel) {
					allow = append(allow, m)
				}
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			// Not an errs.Kind: no core error is about HTTP methods.
			writeProblem(w, Problem{Type: problemTypePrefix + "methodNotAllowed", Title: "Method not allowed",
				Status: http.StatusMethodNotAllowed, Detail: "method " + r.Method + " is not allowed on " + r.URL.Path})
		})

		r.Get("/openapi.{ext:yaml|json}", a.openAPI)
		r.With(a.require(scopeIssue), a.profileAllowed, a.idempotent, a.limitIssuance).Post("/profiles/{profile}/certificates", a.issue)
		r.With(a.require(scopeIssue), a.profileAllowed).Get("/profiles/{profile}/latest", a.latest)

		r.With(a.require(scopeRead)).Get("/profiles", a.profiles)
		r.With(a.require(scopeRead)).Get("/cas", a.cas)
		r.With(a.require(scopeAdmin)).Post("/cas/{name}/renew", a.renewCA)
		r.With(a.require(scopeAdmin)).Post("/cas/{name}/revoke", a.revokeCA)
		r.With(a.require(scopeAdmin)).Get("/cas/{name}/csr", a.caRequest)
		r.With(a.require(scopeAdmin)).Post("/cas/{name}/certificate", a.importCA)
		r.With(a.require(scopeRead)).Get("/certificates", a.list)
		r.With(a.require(scopeRead)).Get("/certificates/{serial}", a.get)
		r.With(a.require(scopeRead)).Get("/certificates/{serial}/pem", a.pem)
		r.With(a.require(scopeIssue)).Post("/certificates/{serial}/pkcs12", a.pkcs12)
		r.With(a.require(scopeRevoke)).Post("/certificates/revoke", a.bulkRevoke)
		r.With(a.require(scopeRevoke)).Post("/blocked-keys", a.blockKey)
		r.With(a.require(scopeRead)).Get("/blocked-keys", a.blockedKeys)
		r.With(a.require(scopeRevoke)).Post("/certificates/{serial}/revoke", a.revoke)
		r.With(a.require(scopeRevoke)).Post("/certificates/{serial}/release-hold", a.releaseHold)
		r.With(a.require(scopeAdmin)).Post("/certificates/{serial}/auto-renew", a.autoRenew)
		r.With(a.require(scopeIssue), a.idempotent, a.limitIssuance).Post("/certificates/{serial}/renew", a.renewCert)

		r.With(a.require(scopeRead)).Get("/requests", a.listRequests)
		r.With(a.require(scopeRead)).Get("/requests/{id}", a.getRequest)
		r.With(a.require(scopeApprove)).Post("/requests/{id}/approve", a.approveRequest)
		r.With(a.require(scopeApprove)).Post("/requests/{id}/reject", a.rejectRequest)

		r.With(a.require(scopeAdmin)).Post("/profiles/{profile}/acme/eab", a.createEAB)
		r.With(a.require(scopeIssue), a.profileAllowed).Post("/profiles/{profile}/scep/challenges", a.createSCEPChallenge)
		r.With(a.require(scopeAdmin)).Post("/tokens", a.createToken)
		r.With(a.require(scopeAdmin)).Get("/tokens", a.listTokens)
		r.With(a.require(scopeAdmin)).Post("/tokens/{id}/revoke", a.revokeToken)
		r.With(a.require(scopeAdmin)).Get("/audit", a.audit)
		r.With(a.require(scopeAdmin)).Get("/audit/verify", a.auditVerify)
		r.With(a.require(scopeAdmin)).Get("/audit/export", a.auditExport)
		r.With(a.require(scopeAdmin)).Get("/notifications", a.notifications)
		r.With(a.require(scopeAdmin)).Post("/notifications/{id}/retry", a.retryNotification)
		r.With(a.require(scopeAdmin)).Post("/admin/reconcile", a.reconcile)
	})
}

// noStore keeps answers, which may carry keys, out of every cache.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// serialParam reads the {serial} path parameter in its canonical form.
func serialParam(r *http.Request) (string, error) {
	v, err := ca.ParseSerialHex(chi.URLParam(r, "serial"))
	if err != nil {
		return "", err
	}
	return ca.SerialHex(v), nil
}

// certError words a store's NotFound for a certificate the way the API
// does, without the store's name; other errors pass unchanged.
func certError(serial string, err error) error {
	if errs.Is(err, errs.NotFound) {
		return errs.New(errs.NotFound, "no certificate has serial %s", serial)
	}
	return err
}
