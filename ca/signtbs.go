package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
)

// splitSigned returns the to-be-signed part and the signature algorithm of
// a signed structure (RFC 5280 4.1: a certificate; 5.1: a CRL), as they
// were encoded.
func splitSigned(der []byte) (tbs, alg []byte, err error) {
	in := cryptobyte.String(der)
	var body cryptobyte.String
	var t, a cryptobyte.String
	if !in.ReadASN1(&body, casn1.SEQUENCE) || !in.Empty() ||
		!body.ReadASN1Element(&t, casn1.SEQUENCE) || !body.ReadASN1Element(&a, casn1.SEQUENCE) {
		return nil, nil, errors.New("signed structure does not parse")
	}
	return t, a, nil
}

// assembleSigned encodes the signed structure of RFC 5280 4.1 and 5.1: the
// to-be-signed part and the algorithm as given, the signature as a BIT
// STRING.
func assembleSigned(tbs, alg, sig []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(alg)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// signDraft turns a linted draft into the real certificate: the HSM signs
// the draft's to-be-signed bytes, which are exactly the certificate the
// lint gate passed (PreSign keeps everything but the signature), and the
// signature replaces the throwaway one. This saves encoding the template a
// second time. The result is verified against the issuer before it is
// returned, as x509.CreateCertificate would, so a faulty HSM signature never
// leaves the gateway.
func signDraft(ctx context.Context, draft []byte, issuer *x509.Certificate, key signer.Key) ([]byte, *x509.Certificate, error) {
	tbs, algID, err := splitSigned(draft)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "draft certificate")
	}
	alg, err := SignatureAlgorithmFor(key.Public())
	if err != nil {
		return nil, nil, err
	}
	h := hashOf(alg)
	if h == 0 {
		return nil, nil, errs.New(errs.Internal, "no hash for signature algorithm %s", alg)
	}
	d := h.New()
	d.Write(tbs)
	sig, err := key.SignContext(ctx, d.Sum(nil), h)
	if err != nil {
		return nil, nil, err
	}
	der, err := assembleSigned(tbs, algID, sig)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "encode certificate")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "parse signed certificate")
	}
	if err := cert.CheckSignatureFrom(issuer); err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "the HSM's signature does not verify")
	}
	return der, cert, nil
}

func hashOf(alg x509.SignatureAlgorithm) crypto.Hash {
	switch alg {
	case x509.SHA256WithRSA, x509.ECDSAWithSHA256:
		return crypto.SHA256
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384:
		return crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512:
		return crypto.SHA512
	}
	return 0
}
