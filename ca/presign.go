package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"sync"

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
	der, err := x509.CreateCertificate(rand.Reader, template, &draftParent, pub, key)
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
	der, err := x509.CreateRevocationList(rand.Reader, template, issuer, key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "presign CRL")
	}
	return der, nil
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
