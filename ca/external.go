package ca

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// A CA of the configuration may be certified by a CA outside the gateway
// (cas[].external: an offline root, a corporate PKI) rather than by a
// parent here. Its key is made in the token like any other (Init); the
// certificate comes from that CA in answer to a request the key signs
// (Request), and Import installs it with the chain above it, after
// checking that it certifies the key as a CA and chains to a root in the
// same file. From then on the CA issues like the others, with that chain
// in every chain it hands out, and CAs may be listed under it. A new
// certificate for the same key and subject is imported the same way
// (Import replaces the stored one); Renew and Revoke are the external
// CA's business and are refused.

// WaitingCA is a CA that Init could not certify: an external CA waiting
// for its certificate, or a CA under one.
type WaitingCA struct {
	Name string
	// CSR is the external CA's certificate request (DER), to have signed;
	// nil for a CA under a waiting one.
	CSR []byte
	// Under is the waiting external CA above a CA that has no CSR.
	Under string
}

// InitResult is what Init did.
type InitResult struct {
	Created []string
	Waiting []WaitingCA
}

var (
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// Request makes a certificate request (PKCS#10, DER) for the key of the
// external CA name, to have signed by the CA that certifies it: the
// subject of its current certificate (so that a new certificate names the
// CA as the old one did), or the configuration's before the first import,
// and the extensions a CA needs (basicConstraints cA with the configured
// path_len, keyUsage keyCertSign, cRLSign and digitalSignature) with the
// configured name constraints. The key
// must be in the token: Init makes it.
func (h *Hierarchy) Request(ctx context.Context, name string) ([]byte, error) {
	c, err := h.externalCA(name)
	if err != nil {
		return nil, err
	}
	key, cur, _, err := h.externalKey(ctx, c)
	if err != nil {
		return nil, err
	}
	var rawSubject []byte
	if cur != nil {
		rawSubject = cur.RawSubject
	}
	return h.request(ctx, c, key, rawSubject)
}

func (h *Hierarchy) request(ctx context.Context, c config.CA, key signer.Key, rawSubject []byte) ([]byte, error) {
	type basicConstraints struct {
		IsCA       bool `asn1:"optional"`
		MaxPathLen int  `asn1:"optional,default:-1"`
	}
	bc := basicConstraints{IsCA: true, MaxPathLen: -1}
	if c.PathLen != nil {
		bc.MaxPathLen = *c.PathLen
	}
	bcDER, err := asn1.Marshal(bc)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "CA %s: basicConstraints", c.Name)
	}
	// digitalSignature (bit 0), keyCertSign (5), cRLSign (6), as
	// CATemplate sets them.
	kuDER, err := asn1.Marshal(asn1.BitString{Bytes: []byte{0x86}, BitLength: 7})
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "CA %s: keyUsage", c.Name)
	}
	tmpl := &x509.CertificateRequest{
		Subject:    subject(c.Subject),
		RawSubject: rawSubject,
		ExtraExtensions: []pkix.Extension{
			{Id: oidBasicConstraints, Critical: true, Value: bcDER},
			{Id: oidKeyUsage, Critical: true, Value: kuDER},
		},
	}
	nc, err := NameConstraintsOf(c.NameConstraints)
	if err != nil {
		return nil, err
	}
	if !nc.Empty() {
		ext, err := nc.extension()
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key.WithContext(ctx))
	if err != nil {
		return nil, errs.Wrap(errs.KindOf(err), err, "CA %s: sign the certificate request with %s", c.Name, key.URI())
	}
	return der, nil
}

// Imported is what Import did.
type Imported struct {
	CA    string
	Cert  *x509.Certificate
	Chain []*x509.Certificate // nearest first, up to and including the root
	// Replaces is the certificate the CA had, nil for the first import.
	Replaces *x509.Certificate
	// Uncreated are the CAs of the configuration under this one that
	// Init has yet to create.
	Uncreated []string
	// Lint is what the lint gate finds in the certificate, which the
	// external CA made: reported, not refused ("" for nothing).
	Lint string
}

// Import installs the certificate an external CA issued for the key of
// the external CA name, from data: PEM or DER certificates, the CA's own
// and those above it up to and including the root, in any order. It is
// refused, with the reason and nothing stored, unless one of them
// certifies the CA's key in the token as a CA (basicConstraints cA;
// keyUsage keyCertSign and cRLSign; a path length that leaves room for
// the CAs configured under it) and chains through the others to a
// self-signed root now, with path lengths above it that leave room for it
// and the CAs under it. A certificate for a CA that has one must name the
// same subject (what the CA issued chains to it too) and end no earlier.
// The certificate is audited (import-ca) with its DER; running gateways
// take a new one up as they take up a renewal (Reload).
func (h *Hierarchy) Import(ctx context.Context, name string, data []byte, actor string) (Imported, error) {
	c, err := h.externalCA(name)
	if err != nil {
		return Imported{}, err
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return Imported{}, errs.Wrap(errs.Malformed, err, "CA %s", name)
	}
	key, cur, curChain, err := h.externalKey(ctx, c)
	if err != nil {
		return Imported{}, err
	}
	var cert *x509.Certificate
	var others []*x509.Certificate
	for _, x := range certs {
		if cert == nil && samePublicKey(key.Public(), x.PublicKey) {
			cert = x
		} else {
			others = append(others, x)
		}
	}
	if cert == nil {
		return Imported{}, errs.New(errs.Malformed, "CA %s: none of the %d certificates certifies its key: import the certificate issued for its request (gateway ca csr)", name, len(certs))
	}
	now := h.Now()
	chain, err := h.checkExternal(c, cert, others, now)
	if err != nil {
		return Imported{}, err
	}
	if cur != nil {
		switch {
		case !bytes.Equal(cert.RawSubject, cur.RawSubject):
			return Imported{}, errs.New(errs.Conflict, "CA %s: certificate %s names the subject %s, but the CA is %s: what it issued would not chain to it (use the request of `gateway ca csr`)",
				name, SerialHex(cert.SerialNumber), cert.Subject, cur.Subject)
		case cert.NotAfter.Before(cur.NotAfter):
			return Imported{}, errs.New(errs.Conflict, "CA %s: certificate %s ends %s, before the current one (%s)",
				name, SerialHex(cert.SerialNumber), cert.NotAfter.UTC().Format(time.RFC3339), cur.NotAfter.UTC().Format(time.RFC3339))
		case cert.Equal(cur) && bytes.Equal(curChain, joinDER(chain)):
			return Imported{}, errs.New(errs.Conflict, "CA %s: certificate %s is already installed, with the same chain", name, SerialHex(cert.SerialNumber))
		}
	}
	out := Imported{CA: name, Cert: cert, Chain: chain, Replaces: cur}
	if h.Linter != nil {
		if err := h.Linter.LintCertificate(cert.Raw); err != nil {
			out.Lint = err.Error()
		}
	}
	if c.NameConstraints != nil && !hasNameConstraints(cert) {
		out.Lint = strings.TrimPrefix(out.Lint+"; the certificate carries none of the name constraints the configuration asks for (cas[].name_constraints)", "; ")
	}
	if out.Lint != "" {
		h.Log.Warn("the external CA's certificate has findings; installed anyway", "ca", name, "findings", out.Lint)
	}
	root := chain[len(chain)-1]
	audit := storage.AuditEvent{
		At: now, Actor: actor, Action: "import-ca", Profile: CAProfilePrefix + name, Serial: SerialHex(cert.SerialNumber),
		Detail: fmt.Sprintf("CA %s (%s, key %s) certified by %s until %s, under the external root %s", name, cert.Subject,
			key.URI(), cert.Issuer, cert.NotAfter.UTC().Format(time.RFC3339), root.Subject),
		DER: cert.Raw,
	}
	if cur == nil {
		rec := storage.CA{Name: name, KeyURI: key.URI(), CertDER: cert.Raw, Chain: joinDER(chain), CreatedAt: now}
		if err := h.Store.InsertCA(ctx, rec, audit); err != nil {
			return Imported{}, err
		}
		for _, sub := range h.Config.CAs {
			if h.under(sub, name) {
				if _, err := h.Store.GetCA(ctx, sub.Name); errs.Is(err, errs.NotFound) {
					out.Uncreated = append(out.Uncreated, sub.Name)
				}
			}
		}
	} else {
		audit.Detail += fmt.Sprintf(", replacing %s (until %s)", SerialHex(cur.SerialNumber), cur.NotAfter.UTC().Format(time.RFC3339))
		if err := h.Store.ReplaceCACertificate(ctx, name, cur.Raw, cert.Raw, joinDER(chain), audit); err != nil {
			return Imported{}, err
		}
	}
	h.Log.Info("imported CA certificate", "ca", name, "serial", SerialHex(cert.SerialNumber), "issuer", cert.Issuer.String(),
		"root", root.Subject.String(), "not_after", cert.NotAfter)
	return out, nil
}

// checkExternal checks that cert may be the certificate of the external
// CA c, with its issuers among others, and returns its chain, nearest
// first, up to and including the root.
func (h *Hierarchy) checkExternal(c config.CA, cert *x509.Certificate, others []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	name, serial := c.Name, SerialHex(cert.SerialNumber)
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return nil, errs.New(errs.Malformed, "CA %s: certificate %s is not a CA certificate (basicConstraints cA is not set)", name, serial)
	case cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, errs.New(errs.Malformed, "CA %s: certificate %s does not allow keyCertSign in its keyUsage", name, serial)
	case cert.KeyUsage&x509.KeyUsageCRLSign == 0:
		return nil, errs.New(errs.Malformed, "CA %s: certificate %s does not allow cRLSign in its keyUsage: the gateway signs the CA's CRLs", name, serial)
	case bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil:
		return nil, errs.New(errs.Malformed, "CA %s: certificate %s is self-signed: an external CA certifies this CA (a root of the gateway's own is configured without external)", name, serial)
	}
	if depth := h.depthUnder(name); cert.MaxPathLen >= 0 && cert.MaxPathLen < depth {
		return nil, errs.New(errs.Malformed, "CA %s: certificate %s allows %d CAs below it (pathLenConstraint), but the configuration puts %d levels of CAs under it", name, serial, cert.MaxPathLen, depth)
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	hasRoot := false
	for _, o := range others {
		if bytes.Equal(o.RawIssuer, o.RawSubject) && o.CheckSignatureFrom(o) == nil {
			roots.AddCert(o)
			hasRoot = true
		} else {
			intermediates.AddCert(o)
		}
	}
	if !hasRoot {
		return nil, errs.New(errs.Malformed, "CA %s: no self-signed root among the certificates: add the external root's certificate (and any CA between it and %s)", name, serial)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "CA %s: certificate %s does not chain to the root in the file at %s", name, serial, now.UTC().Format(time.RFC3339))
	}
	// Verify checked the path lengths down to cert; the CAs configured
	// under it lengthen every path by depth, and a CA above that allows
	// fewer would make what they issue fail validation (OpenSSL checks
	// the root's pathLenConstraint too).
	depth := h.depthUnder(name)
	var short error
	for _, chain := range chains {
		if short = roomBelow(chain, depth); short == nil {
			return chain[1:], nil
		}
	}
	return nil, errs.Wrap(errs.Malformed, short, "CA %s: certificate %s", name, serial)
}

// roomBelow checks that every CA above chain[0] (nearest first, the root
// last) lets chain[0] and depth levels of CAs under it follow: the CA at
// chain[i] has i-1 CAs of the chain between it and chain[0], so its
// pathLenConstraint must be at least i+depth.
func roomBelow(chain []*x509.Certificate, depth int) error {
	for i, c := range chain[1:] {
		if need := i + 1 + depth; c.MaxPathLen >= 0 && c.MaxPathLen < need {
			return fmt.Errorf("%s above it allows %d CAs below it (pathLenConstraint), but the chain and the configuration put %d there", c.Subject, c.MaxPathLen, need)
		}
	}
	return nil
}

// externalCA is the configuration of CA name, which must be external.
func (h *Hierarchy) externalCA(name string) (config.CA, error) {
	c, ok := h.Config.CA(name)
	switch {
	case !ok:
		return c, errs.New(errs.NotFound, "no CA %q in the configuration", name)
	case !c.External:
		return c, errs.New(errs.Conflict, "CA %s is certified by the gateway (%s): `gateway ca renew -ca %s` renews it", name, certifiedBy(c), name)
	}
	return c, nil
}

func certifiedBy(c config.CA) string {
	if c.Parent == "" {
		return "a root, signed by itself"
	}
	return "by its parent " + c.Parent
}

// externalKey is the key of the external CA c, its current certificate
// and the stored chain above it (nil before the first import).
func (h *Hierarchy) externalKey(ctx context.Context, c config.CA) (signer.Key, *x509.Certificate, []byte, error) {
	rec, err := h.Store.GetCA(ctx, c.Name)
	switch {
	case errs.Is(err, errs.NotFound):
		key, err := h.Signer.Key(ctx, h.Signer.URI(c.Key.Label))
		if errs.Is(err, errs.NotFound) {
			return nil, nil, nil, errs.New(errs.Conflict, "CA %s has no key in the token yet (label %q): run `gateway init`", c.Name, c.Key.Label)
		}
		return key, nil, nil, err
	case err != nil:
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, nil, nil, errs.Wrap(errs.Internal, err, "CA %q: stored certificate", c.Name)
	}
	key, err := h.Signer.Key(ctx, rec.KeyURI)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("CA %q: key %s: %w", c.Name, rec.KeyURI, err)
	}
	return key, cert, rec.Chain, nil
}

// under reports whether CA ancestor is above CA c in the configuration.
func (h *Hierarchy) under(c config.CA, ancestor string) bool {
	for seen := 0; c.Parent != "" && seen < len(h.Config.CAs); seen++ {
		if c.Parent == ancestor {
			return true
		}
		var ok bool
		if c, ok = h.Config.CA(c.Parent); !ok {
			return false
		}
	}
	return false
}

// depthUnder is how many levels of CAs the configuration puts under CA
// name: the pathLenConstraint its certificate needs at least.
func (h *Hierarchy) depthUnder(name string) int {
	depth := 0
	for _, c := range h.Config.CAs {
		if !h.under(c, name) {
			continue
		}
		d := 1
		for p := c.Parent; p != name; d++ {
			pc, _ := h.Config.CA(p)
			p = pc.Parent
		}
		depth = max(depth, d)
	}
	return depth
}

// ParseCertificates reads certificates as PEM (CERTIFICATE blocks; text
// around them is ignored, as openssl writes it) or as DER, one after the
// other.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		certs, err := x509.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor DER certificates: %w", err)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("no certificate")
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", len(certs)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return certs, nil
}

// joinDER is certs' DER one after the other, as storage.CA.Chain keeps
// them.
func joinDER(certs []*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, c.Raw...)
	}
	return b
}

// RenewAdvice is the command that renews CA a, for messages and logs.
func RenewAdvice(a *Authority) string {
	if a.External {
		return "gateway ca csr -ca " + a.Name + " (have it signed), then gateway ca import -ca " + a.Name + " -cert FILE"
	}
	return "gateway ca renew -ca " + a.Name
}

// RequestPEM is a certificate request as PEM.
func RequestPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}
