// Package upstream drives external ACME CAs (Let's Encrypt, ZeroSSL,
// step-ca, Vault...) as an ACME client, with lego, so that profiles can be
// backed by them: the core applies the profile, then asks a Client
// (ca.Upstream) for the certificate, and records what comes back in the
// inventory like any other certificate.
//
// The account key is a software key, since lego signs its JWS with
// in-memory keys only. It is made once, sealed under the gateway's
// key-encryption key (the keystore of server-generated keys) and kept in
// the store, so every replica uses the one account.
//
// Challenges: http-01 tokens go to the store and every replica answers
// them on its HTTP listener (/.well-known/acme-challenge/TOKEN), so the
// CA may reach any replica; dns-01 records are published through RFC 2136
// dynamic updates or an operator's program.
package upstream

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Store is what a Client needs of the store.
type Store interface {
	UpstreamAccount(ctx context.Context, upstream, directory string) (storage.UpstreamAccount, error)
	InsertUpstreamAccount(ctx context.Context, a storage.UpstreamAccount, audit storage.AuditEvent) error
	PutHTTP01(ctx context.Context, token, keyAuth string, expires time.Time) error
	DeleteHTTP01(ctx context.Context, token string, now time.Time) error
}

// Sealer keeps the account key encrypted at rest (ca.Sealer).
type Sealer interface {
	Seal(id string, plaintext []byte) ([]byte, error)
	Open(id string, sealed []byte) ([]byte, error)
}

// Config is one external CA.
type Config struct {
	Name         string
	DirectoryURL string
	Email        string
	// RootCerts (roots_file) verify the directory's TLS certificate
	// (none: the system's roots) and, for a private ACME CA, hold the root
	// its certificates chain to (Client.Roots).
	RootCerts []*x509.Certificate
	// EABKID and EABHMAC (base64url) bind a new account (RFC 8555
	// section 7.3.4).
	EABKID, EABHMAC string
	// ACMEProfile names one of the CA's certificate profiles
	// (draft-ietf-acme-profiles).
	ACMEProfile string
	// DNS01, if set, solves dns-01 challenges instead of http-01 ones,
	// with DNSOptions (resolvers, propagation checks).
	DNS01      challenge.Provider
	DNSOptions []dns01.ChallengeOption
	// Timeout bounds one issuance.
	Timeout time.Duration
}

// Client is one external CA, safe for concurrent use. It satisfies
// ca.Upstream.
type Client struct {
	cfg    Config
	roots  *x509.CertPool // of cfg.RootCerts; nil: the system's
	store  Store
	sealer Sealer
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	account *account // nil until the first issuance
}

var (
	_ ca.Upstream      = (*Client)(nil)
	_ ca.UpstreamRoots = (*Client)(nil)
)

// Roots are the self-signed CA certificates of roots_file: for a private
// ACME CA (step-ca, Vault, EJBCA), the root its certificates chain to,
// which its ACME chains leave out.
func (c *Client) Roots() []*x509.Certificate {
	var out []*x509.Certificate
	for _, r := range c.cfg.RootCerts {
		if r.IsCA && bytes.Equal(r.RawIssuer, r.RawSubject) && r.CheckSignatureFrom(r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// New returns a Client. It does not talk to the CA: the account is found
// or registered at the first issuance, so the gateway starts when the CA
// cannot be reached.
func New(cfg Config, st Store, sealer Sealer, log *slog.Logger, now func() time.Time) (*Client, error) {
	if sealer == nil {
		return nil, errs.New(errs.Config, "upstream %s: the account key needs the keystore's key-encryption key", cfg.Name)
	}
	c := &Client{cfg: cfg, store: st, sealer: sealer, log: log, now: now}
	if len(cfg.RootCerts) > 0 {
		c.roots = x509.NewCertPool()
		for _, r := range cfg.RootCerts {
			c.roots.AddCert(r)
		}
	}
	return c, nil
}

// account is the gateway's account at the CA: lego's registration.User.
type account struct {
	email string
	key   crypto.Signer
	reg   *registration.Resource
}

func (a *account) GetEmail() string                        { return a.email }
func (a *account) GetRegistration() *registration.Resource { return a.reg }
func (a *account) GetPrivateKey() crypto.PrivateKey        { return a.key }

// sealID is what the account key's sealing is bound to.
func (c *Client) sealID() string { return SealID(c.cfg.Name) }

// SealID is what an upstream's account key is sealed for (the additional
// data of ca.Sealer), as a certificate's key is for its serial.
func SealID(upstream string) string { return "upstream-account:" + upstream }

// Obtain implements ca.Upstream.
func (c *Client) Obtain(ctx context.Context, csr *x509.CertificateRequest, replaces *x509.Certificate) (*x509.Certificate, []*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cl, err := c.accountClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	if c.cfg.DNS01 != nil {
		err = cl.Challenge.SetDNS01Provider(c.cfg.DNS01, c.cfg.DNSOptions...)
	} else {
		err = cl.Challenge.SetHTTP01Provider(&http01Provider{ctx: ctx, store: c.store, expires: c.now().Add(c.cfg.Timeout), now: c.now})
	}
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "upstream %s: challenge provider", c.cfg.Name)
	}
	req := certificate.ObtainForCSRRequest{CSR: csr, Bundle: true, Profile: c.cfg.ACMEProfile}
	if replaces != nil {
		// lego names it only to a CA that serves renewal information, and
		// orders again without it if the CA says it was replaced already.
		if req.ReplacesCertID, err = certificate.MakeARICertID(replaces); err != nil {
			c.log.Warn("renewal does not name the certificate it replaces", "upstream", c.cfg.Name, "err", err)
		}
	}
	res, err := cl.Certificate.ObtainForCSR(req)
	if err != nil {
		return nil, nil, c.refusal(err, "issue")
	}
	certs, err := ca.ParsePEMCertificates(res.Certificate)
	if err == nil && len(certs) == 1 && len(res.IssuerCertificate) > 0 {
		var issuer []*x509.Certificate
		issuer, err = ca.ParsePEMCertificates(res.IssuerCertificate)
		certs = append(certs, issuer...)
	}
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "upstream %s: certificate from %s", c.cfg.Name, res.CertURL)
	}
	return certs[0], certs[1:], nil
}

// Revoke implements ca.Upstream.
func (c *Client) Revoke(ctx context.Context, cert *x509.Certificate, reason int) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cl, err := c.accountClient(ctx)
	if err != nil {
		return err
	}
	r := uint(reason)
	err = cl.Certificate.RevokeWithReason(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), &r)
	var prob *acme.ProblemDetails
	if errors.As(err, &prob) && prob.Type == "urn:ietf:params:acme:error:alreadyRevoked" {
		return nil
	}
	if err != nil {
		return c.refusal(err, "revoke")
	}
	return nil
}

// accountClient is a lego client for one operation under the account.
func (c *Client) accountClient(ctx context.Context) (*lego.Client, error) {
	acct, err := c.ensureAccount(ctx)
	if err != nil {
		return nil, err
	}
	return c.legoClient(ctx, acct)
}

// ensureAccount returns the account, reading it from the store or, the
// first time, registering it.
func (c *Client) ensureAccount(ctx context.Context) (*account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.account != nil {
		return c.account, nil
	}
	a, err := c.storedAccount(ctx)
	if errs.Is(err, errs.NotFound) {
		a, err = c.register(ctx)
		if errs.Is(err, errs.Conflict) { // another replica registered first
			a, err = c.storedAccount(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	c.account = a
	return a, nil
}

func (c *Client) storedAccount(ctx context.Context) (*account, error) {
	rec, err := c.store.UpstreamAccount(ctx, c.cfg.Name, c.cfg.DirectoryURL)
	if err != nil {
		return nil, err
	}
	p, err := c.sealer.Open(c.sealID(), rec.KeyPEM)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "upstream %s: account key", c.cfg.Name)
	}
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, errs.New(errs.Internal, "upstream %s: account key is not PEM", c.cfg.Name)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "upstream %s: account key", c.cfg.Name)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, errs.New(errs.Internal, "upstream %s: account key %T cannot sign", c.cfg.Name, k)
	}
	return &account{email: c.cfg.Email, key: key, reg: &registration.Resource{URI: rec.URL}}, nil
}

// register makes a key, registers it with the CA (agreeing to its terms,
// as the configuration says the operator does) and stores it sealed.
func (c *Client) register(ctx context.Context) (*account, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "upstream %s: account key", c.cfg.Name)
	}
	a := &account{email: c.cfg.Email, key: key}
	cl, err := c.legoClient(ctx, a)
	if err != nil {
		return nil, err
	}
	if c.cfg.EABKID != "" {
		a.reg, err = cl.Registration.RegisterWithExternalAccountBinding(registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: c.cfg.EABKID, HmacEncoded: c.cfg.EABHMAC,
		})
	} else {
		a.reg, err = cl.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return nil, c.refusal(err, "register an account")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "upstream %s: account key", c.cfg.Name)
	}
	sealed, err := c.sealer.Seal(c.sealID(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return nil, err
	}
	now := c.now()
	err = c.store.InsertUpstreamAccount(ctx, storage.UpstreamAccount{
		Upstream: c.cfg.Name, Directory: c.cfg.DirectoryURL, URL: a.reg.URI, KeyPEM: sealed, CreatedAt: now,
	}, storage.AuditEvent{At: now, Actor: "gateway", Action: "upstream-account", Detail: fmt.Sprintf("upstream=%s directory=%s account=%s", c.cfg.Name, c.cfg.DirectoryURL, a.reg.URI)})
	if err != nil {
		return nil, err
	}
	c.log.Info("registered an account at the external CA", "upstream", c.cfg.Name, "account", a.reg.URI)
	return a, nil
}

// legoClient is a lego client for one operation: its HTTP requests carry
// ctx, so a caller that gives up stops it at its next request.
func (c *Client) legoClient(ctx context.Context, a *account) (*lego.Client, error) {
	lc := lego.NewConfig(a)
	lc.CADirURL = c.cfg.DirectoryURL
	lc.UserAgent = "certgw-gateway"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: c.roots, MinVersion: tls.VersionTLS12}
	lc.HTTPClient = &http.Client{Transport: ctxTransport{ctx: ctx, next: tr}, Timeout: 30 * time.Second}
	lc.Certificate.Timeout = c.cfg.Timeout
	cl, err := lego.NewClient(lc)
	if err != nil {
		return nil, c.refusal(err, "read the directory")
	}
	return cl, nil
}

type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(t.ctx))
}

// refusal turns what the CA or the way to it answered into an error kind:
// a name the CA will not certify is the requester's to fix, a failed
// validation too (the name does not reach the gateway), a rate limit or
// an unreachable CA is for later. The CA's own words stay in the message.
func (c *Client) refusal(err error, what string) error {
	var prob *acme.ProblemDetails
	if errors.As(err, &prob) {
		detail := fmt.Sprintf("upstream %s: %s: %s", c.cfg.Name, what, prob.Error())
		switch strings.TrimPrefix(prob.Type, "urn:ietf:params:acme:error:") {
		case "rejectedIdentifier", "unsupportedIdentifier", "caa", "badCSR":
			return errs.Wrap(errs.RejectedIdentifier, err, "%s", detail)
		case "unauthorized", "connection", "dns", "incorrectResponse", "tls":
			return errs.Wrap(errs.Forbidden, err, "%s", detail)
		case "rateLimited", "serverInternal":
			return errs.Wrap(errs.Unavailable, err, "%s", detail)
		}
		return errs.Wrap(errs.Internal, err, "%s", detail)
	}
	return errs.Wrap(errs.Unavailable, err, "upstream %s: %s", c.cfg.Name, what)
}
