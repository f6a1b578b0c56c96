package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
)

// certificateASN1 is RFC 5280 4.1 Certificate with the to-be-signed part
// and the algorithm kept as they were encoded.
type certificateASN1 struct {
	TBS       asn1.RawValue
	Algorithm asn1.RawValue
	Signature asn1.BitString
}

// signDraft turns a linted draft into the real certificate: the HSM signs
// the draft's to-be-signed bytes, which are exactly the certificate the
// lint gate passed (PreSign keeps everything but the signature), and the
// signature replaces the throwaway one. This saves encoding the template a
// second time. The result is verified against the issuer before it is
// returned, as x509.CreateCertificate would, so a faulty HSM signature never
// leaves the gateway.
func signDraft(ctx context.Context, draft []byte, issuer *x509.Certificate, key signer.Key) ([]byte, *x509.Certificate, error) {
	var c certificateASN1
	rest, err := asn1.Unmarshal(draft, &c)
	if err != nil || len(rest) != 0 {
		return nil, nil, errs.New(errs.Internal, "draft certificate does not parse")
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
	d.Write(c.TBS.FullBytes)
	sig, err := key.SignContext(ctx, d.Sum(nil), h)
	if err != nil {
		return nil, nil, err
	}
	c.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	der, err := asn1.Marshal(c)
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
