package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// CoreStore is what the issuance core needs of the store.
type CoreStore interface {
	IssueStore
	ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error // Reconcile
	GetCertificate(ctx context.Context, serial string) (storage.Certificate, error)
	ListCertificates(ctx context.Context, f storage.CertificateFilter) ([]storage.Certificate, string, error) // RevokeMatching
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, audit storage.AuditEvent) error
	RevokeCertificates(ctx context.Context, revs []storage.Revocation) (outcomes []error, blocked []bool, err error)
	ReleaseHold(ctx context.Context, serial string, audit storage.AuditEvent) error
	LatestCertificate(ctx context.Context, profile string, now time.Time) (storage.Certificate, error)
	PendingCertificates(ctx context.Context, olderThan time.Time, limit int) ([]storage.Certificate, error)
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error) // upstream requests
	DueForRenewal(ctx context.Context, now time.Time, limit int) ([]storage.Certificate, error)
	ClaimRenewal(ctx context.Context, serial, claimant string, now time.Time, lease time.Duration) (bool, error)
	ReleaseRenewal(ctx context.Context, serial, claimant string) error
	MarkRenewed(ctx context.Context, oldSerial, newSerial string) error
	ExpiringUntold(ctx context.Context, profile string, now, until time.Time, limit int) ([]storage.Certificate, error)
	MarkExpiryTold(ctx context.Context, serial string, at time.Time) (bool, error)
	ApprovalStore
	storage.BlockedKeyStore
}

// Core is the one issuance path every protocol calls: a protocol turns its
// wire format into an IssueRequest and the Issued result back.
type Core struct {
	Store  CoreStore
	Issuer *Issuer
	CAs    map[string]*Authority
	// Upstreams are the external CAs of the profiles backed by one
	// (Profile.Upstream).
	Upstreams map[string]Upstream
	Profiles  map[string]*Profile
	Log       *slog.Logger
	Now       func() time.Time
	// OnRevoke, if set, is called after each revocation, and each release
	// from hold, is stored and audited, so that CRLs and OCSP responses
	// can be refreshed at once. Other replicas learn of it from the store.
	OnRevoke func(ctx context.Context, caName, serial string)
	// Observer, if set, counts issuances, refusals and revocations.
	Observer Observer
	// OnHeld, if set, is called after a request is stored to wait for
	// approval (approval.go), so that someone can be told. It must not
	// block.
	OnHeld func(ctx context.Context, r storage.Request)
	// OnDecided, if set, is called after a held request ends issued,
	// failed, rejected or expired (approval.go). It must not block.
	OnDecided func(ctx context.Context, r storage.Request)
	// OnEvent, if set, is told of each certificate issued (or renewed)
	// and revoked here, after it is stored and audited. It must not block.
	OnEvent func(ctx context.Context, ev CertificateEvent)
	// OnApproval, if set, is told of an approval recorded for a request
	// that needs more (need in all); r carries its approvals so far.
	OnApproval func(ctx context.Context, r storage.Request, need int)
	// UpstreamTimeout is the longest time an external CA may take to
	// issue (upstreams[].timeout): an approved request is not settled
	// (approval.go) before its issuance could have ended.
	UpstreamTimeout time.Duration
	// OnIssue, if set, is called after each certificate is stored, so that
	// its OCSP response can be signed before anyone asks. It must not
	// block.
	OnIssue func(ctx context.Context, caName, serial string)
	// RequestParsers read, by enrollment method, requests that are not
	// PKCS#10: a request held for approval keeps what its client sent
	// (storage.Request.CSR), and the issuance after the approval reads
	// and checks it again. CMP's ir and cr carry CRMF certificate requests
	// (RFC 4211), whose proof of possession the parser verifies. A method
	// without one keeps PKCS#10 only.
	RequestParsers map[string]RequestParser

	blocked blockedKeys
}

// RequestParser reads a certificate request that is not PKCS#10, with its
// proof of possession verified, as the PKCS#10 request it amounts to; the
// result's Raw is der, so that the request can be kept and read again.
// Its errors are errs.BadCSR.
type RequestParser func(der []byte) (*x509.CertificateRequest, error)

// parseRequest reads and checks the request of a held request, or of a
// client that sent DER: PKCS#10 with a valid signature, or what the
// method's RequestParser reads.
func (c *Core) parseRequest(method string, der []byte) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		if parse := c.RequestParsers[method]; parse != nil {
			return parse(der)
		}
		return nil, errs.Wrap(errs.BadCSR, err, "parse CSR")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errs.Wrap(errs.BadCSR, err, "CSR signature")
	}
	return csr, nil
}

// Observer counts what the core does (package metrics). issuer is a
// gateway CA or an upstream.
type Observer interface {
	Issued(profile, method, issuer string)
	Refused(profile, method string, err error)
	Revoked(issuer string, reason int)
	// Upstream times one order at an external CA (err nil: a
	// certificate came back).
	Upstream(upstream string, took time.Duration, err error)
}

// CertificateEvent is what Core.OnEvent is told.
type CertificateEvent struct {
	Kind      string // issued, renewed (Replaces says what), revoked (Reason says why), expiring
	Serial    string
	Profile   string
	CA        string // the CA or upstream that issued it
	Method    string
	Requester string // who asked: for revoked, who revoked
	SANs      []string
	NotBefore time.Time
	NotAfter  time.Time
	Replaces  string
	Reason    int
	At        time.Time
}

// IssueRequest asks for a certificate under a profile, either for the key
// of a CSR or for a key the gateway generates (Generate).
type IssueRequest struct {
	Profile   string
	Method    string // acme | est | scep | api
	Requester string
	CSR       []byte // DER PKCS#10
	// CheckedCSR, instead of CSR, is a request the caller has parsed and
	// whose signature it has verified (CheckSignature), as the protocols
	// that read a CSR before issuing do; the core then does not verify it
	// a second time.
	CheckedCSR *x509.CertificateRequest
	Generate   *GenerateRequest
	// Validity, if set, must not exceed the profile's maximum.
	Validity time.Duration
	// AutoRenew overrides the profile's default for a generated key.
	AutoRenew *bool
	// Replaces names the certificate this one renews.
	Replaces string
	// ACMEOrder is the ACME order (in status ready) this certificate
	// finalizes: the store claims it (processing) in the commit of the
	// pending record and turns it valid in the commit that stores the
	// certificate (storage.Certificate.ACMEOrder).
	ACMEOrder string
	// DiscardKey, for a generated key, returns the key to the requester
	// without keeping a sealed copy (no bundle with the key, no
	// server-driven renewal).
	DiscardKey bool
	// TransactionID is the SCEP transactionID (or the CMP one), kept with
	// a request held for approval so that a CertPoll (a pollReq) finds it
	// (Core.TransactionRequest).
	TransactionID string
	// Async lets an issuance by an external CA (a profile with an
	// upstream) go on in the background: after AsyncWait the requester is
	// answered a PendingError for a request it can poll (by repeating
	// its request, or reading the request), which ends issued or failed.
	// It applies to CSRs, and to keys the gateway generates and keeps
	// (not DiscardKey): a repeat makes another key, so their requester
	// reads the request, and fetches the key with the certificate once it
	// is issued. The gateway's own CAs answer at once anyway.
	Async     bool
	AsyncWait time.Duration

	// approval is the approved request this issuance carries out
	// (Core.Approve): the profile does not hold it again.
	approval *storage.Request
	// generated is the key the gateway generated for an asynchronous
	// issuance, which goes on in the background with that key's request
	// (CheckedCSR).
	generated crypto.Signer
}

// GenerateRequest names the key and identifiers of a certificate whose key
// the gateway generates.
type GenerateRequest struct {
	KeyType    string // as in profiles: ecdsa-p256, ..., ed25519
	CommonName string
	// Subject holds the subject attributes asked for besides the common
	// name; the profile takes those it lets a request set
	// (Profile.Subject).
	Subject  pkix.Name
	DNSNames []string
	IPs      []string
	Emails   []string
	URIs     []string
}

// Issued is a signed certificate with its chain (issuing CA first, root
// last) and, for a generated key, the key.
type Issued struct {
	Serial string
	Issuer string // the CA or upstream that issued it
	Cert   *x509.Certificate
	Chain  []*x509.Certificate
	Key    crypto.Signer
	// Earlier says the certificate was issued before, for an approved
	// request this one repeats, and is not a new issuance.
	Earlier bool
}

// Issue runs one request through the core: parse and verify the CSR (or
// generate the key); apply the profile; build the template from the profile
// alone; lint a throwaway-signed draft; reserve the serial with a pending
// record; sign with the CA key; write the audit record with the DER and the
// certificate in one commit (Issuer.Issue does the last four). A rejected
// request changes nothing.
func (c *Core) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	issued, err := c.issue(ctx, req)
	c.tell(ctx, req, issued, err)
	return issued, err
}

// tell has the observer and OnEvent learn what became of req: issued
// (issued), refused (err), or neither (held, or issued before).
func (c *Core) tell(ctx context.Context, req IssueRequest, issued *Issued, err error) {
	if _, held := AsPending(err); held || err == nil && issued.Earlier {
		return // neither issued now nor refused
	}
	if c.Observer != nil {
		if err != nil {
			c.Observer.Refused(req.Profile, req.Method, err)
		} else {
			c.Observer.Issued(req.Profile, req.Method, issued.Issuer)
		}
	}
	if err == nil && c.OnEvent != nil {
		ev := CertificateEvent{Kind: "issued", Serial: issued.Serial, Profile: req.Profile, CA: issued.Issuer, Method: req.Method,
			Requester: req.Requester, SANs: sans(issued.Cert), NotBefore: issued.Cert.NotBefore, NotAfter: issued.Cert.NotAfter,
			Replaces: req.Replaces, At: c.Now()}
		if req.Replaces != "" {
			ev.Kind = "renewed"
		}
		c.OnEvent(ctx, ev)
	}
}

func (c *Core) issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	p, ok := c.Profiles[req.Profile]
	if !ok {
		return nil, errs.New(errs.NotFound, "no profile %q", req.Profile)
	}
	if !p.Allows(req.Method) {
		return nil, errs.New(errs.Forbidden, "profile %s: rule methods: enrollment method %q is not allowed", p.Name, req.Method)
	}
	var a *Authority
	var up Upstream
	if p.Upstream != "" {
		if up = c.Upstreams[p.Upstream]; up == nil {
			return nil, errs.New(errs.Internal, "profile %s: upstream %q is not loaded", p.Name, p.Upstream)
		}
	} else if a = c.CAs[p.CA]; a == nil {
		return nil, errs.New(errs.Internal, "profile %s: CA %q is not loaded", p.Name, p.CA)
	}
	validity, err := p.Validity(req.Validity)
	if err != nil {
		return nil, err
	}

	var pub crypto.PublicKey
	var key crypto.Signer
	var csr *x509.CertificateRequest
	var names Names
	var requested pkix.Name // the subject asked for, besides the common name
	switch {
	case req.CSR != nil && req.CheckedCSR != nil:
		return nil, errs.New(errs.Internal, "a request carries a CSR twice")
	case (req.CSR != nil || req.CheckedCSR != nil) && req.Generate != nil:
		return nil, errs.New(errs.Malformed, "a request carries either a CSR or a key to generate, not both")
	case req.CSR != nil || req.CheckedCSR != nil:
		csr = req.CheckedCSR
		if csr == nil {
			if csr, err = c.parseRequest(req.Method, req.CSR); err != nil {
				return nil, err
			}
		}
		pub = csr.PublicKey
		names = Names{CommonName: csr.Subject.CommonName, DNS: csr.DNSNames, IPs: csr.IPAddresses, Emails: csr.EmailAddresses, URIs: csr.URIs}
		requested = csr.Subject
		key = req.generated
	case req.Generate != nil:
		if !p.ServerKeygen {
			return nil, errs.New(errs.Forbidden, "profile %s: rule server_keygen: the profile does not let the gateway generate keys", p.Name)
		}
		g := req.Generate
		names = Names{CommonName: g.CommonName, DNS: g.DNSNames, Emails: g.Emails}
		requested = g.Subject
		for _, s := range g.IPs {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, errs.New(errs.Malformed, "%q is not an IP address", s)
			}
			names.IPs = append(names.IPs, ip)
		}
		for _, s := range g.URIs {
			u, err := url.Parse(s)
			if err != nil {
				return nil, errs.Wrap(errs.Malformed, err, "%q is not a URI", s)
			}
			names.URIs = append(names.URIs, u)
		}
		if err := p.CheckNames(names); err != nil { // before spending time on a key
			return nil, err
		}
		if key, err = GenerateKey(g.KeyType); err != nil {
			return nil, err
		}
		pub = key.Public()
	default:
		return nil, errs.New(errs.Malformed, "a request needs a CSR or a key to generate")
	}
	if err := p.CheckKey(pub); err != nil {
		return nil, err
	}
	if err := c.CheckKeyBlocked(ctx, pub); err != nil {
		return nil, err
	}
	if err := p.CheckNames(names); err != nil {
		return nil, err
	}
	subject, err := p.Subject(names.CommonName, requested)
	if err != nil {
		return nil, err
	}
	if a != nil {
		if err := checkNameConstraints(a.Certified(), names); err != nil {
			return nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
	}
	// Approval (approval.go): a first enrollment waits; a renewal
	// (Replaces) was approved with the certificate it renews.
	if p.Held(req.Method) && req.Replaces == "" && req.approval == nil {
		if csr == nil {
			return nil, errs.New(errs.Forbidden, "profile %s: rule approval: %s requests wait for an operator's approval, and a key the gateway generates cannot wait; send a CSR", p.Name, req.Method)
		}
		return c.held(ctx, p, req, csr, names)
	}

	meta := Request{Profile: p.Name, Method: req.Method, Requester: req.Requester, Replaces: req.Replaces, ACMEOrder: req.ACMEOrder}
	if req.approval != nil {
		meta.Approval = fmt.Sprintf("request %s approved by %s", req.approval.ID, req.approval.DecidedBy)
	}
	if key != nil && !req.DiscardKey {
		meta.Key = key
		meta.AutoRenew = p.AutoRenew
		if req.AutoRenew != nil {
			meta.AutoRenew = *req.AutoRenew
		}
		meta.RenewAt = p.RenewAt
	}
	if up != nil {
		if req.Async && req.approval == nil && (csr != nil || meta.Key != nil) {
			if csr == nil {
				if csr, err = requestFor(key, names); err != nil {
					return nil, err
				}
			}
			return c.issueAsync(ctx, p, req, csr, key, names)
		}
		return c.issueUpstream(ctx, p, up, csr, key, names, meta)
	}
	now := c.Now()
	params := LeafParams{
		Subject: subject, DNSNames: names.DNS, IPAddresses: names.IPs, EmailAddresses: names.Emails, URIs: names.URIs,
		NotBefore: now.Add(-Backdate), NotAfter: now.Add(validity),
		KeyUsage: p.KeyUsage, ExtKeyUsage: p.ExtKeyUsage, MorePolicies: p.Policies,
	}
	cert, err := c.Issuer.Issue(ctx, a, params, pub, meta)
	if err != nil {
		return nil, err
	}
	serial := SerialHex(cert.SerialNumber)
	if c.OnIssue != nil {
		c.OnIssue(ctx, a.Name, serial)
	}
	return &Issued{Serial: serial, Issuer: a.Name, Cert: cert, Chain: a.Full(), Key: key}, nil
}

// GenerateKey makes a subject key of a profile key type.
func GenerateKey(kt string) (crypto.Signer, error) {
	switch kt {
	case "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa-2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, errs.New(errs.Malformed, "unknown key type %q", kt)
}

// reasonSuperseded is the RFC 5280 section 5.3.1 CRLReason of a
// certificate revoked because a renewal replaced it.
const reasonSuperseded = 4

// Renewed does the bookkeeping after a protocol renewed oldSerial with
// newSerial (EST simplereenroll, SCEP RenewalReq): it links the two in the
// inventory and, if revoke, revokes the old one as superseded. Neither may
// turn the answer into an error, since the client would enroll again and
// get a second certificate, so failures are logged. A certificate renewed
// before (a client that lost an earlier answer) keeps its first successor.
func (c *Core) Renewed(ctx context.Context, oldSerial, newSerial, requester string, revoke bool) {
	if err := c.Store.MarkRenewed(ctx, oldSerial, newSerial); err != nil {
		if errs.Is(err, errs.Conflict) {
			c.Log.Info("renewed certificate was already renewed", "old", oldSerial, "new", newSerial)
		} else {
			c.Log.Error("link renewed certificate to its successor", "old", oldSerial, "new", newSerial, "err", err)
		}
	}
	if revoke {
		if err := c.Revoke(ctx, oldSerial, reasonSuperseded, requester); err != nil && !errs.Is(err, errs.Conflict) {
			c.Log.Error("revoke the certificate a renewal replaced", "serial", oldSerial, "err", err)
		}
	}
}

// Revoke revokes a certificate with an RFC 5280 reason code and audits it.
// Revoking twice is an errs.Conflict and leaves the first record.
func (c *Core) Revoke(ctx context.Context, serial string, reason int, requester string) error {
	if err := storage.CheckReason(reason); err != nil {
		return errs.Wrap(errs.Malformed, err, "revoke %s", serial)
	}
	cert, err := c.Store.GetCertificate(ctx, serial)
	if err != nil {
		return err
	}
	up := c.Upstreams[cert.CA]
	if up != nil {
		if err := c.revokeUpstream(ctx, up, cert, reason); err != nil {
			return err
		}
	}
	now := c.Now()
	r, err := c.revocation(cert, reason, now, requester)
	if err != nil {
		return err
	}
	if r.Block != nil {
		// The revocation and the block of its key, in one commit.
		outcomes, blocked, err := c.Store.RevokeCertificates(ctx, []storage.Revocation{r})
		if err == nil {
			err = outcomes[0]
		}
		if err != nil {
			return err
		}
		if blocked[0] {
			c.keyBlocked(*r.Block)
		}
	} else if err := c.Store.RevokeCertificate(ctx, serial, reason, now, r.Audit); err != nil {
		return err
	}
	c.revoked(ctx, cert, reason, now, requester, up != nil)
	return nil
}

// revocation is what the store records when cert is revoked for reason:
// the revocation with its audit event and, for keyCompromise, the block
// of its key.
func (c *Core) revocation(cert storage.Certificate, reason int, at time.Time, requester string) (storage.Revocation, error) {
	r := storage.Revocation{Serial: cert.Serial, Reason: reason, At: at, Audit: storage.AuditEvent{
		At: at, Actor: requester, Action: "revoke", Profile: cert.Profile, Serial: cert.Serial,
		Detail: fmt.Sprintf("reason=%d", reason),
	}}
	if reason == storage.ReasonKeyCompromise {
		k, err := compromisedKey(cert, at, requester)
		if err != nil {
			return r, err
		}
		r.Block, r.BlockAudit = &k, blockAudit(k)
	}
	return r, nil
}

// revoked tells of a revocation the store made: the log, the metrics,
// the CRLs and OCSP responses of the gateway's own CA (an external CA,
// upstream, publishes its own), and the webhooks.
func (c *Core) revoked(ctx context.Context, cert storage.Certificate, reason int, at time.Time, requester string, upstream bool) {
	c.Log.Info("revoked", "serial", cert.Serial, "reason", reason, "by", requester)
	if c.Observer != nil {
		c.Observer.Revoked(cert.CA, reason)
	}
	if c.OnRevoke != nil && !upstream {
		c.OnRevoke(ctx, cert.CA, cert.Serial)
	}
	if c.OnEvent != nil {
		c.OnEvent(ctx, CertificateEvent{Kind: "revoked", Serial: cert.Serial, Profile: cert.Profile, CA: cert.CA, Method: cert.Method,
			Requester: requester, SANs: cert.SANs, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Reason: reason, At: at})
	}
}

// ReleaseHold makes a certificate on hold (revoked with certificateHold)
// active again and audits it; CRLs and OCSP responses follow as they
// follow a revocation (OnRevoke here, the store's events elsewhere). A
// certificate not on hold is an errs.Conflict.
func (c *Core) ReleaseHold(ctx context.Context, serial, requester string) error {
	cert, err := c.Store.GetCertificate(ctx, serial)
	if err != nil {
		return err
	}
	if err := c.Store.ReleaseHold(ctx, serial, storage.AuditEvent{
		At: c.Now(), Actor: requester, Action: "release-hold", Profile: cert.Profile, Serial: serial,
	}); err != nil {
		return err
	}
	c.Log.Info("released from hold", "serial", serial, "by", requester)
	if c.OnRevoke != nil {
		c.OnRevoke(ctx, cert.CA, serial)
	}
	return nil
}

// Reconcile brings into the inventory the certificates that were signed
// but never activated (the audit record with the DER was committed, the
// activation was not): their pending record is older than grace and the
// audit trail holds their DER. It returns how many it restored.
func (c *Core) Reconcile(ctx context.Context, grace time.Duration) (int, error) {
	pending, err := c.Store.PendingCertificates(ctx, c.Now().Add(-grace), 500)
	if err != nil {
		return 0, err
	}
	restored := 0
	for _, p := range pending {
		events, err := c.Store.ListAudit(ctx, storage.AuditFilter{Serial: p.Serial, Limit: 10})
		if err != nil {
			return restored, err
		}
		for _, e := range events {
			if e.Action != "issue" || len(e.DER) == 0 {
				continue
			}
			cert, err := x509.ParseCertificate(e.DER)
			if err != nil || SerialHex(cert.SerialNumber) != p.Serial {
				c.Log.Error("audit DER does not match its pending certificate", "serial", p.Serial, "err", err)
				continue
			}
			if err := c.Store.ActivateCertificate(ctx, p.Serial, e.DER, cert.NotBefore, cert.NotAfter); err != nil {
				return restored, err
			}
			restored++
			c.Log.Warn("reconciled a signed certificate into the inventory", "serial", p.Serial)
			break
		}
	}
	return restored, nil
}

// Bundle is a certificate with its chain and, where the gateway holds it,
// its key.
type Bundle struct {
	Record storage.Certificate
	Cert   *x509.Certificate
	Chain  []*x509.Certificate
	KeyPEM []byte // nil when the requester holds the key
}

// Bundle returns the stored certificate with its chain and unsealed key.
func (c *Core) Bundle(ctx context.Context, serial string) (*Bundle, error) {
	rec, err := c.Store.GetCertificate(ctx, serial)
	if err != nil {
		return nil, err
	}
	return c.bundle(rec)
}

// Certificate returns the stored certificate with its chain, and no key:
// for answers that never carry one, which need not unseal it.
func (c *Core) Certificate(ctx context.Context, serial string) (*Bundle, error) {
	rec, err := c.Store.GetCertificate(ctx, serial)
	if err != nil {
		return nil, err
	}
	return c.chained(rec)
}

// LatestBundle returns the newest active certificate of a profile.
func (c *Core) LatestBundle(ctx context.Context, profile string) (*Bundle, error) {
	if _, ok := c.Profiles[profile]; !ok {
		return nil, errs.New(errs.NotFound, "no profile %q", profile)
	}
	rec, err := c.Store.LatestCertificate(ctx, profile, c.Now())
	if err != nil {
		return nil, err
	}
	return c.bundle(rec)
}

func (c *Core) bundle(rec storage.Certificate) (*Bundle, error) {
	b, err := c.chained(rec)
	if err != nil {
		return nil, err
	}
	if rec.KeyPEM != nil {
		if b.KeyPEM, err = c.Issuer.Sealer.Open(rec.Serial, rec.KeyPEM); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// chained is the certificate of rec with its chain: the issuing CA's, or
// the one an external CA gave.
func (c *Core) chained(rec storage.Certificate) (*Bundle, error) {
	if rec.Status == storage.StatusPending {
		return nil, errs.New(errs.Conflict, "certificate %s is pending: it was never signed", rec.Serial)
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "stored certificate %s", rec.Serial)
	}
	b := &Bundle{Record: rec, Cert: cert}
	if a, ok := c.CAs[rec.CA]; ok {
		b.Chain = a.Full()
	} else if rec.Chain != nil {
		if b.Chain, err = ParsePEMCertificates(rec.Chain); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "stored chain of %s", rec.Serial)
		}
	}
	return b, nil
}

// RenewDue re-issues every certificate due for server-driven renewal: same
// profile, same names, a new key. The new certificate becomes the profile's
// latest. A claim in the store keeps two replicas from renewing one
// certificate twice. It returns the serials it issued.
func (c *Core) RenewDue(ctx context.Context, claimant string) ([]string, error) {
	now := c.Now()
	due, err := c.Store.DueForRenewal(ctx, now, 100)
	if err != nil {
		return nil, err
	}
	var renewed []string
	var problems []string
	for _, old := range due {
		won, err := c.Store.ClaimRenewal(ctx, old.Serial, claimant, now, 10*time.Minute)
		if err != nil || !won {
			if err != nil {
				problems = append(problems, err.Error())
			}
			continue
		}
		n, err := c.renew(ctx, old)
		if err != nil {
			c.Log.Error("server-driven renewal failed", "serial", old.Serial, "profile", old.Profile, "err", err)
			problems = append(problems, fmt.Sprintf("%s: %v", old.Serial, err))
			continue
		}
		renewed = append(renewed, n)
	}
	if len(problems) > 0 {
		return renewed, errs.New(errs.Internal, "renewal: %s", strings.Join(problems, "; "))
	}
	return renewed, nil
}

func (c *Core) renew(ctx context.Context, old storage.Certificate) (string, error) {
	cert, err := x509.ParseCertificate(old.DER)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "stored certificate")
	}
	yes := true
	issued, err := c.Issue(ctx, IssueRequest{
		Profile: old.Profile, Method: old.Method, Requester: "gateway renewal", Generate: successorKey(cert),
		Validity: cert.NotAfter.Sub(cert.NotBefore) - Backdate, AutoRenew: &yes, Replaces: old.Serial,
	})
	if err != nil {
		return "", err
	}
	if err := c.Store.MarkRenewed(ctx, old.Serial, issued.Serial); err != nil {
		return "", err
	}
	c.Log.Info("renewed", "old", old.Serial, "new", issued.Serial, "profile", old.Profile)
	return issued.Serial, nil
}

// PEMChain encodes certificates as PEM, in order.
func PEMChain(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
