package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"sync"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/certgw/gateway/errs"
)

// Presigner makes the certificates and CRLs that the lint gate looks at
// before the HSM is asked to sign (DESIGN, "Lint before signing"). It signs
// the very to-be-signed structure that the HSM will sign, with a throwaway
// key of the same type and size as the issuer key, so that the linted DER
// differs from the final one in the signature value only.
//
// Throwaway keys are generated on first use, once per key type and size, and
// kept for the life of the Presigner (RSA 4096 takes seconds to generate).
// They sign nothing but these drafts, which are linted and thrown away; they
// are never persisted or shown. A Presigner is safe for concurrent use;
// create one per process with NewPresigner and pass it down.
type Presigner struct {
	mu   sync.Mutex
	keys map[keySpec]*throwawayKey
}

// keySpec is what the throwaway key must share with the issuer key for the
// draft to look like the real certificate: the algorithm, the curve, and for
// RSA the modulus size (so that the signature has the real length).
type keySpec struct {
	alg   x509.PublicKeyAlgorithm
	curve string
	bits  int
}

type throwawayKey struct {
	once   sync.Once
	signer crypto.Signer
	err    error
}

// NewPresigner returns a Presigner with no keys yet.
func NewPresigner() *Presigner {
	return &Presigner{keys: make(map[keySpec]*throwawayKey)}
}

// PreSign returns the DER of template as parent will issue it for the
// subject key pub, but signed with a throwaway key of the type of issuerPub,
// the issuing CA's public key. parent nil means a self-signed root: template
// is its own parent and issuerPub must be pub.
//
// The draft keeps everything the HSM's certificate will have: the real
// SubjectPublicKeyInfo (pub), the issuer name and the authority key
// identifier of the real parent (taken from a copy of parent whose PublicKey
// is swapped for the throwaway one, which is the only field
// x509.CreateCertificate checks against the signing key). The signature
// algorithm in template must be SignatureAlgorithmFor(issuerPub). A
// pre-signed root does not verify under its own key; Linter.LintCertificate
// knows that and lints it as the root it will be.
func (p *Presigner) PreSign(template, parent *x509.Certificate, pub, issuerPub crypto.PublicKey) ([]byte, error) {
	if template == nil || pub == nil || issuerPub == nil {
		return nil, errs.New(errs.Internal, "presign: template, public key and issuer key are required")
	}
	if err := checkSignatureAlgorithm(template.SignatureAlgorithm, issuerPub); err != nil {
		return nil, err
	}
	var draftParent x509.Certificate
	if parent == nil {
		if !samePublicKey(pub, issuerPub) {
			return nil, errs.New(errs.Internal, "presign: a self-signed certificate needs issuer key == subject key")
		}
		draftParent = *template
	} else {
		if parent.PublicKey != nil && !samePublicKey(parent.PublicKey, issuerPub) {
			return nil, errs.New(errs.Internal, "presign: issuer key does not match the parent certificate")
		}
		draftParent = *parent
	}
	key, err := p.throwaway(issuerPub)
	if err != nil {
		return nil, err
	}
	draftParent.PublicKey = key.Public()
	c := &tbsCapture{key: key}
	_, err = x509.CreateCertificate(rand.Reader, template, &draftParent, pub, c)
	der, err := c.draft(err, false)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "presign certificate")
	}
	return der, nil
}

// PreSignRevocationList is PreSign for a CRL (RFC 5280 section 5) that
// issuer, whose key is issuerPub, will sign.
func (p *Presigner) PreSignRevocationList(template *x509.RevocationList, issuer *x509.Certificate, issuerPub crypto.PublicKey) ([]byte, error) {
	if template == nil || issuer == nil || issuerPub == nil {
		return nil, errs.New(errs.Internal, "presign CRL: template, issuer and issuer key are required")
	}
	if err := checkSignatureAlgorithm(template.SignatureAlgorithm, issuerPub); err != nil {
		return nil, err
	}
	if issuer.PublicKey != nil && !samePublicKey(issuer.PublicKey, issuerPub) {
		return nil, errs.New(errs.Internal, "presign CRL: issuer key does not match the issuer certificate")
	}
	key, err := p.throwaway(issuerPub)
	if err != nil {
		return nil, err
	}
	c := &tbsCapture{key: key}
	_, err = x509.CreateRevocationList(rand.Reader, template, issuer, c)
	der, err := c.draft(err, true)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "presign CRL")
	}
	return der, nil
}

// errCaptured ends x509.CreateCertificate (or CreateRevocationList) once
// tbsCapture has what it needs from it.
var errCaptured = errors.New("presign: to-be-signed structure captured")

// tbsCapture is the throwaway key as x509.CreateCertificate sees it. The
// x509 package encodes the to-be-signed structure and passes it whole to a
// crypto.MessageSigner; tbsCapture signs it with the throwaway key, keeps
// both, and fails the call. The draft is then assembled from them, as the
// certificate will be from the HSM's signature (signDraft), and the
// package's check of the returned signature, an ECDSA verification costing
// about two signatures, is not spent on a signature that is thrown away.
type tbsCapture struct {
	key      crypto.Signer
	tbs, sig []byte
}

func (c *tbsCapture) Public() crypto.PublicKey { return c.key.Public() }

// Sign is never called: crypto.SignMessage prefers SignMessage.
func (c *tbsCapture) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("presign: the throwaway key signs whole messages only")
}

func (c *tbsCapture) SignMessage(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := crypto.SignMessage(c.key, r, msg, opts)
	if err != nil {
		return nil, err
	}
	c.tbs, c.sig = msg, sig
	return nil, errCaptured
}

// draft assembles the signed structure (RFC 5280 4.1 and 5.1: to-be-signed,
// algorithm, signature) from what was captured, given the error the x509
// call returned. The algorithm is the one the to-be-signed part names,
// which the outer one must repeat (4.1.1.2, 5.1.1.2).
func (c *tbsCapture) draft(callErr error, crl bool) ([]byte, error) {
	if !errors.Is(callErr, errCaptured) {
		if callErr == nil {
			callErr = errors.New("the x509 package did not sign through the capture")
		}
		return nil, callErr
	}
	tbs := cryptobyte.String(c.tbs)
	var body cryptobyte.String
	if !tbs.ReadASN1(&body, casn1.SEQUENCE) || !tbs.Empty() {
		return nil, errors.New("to-be-signed structure does not parse")
	}
	var alg cryptobyte.String
	ok := true
	if crl {
		// TBSCertList: version (optional INTEGER), signature.
		if body.PeekASN1Tag(casn1.INTEGER) {
			ok = body.SkipASN1(casn1.INTEGER)
		}
	} else {
		// TBSCertificate: [0] version, serialNumber, signature.
		ok = body.SkipOptionalASN1(casn1.Tag(0).Constructed().ContextSpecific()) && body.SkipASN1(casn1.INTEGER)
	}
	if !ok || !body.ReadASN1Element(&alg, casn1.SEQUENCE) {
		return nil, errors.New("to-be-signed structure names no signature algorithm")
	}
	return assembleSigned(c.tbs, alg, c.sig)
}

// throwaway returns the cached key matching issuerPub, generating it on
// first use. The map lock is held only to find the entry; generation runs
// under the entry's sync.Once, so a slow RSA 4096 generation does not hold
// up drafts for other key types.
func (p *Presigner) throwaway(issuerPub crypto.PublicKey) (crypto.Signer, error) {
	spec, err := specOf(issuerPub)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	k, ok := p.keys[spec]
	if !ok {
		k = &throwawayKey{}
		p.keys[spec] = k
	}
	p.mu.Unlock()
	k.once.Do(func() { k.signer, k.err = generate(spec) })
	return k.signer, k.err
}

func specOf(pub crypto.PublicKey) (keySpec, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return keySpec{alg: x509.ECDSA, curve: k.Curve.Params().Name}, nil
		}
		return keySpec{}, errs.New(errs.Config, "presign: unsupported ECDSA curve %s", curveName(k.Curve))
	case *rsa.PublicKey:
		// BR 6.1.5: at least 2048 bits; 8192 bounds the generation time.
		bits := k.N.BitLen()
		if bits < 2048 || bits > 8192 {
			return keySpec{}, errs.New(errs.Config, "presign: unsupported RSA key size %d", bits)
		}
		return keySpec{alg: x509.RSA, bits: bits}, nil
	case ed25519.PublicKey:
		return keySpec{alg: x509.Ed25519}, nil
	}
	return keySpec{}, errs.New(errs.Config, "presign: unsupported issuer key type %T", pub)
}

func generate(s keySpec) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch s.alg {
	case x509.ECDSA:
		curve := map[string]elliptic.Curve{
			"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521(),
		}[s.curve]
		key, err = ecdsa.GenerateKey(curve, rand.Reader)
	case x509.RSA:
		key, err = rsa.GenerateKey(rand.Reader, s.bits)
	case x509.Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, errs.New(errs.Internal, "presign: no generator for %v", s.alg)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "presign: generate throwaway %v key", s.alg)
	}
	return key, nil
}

func checkSignatureAlgorithm(got x509.SignatureAlgorithm, issuerPub crypto.PublicKey) error {
	want, err := SignatureAlgorithmFor(issuerPub)
	if err != nil {
		return err
	}
	if got != want {
		return errs.New(errs.Internal, "presign: template signature algorithm %v, issuer key needs %v", got, want)
	}
	return nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
