package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// Backdate is how far before "now" a certificate's validity starts, so
// that relying parties with a slow clock accept it at once.
const Backdate = time.Minute

// HierarchyStore is what the CA hierarchy needs of the store.
type HierarchyStore interface {
	GetCA(ctx context.Context, name string) (storage.CA, error)
	InsertCA(ctx context.Context, ca storage.CA, audit storage.AuditEvent) error
	ReplaceCACertificate(ctx context.Context, name string, old, der, chain []byte, audit storage.AuditEvent) error
	// A revoked CA's certificates are in the certificate inventory, under
	// its parent (Revoke), and the audit trail holds every CA certificate.
	CertificateStatus(ctx context.Context, serial string) (storage.CertificateStatus, error)
	GetCertificate(ctx context.Context, serial string) (storage.Certificate, error)
	InsertPendingCertificate(ctx context.Context, c storage.Certificate) error
	CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (int64, error)
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, audit storage.AuditEvent) error
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
}

// URLs are the addresses, under listen.public_url, where relying parties
// find what a CA publishes.
type URLs struct{ Base string }

// CRL is the CA's full CRL (RFC 5280 4.2.1.13).
func (u URLs) CRL(ca string) string { return u.Base + "/crl/" + ca + ".crl" }

// CRLShard is one shard of the CA's partitioned CRL: the distribution
// point of the certificates in the shard, and the name in that CRL's
// issuingDistributionPoint (RFC 5280 5.2.5).
func (u URLs) CRLShard(ca string, shard int) string {
	return u.Base + "/crl/" + ca + "/" + strconv.Itoa(shard) + ".crl"
}

// DeltaCRL is where the CA's delta CRLs are served, named by the
// freshestCRL of its complete CRL (RFC 5280 5.2.6).
func (u URLs) DeltaCRL(ca string) string { return u.Base + "/crl/" + ca + "/delta.crl" }

// OCSP is the CA's OCSP responder (RFC 5280 4.2.2.1, id-ad-ocsp).
func (u URLs) OCSP(ca string) string { return u.Base + "/ocsp/" + ca }

// Issuer is the CA's certificate (RFC 5280 4.2.2.1, id-ad-caIssuers).
func (u URLs) Issuer(ca string) string { return u.Base + "/ca/" + ca + ".crt" }

// Hierarchy creates and loads the CAs named in the configuration.
type Hierarchy struct {
	mu sync.Mutex // held by Reload

	Config  *config.Config
	Signer  signer.Signer
	Store   HierarchyStore
	Linter  *Linter
	Presign *Presigner
	Log     *slog.Logger
	Now     func() time.Time
}

func (h *Hierarchy) urls() URLs {
	return URLs{Base: strings.TrimSuffix(h.Config.Listen.PublicURL, "/")}
}

// Init creates every CA of the configuration that the store does not hold
// yet, in order (parents first), and says which it created. A CA the
// store holds is left as it is, so Init can run at every start: it never
// creates a second hierarchy and never replaces a certificate or a key.
//
// Each key is generated inside the token. If the token already holds a key
// with the CA's label but the store has no certificate for it (an earlier
// Init stopped in between), that key is used rather than a second one.
//
// An external CA (cas[].external) that has no certificate yet gets its key
// and a certificate request to have signed (WaitingCA.CSR, made anew from
// the same key at every run); it and the CAs under it wait until Import
// has installed its certificate, and the next Init creates those.
func (h *Hierarchy) Init(ctx context.Context) (InitResult, error) {
	var res InitResult
	done := map[string]*Authority{}
	waiting := map[string]string{} // CA name: the external CA it waits for
	for _, c := range h.Config.CAs {
		rec, err := h.Store.GetCA(ctx, c.Name)
		if err == nil {
			if err := sameOrigin(c, rec); err != nil {
				return res, err
			}
			a, err := h.authority(ctx, rec, done)
			if err != nil {
				return res, err
			}
			done[c.Name] = a
			h.Log.Info("CA exists, left as it is", "ca", c.Name, "subject", a.Cert().Subject.String(), "key", rec.KeyURI)
			continue
		}
		if !errs.Is(err, errs.NotFound) {
			return res, err
		}
		if w, ok := waiting[c.Parent]; ok {
			waiting[c.Name] = w
			res.Waiting = append(res.Waiting, WaitingCA{Name: c.Name, Under: w})
			continue
		}
		if c.External {
			key, err := h.caKey(ctx, c)
			if err != nil {
				return res, fmt.Errorf("create CA %q: %w", c.Name, err)
			}
			csr, err := h.request(ctx, c, key, nil)
			if err != nil {
				return res, err
			}
			waiting[c.Name] = c.Name
			res.Waiting = append(res.Waiting, WaitingCA{Name: c.Name, CSR: csr})
			h.Log.Info("CA waits for its certificate from an external CA", "ca", c.Name, "key", key.URI())
			continue
		}
		a, err := h.create(ctx, c, done)
		if err != nil {
			return res, fmt.Errorf("create CA %q: %w", c.Name, err)
		}
		done[c.Name] = a
		res.Created = append(res.Created, c.Name)
	}
	return res, nil
}

// caKey is the key of CA c in the token: the one an interrupted Init (or
// an external CA's request) left under its label, or a new one.
func (h *Hierarchy) caKey(ctx context.Context, c config.CA) (signer.Key, error) {
	kt, err := signer.ParseKeyType(c.Key.Type)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "cas %s", c.Name)
	}
	key, err := h.Signer.Key(ctx, h.Signer.URI(c.Key.Label))
	switch {
	case err == nil:
		if got := KeyTypeOf(key.Public()); got != kt {
			return nil, errs.New(errs.Config, "the token already holds a %s key labelled %q, but the CA wants %s; remove it or choose another label", got, c.Key.Label, kt)
		}
		if !c.External {
			h.Log.Warn("reusing a key left by an interrupted init", "ca", c.Name, "key", key.URI())
		}
		return key, nil
	case errs.Is(err, errs.NotFound):
		return h.Signer.Generate(ctx, c.Key.Label, kt)
	default:
		return nil, err
	}
}

func (h *Hierarchy) create(ctx context.Context, c config.CA, done map[string]*Authority) (*Authority, error) {
	key, err := h.caKey(ctx, c)
	if err != nil {
		return nil, err
	}

	now := h.Now()
	cert, chain, err := h.certify(ctx, c, key, nil, done, now, c.Validity.D())
	if err != nil {
		return nil, err
	}
	der := cert.Raw
	rec := storage.CA{Name: c.Name, Parent: c.Parent, KeyURI: key.URI(), CertDER: der, CreatedAt: now}
	if err := h.Store.InsertCA(ctx, rec, storage.AuditEvent{
		At: now, Actor: "gateway init", Action: "init-ca", Profile: CAProfilePrefix + c.Name, Serial: SerialHex(cert.SerialNumber),
		Detail: fmt.Sprintf("CA %s (%s, key %s) issued by %s", c.Name, cert.Subject, key.URI(), cert.Issuer), DER: der,
	}); err != nil {
		return nil, err
	}
	h.Log.Info("created CA", "ca", c.Name, "subject", cert.Subject.String(), "key", key.URI(), "not_after", cert.NotAfter)
	return NewAuthority(c.Name, key, cert, chain), nil
}

// certify makes a certificate for the key of CA c, valid from now for
// validity (cut at the parent's end), signed by its parent in done or,
// for a root, by the key itself: linted as a draft first, then signed and
// checked. prev, if set, is the certificate being renewed: the new one
// names the CA exactly as prev does, byte for byte, with prev's subject key
// identifier, so that everything issued under prev chains to it as well.
func (h *Hierarchy) certify(ctx context.Context, c config.CA, key signer.Key, prev *x509.Certificate, done map[string]*Authority, now time.Time, validity time.Duration) (*x509.Certificate, []*x509.Certificate, error) {
	p := CAParams{
		Subject:    subject(c.Subject),
		NotBefore:  now.Add(-Backdate),
		NotAfter:   now.Add(validity),
		MaxPathLen: -1,
		PublicKey:  key.Public(),
	}
	if c.PathLen != nil {
		p.MaxPathLen = *c.PathLen
	}
	nc, err := NameConstraintsOf(c.NameConstraints)
	if err != nil {
		return nil, nil, err
	}
	p.NameConstraints = nc
	serial, err := NewSerial(rand.Reader)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "serial")
	}
	var tmpl, parentCert *x509.Certificate
	var parentKey crypto.Signer
	var chain []*x509.Certificate
	if c.Parent == "" {
		tmpl, err = RootTemplate(p, serial)
		parentKey = key.WithContext(ctx)
	} else {
		parent, ok := done[c.Parent]
		if !ok {
			return nil, nil, errs.New(errs.Config, "parent %q is not initialised", c.Parent)
		}
		if c.PathLen == nil {
			p.MaxPathLen = 0
		}
		if p.NotAfter.After(parent.Cert().NotAfter) {
			// RFC 5280 does not forbid it, but a subordinate cannot be
			// used past its issuer; say so in the certificate.
			p.NotAfter = parent.Cert().NotAfter
		}
		u := h.urls()
		p.IssuerKey = parent.Key.Public()
		p.CRLURLs = []string{u.CRL(parent.Name)}
		p.OCSPURL = u.OCSP(parent.Name)
		p.IssuerURL = u.Issuer(parent.Name)
		tmpl, err = SubordinateTemplate(p, serial)
		chain = parent.Full()
		parentCert, parentKey = chain[0], parent.Key.WithContext(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	if prev != nil {
		tmpl.RawSubject = prev.RawSubject
		tmpl.SubjectKeyId = prev.SubjectKeyId
	}

	// Lint before signing: a draft signed by a throwaway key of the
	// issuer's type must pass before the HSM is asked.
	issuerPub := parentKey.Public()
	draft, err := h.Presign.PreSign(tmpl, parentCert, key.Public(), issuerPub)
	if err != nil {
		return nil, nil, err
	}
	if err := h.Linter.LintCertificate(draft); err != nil {
		return nil, nil, err
	}
	signParent := parentCert
	if signParent == nil {
		signParent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signParent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, errs.Wrap(errs.KindOf(err), err, "sign")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "parse the signed certificate")
	}
	verifyWith := parentCert
	if verifyWith == nil {
		verifyWith = cert // self-signed
	}
	if err := cert.CheckSignatureFrom(verifyWith); err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "the signed certificate does not verify")
	}
	return cert, chain, nil
}

// Renewal is what Renew did.
type Renewal struct {
	CA      string
	Parent  string // "" for a root
	Old     *x509.Certificate
	Renewed *x509.Certificate
}

// Renew certifies a CA's key once more, before its certificate runs out: a
// new certificate with the same subject, key and subject key identifier,
// valid from now for validity (the configuration's when zero), signed by
// the parent (a root signs itself), linted first like every certificate.
// Everything issued under the old certificate chains to the new one, and
// CRLs and OCSP answers name the same issuer, so nothing issued needs to
// change. A subordinate cannot outlive its parent: when the parent's end
// would leave the new certificate no later than the old, Renew refuses
// and says to renew the parent first. The stored certificate is replaced
// only if it is still the one renewed (errs.Conflict otherwise), with an
// audit record carrying the new DER; running gateways take it up through
// Follow (within ReloadInterval, at once on SIGHUP).
func (h *Hierarchy) Renew(ctx context.Context, name string, validity time.Duration, actor string) (Renewal, error) {
	c, ok := h.Config.CA(name)
	if !ok {
		return Renewal{}, errs.New(errs.NotFound, "no CA %q in the configuration", name)
	}
	if c.External {
		return Renewal{}, errs.New(errs.Conflict, "CA %s is certified by an external CA, which renews it: `gateway ca csr -ca %s` writes a request for its key, `gateway ca import -ca %s -cert FILE` installs the certificate it issues", name, name, name)
	}
	if validity == 0 {
		validity = c.Validity.D()
	}
	if validity <= 0 {
		return Renewal{}, errs.New(errs.Malformed, "CA %s: validity %s: must be positive", name, validity)
	}
	done, err := h.Load(ctx)
	if err != nil {
		return Renewal{}, err
	}
	a := done[name]
	if r := a.Certified().Revoked; r != nil {
		return Renewal{}, errs.New(errs.Conflict, "CA %s cannot be renewed: CA %s was revoked at %s", name, r.CA, r.At.UTC().Format(time.RFC3339))
	}
	now := h.Now()
	// Refuse a renewal that would not extend the CA's life: its users
	// would gain nothing and lose the later end.
	until := now.Add(validity).Truncate(time.Second)
	if c.Parent != "" {
		if end := done[c.Parent].Cert().NotAfter; end.Before(until) {
			if !end.After(a.Cert().NotAfter) {
				return Renewal{}, errs.New(errs.Conflict, "CA %s: its parent %s ends %s, no later than its current certificate (%s): renew %s first",
					name, c.Parent, end.UTC().Format(time.RFC3339), a.Cert().NotAfter.UTC().Format(time.RFC3339), c.Parent)
			}
			until = end
		}
	}
	if !until.After(a.Cert().NotAfter) {
		return Renewal{}, errs.New(errs.Conflict, "CA %s: a validity of %s from now ends %s, no later than its current certificate (%s)",
			name, config.Duration(validity), until.UTC().Format(time.RFC3339), a.Cert().NotAfter.UTC().Format(time.RFC3339))
	}
	cert, _, err := h.certify(ctx, c, a.Key, a.Cert(), done, now, validity)
	if err != nil {
		return Renewal{}, fmt.Errorf("renew CA %q: %w", name, err)
	}
	oldSerial, newSerial := SerialHex(a.Cert().SerialNumber), SerialHex(cert.SerialNumber)
	if err := h.Store.ReplaceCACertificate(ctx, name, a.Cert().Raw, cert.Raw, nil, storage.AuditEvent{
		At: now, Actor: actor, Action: "renew-ca", Profile: CAProfilePrefix + name, Serial: newSerial,
		Detail: fmt.Sprintf("CA %s (%s, key %s) renewed by %s: certificate %s (until %s) replaces %s (until %s)", name, cert.Subject,
			a.Key.URI(), cert.Issuer, newSerial, cert.NotAfter.UTC().Format(time.RFC3339), oldSerial, a.Cert().NotAfter.UTC().Format(time.RFC3339)),
		DER: cert.Raw,
	}); err != nil {
		return Renewal{}, err
	}
	h.Log.Info("renewed CA", "ca", name, "serial", newSerial, "replaces", oldSerial, "not_after", cert.NotAfter)
	return Renewal{CA: name, Parent: c.Parent, Old: a.Cert(), Renewed: cert}, nil
}

// Load returns every CA of the configuration, ready to sign. A CA that
// Init has not created yet is an error that says so.
func (h *Hierarchy) Load(ctx context.Context) (map[string]*Authority, error) {
	done := map[string]*Authority{}
	for _, c := range h.Config.CAs {
		rec, err := h.Store.GetCA(ctx, c.Name)
		if errs.Is(err, errs.NotFound) {
			return nil, errs.New(errs.Config, "CA %q is not initialised: run `gateway init`", c.Name)
		}
		if err != nil {
			return nil, err
		}
		if err := sameOrigin(c, rec); err != nil {
			return nil, err
		}
		a, err := h.authority(ctx, rec, done)
		if err != nil {
			return nil, err
		}
		a.CRLMirrors = c.CRLMirrors
		a.CRLShards = c.CRL.Shards
		a.External = c.External
		done[c.Name] = a
	}
	return done, nil
}

// sameOrigin checks that the configuration still says where the stored
// CA rec comes from: certified by the same parent of the gateway, by
// itself (a root), or by an external CA. A CA keeps its origin for life:
// what it issued chains through it, so changing `parent` or `external` of
// an existing CA would have the gateway renew, chain and hand it out as
// something it is not. A CA that is to move gets a new name (and key).
func sameOrigin(c config.CA, rec storage.CA) error {
	origin := func(parent string, external bool) string {
		switch {
		case external:
			return "an external CA (external: true)"
		case parent == "":
			return "itself, a root (no parent)"
		}
		return "the gateway's CA " + parent
	}
	stored, configured := origin(rec.Parent, len(rec.Chain) > 0), origin(c.Parent, c.External)
	if stored != configured {
		return errs.New(errs.Config, "CA %q is configured as certified by %s, but the store holds it certified by %s: a CA keeps where it comes from; restore its configuration, or configure a CA of another name and key label",
			c.Name, configured, stored)
	}
	return nil
}

// authority joins a stored CA with its key and checks that they belong
// together.
func (h *Hierarchy) authority(ctx context.Context, rec storage.CA, done map[string]*Authority) (*Authority, error) {
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "CA %q: stored certificate", rec.Name)
	}
	key, err := h.Signer.Key(ctx, rec.KeyURI)
	if err != nil {
		return nil, fmt.Errorf("CA %q: key %s: %w", rec.Name, rec.KeyURI, err)
	}
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return nil, errs.New(errs.Config, "CA %q: the key at %s does not match its certificate", rec.Name, rec.KeyURI)
	}
	var chain []*x509.Certificate
	var parent *Authority
	if rec.Parent != "" {
		var ok bool
		if parent, ok = done[rec.Parent]; !ok {
			return nil, errs.New(errs.Config, "CA %q: parent %q is not loaded (list parents first)", rec.Name, rec.Parent)
		}
		if !bytes.Equal(cert.RawIssuer, parent.Cert().RawSubject) {
			return nil, errs.New(errs.Internal, "CA %q: issuer does not match parent %q", rec.Name, rec.Parent)
		}
		chain = parent.Full()
	} else if rec.Chain != nil {
		if chain, err = externalChain(rec, cert); err != nil {
			return nil, err
		}
	}
	revoked, err := h.revoked(ctx, rec.Name, cert, parent)
	if err != nil {
		return nil, err
	}
	a := &Authority{Name: rec.Name, Key: key}
	a.cur.Store(&Certified{Cert: cert, Chain: chain, Revoked: revoked})
	return a, nil
}

// revoked is the revocation of CA name, whose certificate is cert: its
// parent's, or its own, found in the certificate inventory (Revoke
// records a revoked CA's certificates there); nil for neither.
func (h *Hierarchy) revoked(ctx context.Context, name string, cert *x509.Certificate, parent *Authority) (*Revoked, error) {
	if parent != nil {
		if r := parent.Certified().Revoked; r != nil {
			return r, nil
		}
	}
	st, err := h.Store.CertificateStatus(ctx, SerialHex(cert.SerialNumber))
	switch {
	case errs.Is(err, errs.NotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("CA %q: status of its certificate: %w", name, err)
	case st.Status == storage.StatusRevoked:
		return &Revoked{CA: name, At: st.RevokedAt, Reason: st.Reason}, nil
	}
	return nil, nil
}

// Reload brings the CAs of a running gateway up to the store: a CA
// renewed since they were loaded (gateway ca renew, here or on another
// replica) signs and is served with its new certificate from now on, and
// each CA under a renewed one with its new chain. A stored certificate is
// taken only if it certifies the same key under the same subject and is
// signed by the parent's key (a root: its own); one that is not is an
// error, and the CA keeps the certificate it has. A CA revoked since
// (Revoke), or under one, stops issuing. Reload returns the renewals it
// applied, parents first.
func (h *Hierarchy) Reload(ctx context.Context, cas map[string]*Authority) ([]Renewal, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var applied []Renewal
	var problems []error
	for _, c := range h.Config.CAs { // parents first (config.Validate)
		a := cas[c.Name]
		if a == nil {
			continue
		}
		cur := a.Certified()
		next, changed := *cur, false
		rec, err := h.Store.GetCA(ctx, c.Name)
		if err != nil {
			return applied, fmt.Errorf("reload CA %q: %w", c.Name, err)
		}
		if !bytes.Equal(rec.CertDER, cur.Cert.Raw) || c.External && !bytes.Equal(rec.Chain, joinDER(cur.Chain)) {
			cert, chain, err := h.successor(c, a, rec, cas)
			if err != nil {
				problems = append(problems, err)
			} else {
				next.Cert, changed = cert, true
				if c.External {
					next.Chain = chain
				}
				applied = append(applied, Renewal{CA: c.Name, Parent: c.Parent, Old: cur.Cert, Renewed: cert})
			}
		}
		parent := cas[c.Parent]
		if parent != nil && !sameCerts(cur.Chain, parent.Full()) {
			next.Chain, changed = parent.Full(), true
		}
		revoked, err := h.revoked(ctx, c.Name, next.Cert, parent)
		if err != nil {
			return applied, fmt.Errorf("reload CA %q: %w", c.Name, err)
		}
		if (revoked == nil) != (cur.Revoked == nil) || revoked != nil && *revoked != *cur.Revoked {
			next.Revoked, changed = revoked, true
			if revoked != nil {
				h.Log.Error("CA revoked: nothing is issued under it", "ca", c.Name, "revoked_ca", revoked.CA, "revoked_at", revoked.At, "reason", revoked.Reason)
			} else {
				h.Log.Info("CA no longer revoked (released from hold)", "ca", c.Name)
			}
		}
		if changed {
			a.cur.Store(&next)
		}
	}
	for _, r := range applied {
		h.Log.Info("CA certificate reloaded: renewed since it was loaded", "ca", r.CA,
			"serial", SerialHex(r.Renewed.SerialNumber), "replaces", SerialHex(r.Old.SerialNumber), "not_after", r.Renewed.NotAfter)
	}
	return applied, errors.Join(problems...)
}

// ReloadInterval is how often a running gateway looks for renewed CA
// certificates in the store (Follow).
const ReloadInterval = time.Minute

// Follow runs Reload every interval and whenever now receives, until ctx
// ends, and calls changed after a reload that applied a renewal. A reload
// that fails is logged; the CAs keep what they had.
func (h *Hierarchy) Follow(ctx context.Context, cas map[string]*Authority, interval time.Duration, now <-chan struct{}, changed func(context.Context)) {
	every(ctx, interval, now, func() { h.Refresh(ctx, cas, changed) })
}

// Refresh runs Reload once and calls changed if it applied a renewal. A
// reload that fails is logged; the CAs keep what they had.
func (h *Hierarchy) Refresh(ctx context.Context, cas map[string]*Authority, changed func(context.Context)) {
	applied, err := h.Reload(ctx, cas)
	if err != nil {
		h.Log.Error("CA certificate reload", "err", err)
	}
	if len(applied) > 0 && changed != nil {
		changed(ctx)
	}
}

// successor checks that rec, the stored certificate of CA c, may replace
// the certificate a serves: it certifies a's key under the same subject
// and its parent's key (an external CA's: the first of its stored chain)
// signed it. It returns the certificate and, for an external CA, the
// stored chain.
func (h *Hierarchy) successor(c config.CA, a *Authority, rec storage.CA, cas map[string]*Authority) (*x509.Certificate, []*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "CA %q: stored certificate", c.Name)
	}
	if !samePublicKey(a.Key.Public(), cert.PublicKey) {
		return nil, nil, errs.New(errs.Internal, "CA %q: the stored certificate %s certifies another key than %s; kept serving %s",
			c.Name, SerialHex(cert.SerialNumber), a.Key.URI(), SerialHex(a.Cert().SerialNumber))
	}
	if !bytes.Equal(cert.RawSubject, a.Cert().RawSubject) {
		return nil, nil, errs.New(errs.Internal, "CA %q: the stored certificate %s names another subject (%s); kept serving %s",
			c.Name, SerialHex(cert.SerialNumber), cert.Subject, SerialHex(a.Cert().SerialNumber))
	}
	if c.External {
		chain, err := externalChain(rec, cert)
		return cert, chain, err
	}
	issuer := cert // a root signs itself
	if parent := cas[c.Parent]; parent != nil {
		issuer = parent.Cert()
	}
	if err := cert.CheckSignatureFrom(issuer); err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "CA %q: the stored certificate %s is not signed by %s; kept serving %s",
			c.Name, SerialHex(cert.SerialNumber), issuer.Subject, SerialHex(a.Cert().SerialNumber))
	}
	return cert, nil, nil
}

// externalChain is the stored chain of an external CA whose certificate
// is cert, checked to have signed it.
func externalChain(rec storage.CA, cert *x509.Certificate) ([]*x509.Certificate, error) {
	chain, err := x509.ParseCertificates(rec.Chain)
	if err == nil && len(chain) == 0 {
		err = errors.New("empty")
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "CA %q: stored chain", rec.Name)
	}
	if err := cert.CheckSignatureFrom(chain[0]); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "CA %q: the stored certificate %s is not signed by %s, the first of its stored chain",
			rec.Name, SerialHex(cert.SerialNumber), chain[0].Subject)
	}
	return chain, nil
}

// sameCerts reports whether a and b hold the same certificates (the same
// pointers) in the same order.
func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func subject(s config.Subject) pkix.Name {
	n := pkix.Name{CommonName: s.CommonName}
	if s.Organization != "" {
		n.Organization = []string{s.Organization}
	}
	if s.Country != "" {
		n.Country = []string{s.Country}
	}
	return n
}

// ParentsFirst orders stored CAs so that each comes after its parent,
// keeping the given order otherwise (the store lists by creation time,
// and CAs created in the same instant would list a child first). A CA
// whose parent is not in the list keeps its place among the roots.
func ParentsFirst(cas []storage.CA) []storage.CA {
	present := make(map[string]bool, len(cas))
	for _, c := range cas {
		present[c.Name] = true
	}
	out := make([]storage.CA, 0, len(cas))
	placed := make(map[string]bool, len(cas))
	for len(out) < len(cas) {
		progress := false
		for _, c := range cas {
			if !placed[c.Name] && (c.Parent == "" || !present[c.Parent] || placed[c.Parent]) {
				out, placed[c.Name], progress = append(out, c), true, true
			}
		}
		if !progress { // a cycle, which the store cannot hold; keep the rest as listed
			for _, c := range cas {
				if !placed[c.Name] {
					out, placed[c.Name] = append(out, c), true
				}
			}
		}
	}
	return out
}
