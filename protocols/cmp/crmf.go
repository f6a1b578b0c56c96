package cmp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// The certificate request of an ir or cr (CRMF, RFC 4211), turned into
// what a PKCS#10 request would have said: subject, public key and
// subjectAltName, with the proof of possession checked. CRMF's module has
// IMPLICIT tags: the template's [6] is the SubjectPublicKeyInfo's
// SEQUENCE retagged, [9] the Extensions'; [5] wraps the Name (a CHOICE).

// errBadPOP is a proof of possession that does not verify.
var errBadPOP = errors.New("bad proof of possession")

// errBadTemplate is a template the server cannot use.
var errBadTemplate = errors.New("bad certificate template")

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// crmfRequest is the one request of an ir, cr or kur.
type crmfRequest struct {
	id  int
	csr *x509.CertificateRequest
	// oldSerial is the serial of the certificate a kur updates (the
	// oldCertID control), nil if absent.
	oldSerial *big.Int
}

// id-regCtrl-oldCertID (RFC 4211 6.5).
var oidOldCertID = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 5, 1, 5}

// parseCertReqMessages reads the one request of an ir, cr or kur: its
// certReqId, the request it makes, whose proof of possession (a signature
// over certReq with the requested key) verified, and the certificate it
// updates, if it names one.
// The request's Raw is der: a request held for approval keeps it, and
// ParseRequest reads it again for the issuance after the approval.
func parseCertReqMessages(der []byte) (crmfRequest, error) {
	id, csr, old, err := parseCertReqMessage(der)
	if err == nil {
		csr.Raw = der
	}
	return crmfRequest{id: id, csr: csr, oldSerial: old}, err
}

// ParseRequest is the core's ca.RequestParser for CMP: it reads the
// CertReqMessages of an ir or cr held for approval, as the device sent it,
// and verifies its proof of possession again.
func ParseRequest(der []byte) (*x509.CertificateRequest, error) {
	cr, err := parseCertReqMessages(der)
	if err != nil {
		return nil, errs.Wrap(errs.BadCSR, err, "CMP certificate request")
	}
	return cr.csr, nil
}

func parseCertReqMessage(der []byte) (int, *x509.CertificateRequest, *big.Int, error) {
	var msgs []asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &msgs); err != nil || len(rest) > 0 {
		return 0, nil, nil, fmt.Errorf("%w: CertReqMessages does not parse", errBadTemplate)
	}
	if len(msgs) != 1 {
		return 0, nil, nil, fmt.Errorf("%w: %d certificate requests in one message; send one", errBadTemplate, len(msgs))
	}
	var certReq, popo asn1.RawValue
	rest, err := asn1.Unmarshal(msgs[0].Bytes, &certReq)
	if err != nil || certReq.Tag != asn1.TagSequence {
		return 0, nil, nil, fmt.Errorf("%w: no certReq", errBadTemplate)
	}
	hasPOP := false
	if len(rest) > 0 {
		if _, err := asn1.Unmarshal(rest, &popo); err != nil {
			return 0, nil, nil, fmt.Errorf("%w: popo does not parse", errBadPOP)
		}
		hasPOP = popo.Class == asn1.ClassContextSpecific
	}
	var id int
	rest, err = asn1.Unmarshal(certReq.Bytes, &id)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: no certReqId", errBadTemplate)
	}
	var tmpl asn1.RawValue
	if rest, err = asn1.Unmarshal(rest, &tmpl); err != nil || tmpl.Tag != asn1.TagSequence {
		return 0, nil, nil, fmt.Errorf("%w: no certTemplate", errBadTemplate)
	}
	old, err := parseControls(rest)
	if err != nil {
		return 0, nil, nil, err
	}
	csr, err := parseTemplate(tmpl.Bytes)
	if err != nil {
		return 0, nil, nil, err
	}
	if !hasPOP {
		return 0, nil, nil, fmt.Errorf("%w: no proof of possession; sign the request with the key (POPO signature)", errBadPOP)
	}
	if err := checkPOP(popo, certReq.FullBytes, csr.PublicKey); err != nil {
		return 0, nil, nil, err
	}
	return id, csr, old, nil
}

// parseControls reads the controls of a CertRequest: the serial of the
// oldCertID control, nil without one; other controls are ignored.
func parseControls(b []byte) (*big.Int, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var controls []struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	if _, err := asn1.Unmarshal(b, &controls); err != nil {
		return nil, fmt.Errorf("%w: controls do not parse", errBadTemplate)
	}
	for _, c := range controls {
		if !c.Type.Equal(oidOldCertID) {
			continue
		}
		var id struct {
			Issuer asn1.RawValue // GeneralName
			Serial *big.Int
		}
		if rest, err := asn1.Unmarshal(c.Value.FullBytes, &id); err != nil || len(rest) > 0 || id.Serial == nil {
			return nil, fmt.Errorf("%w: oldCertID does not parse", errBadTemplate)
		}
		return id.Serial, nil
	}
	return nil, nil
}

// parseTemplate reads the fields of a CertTemplate the gateway uses; the
// profile decides the others (validity, extensions but subjectAltName).
func parseTemplate(b []byte) (*x509.CertificateRequest, error) {
	csr := &x509.CertificateRequest{}
	for len(b) > 0 {
		var f asn1.RawValue
		var err error
		if b, err = asn1.Unmarshal(b, &f); err != nil || f.Class != asn1.ClassContextSpecific {
			return nil, fmt.Errorf("%w: a field does not parse", errBadTemplate)
		}
		switch f.Tag {
		case 5: // subject [5] Name (EXPLICIT: a CHOICE)
			var rdn pkix.RDNSequence
			if rest, err := asn1.Unmarshal(f.Bytes, &rdn); err != nil || len(rest) > 0 {
				return nil, fmt.Errorf("%w: subject does not parse", errBadTemplate)
			}
			csr.Subject.FillFromRDNSequence(&rdn)
			csr.RawSubject = f.Bytes
		case 6: // publicKey [6] SubjectPublicKeyInfo (IMPLICIT)
			spki := f.FullBytes
			spki = append([]byte{0x30}, spki[1:]...) // the SEQUENCE it retags
			pub, err := x509.ParsePKIXPublicKey(spki)
			if err != nil {
				return nil, fmt.Errorf("%w: publicKey: %v", errBadTemplate, err)
			}
			csr.PublicKey, csr.RawSubjectPublicKeyInfo = pub, spki
		case 9: // extensions [9] Extensions (IMPLICIT)
			var exts []pkix.Extension
			seq := append([]byte{0x30}, f.FullBytes[1:]...)
			if rest, err := asn1.Unmarshal(seq, &exts); err != nil || len(rest) > 0 {
				return nil, fmt.Errorf("%w: extensions do not parse", errBadTemplate)
			}
			for _, e := range exts {
				if e.Id.Equal(oidSubjectAltName) {
					if err := parseSANs(e.Value, csr); err != nil {
						return nil, err
					}
				}
			}
			csr.Extensions = exts
		case 0, 1, 2, 3, 4, 7, 8: // version, serialNumber, signingAlg, issuer, validity, UIDs: the CA's to decide
		default:
			return nil, fmt.Errorf("%w: unknown field [%d]", errBadTemplate, f.Tag)
		}
	}
	if csr.PublicKey == nil {
		return nil, fmt.Errorf("%w: no publicKey (central key generation is not offered)", errBadTemplate)
	}
	switch csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		csr.PublicKeyAlgorithm = x509.ECDSA
	case *rsa.PublicKey:
		csr.PublicKeyAlgorithm = x509.RSA
	case ed25519.PublicKey:
		csr.PublicKeyAlgorithm = x509.Ed25519
	}
	return csr, nil
}

// parseSANs reads a subjectAltName's DNS names, IP addresses, e-mail
// addresses and URIs into csr.
func parseSANs(der []byte, csr *x509.CertificateRequest) error {
	var names []asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &names); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: subjectAltName does not parse", errBadTemplate)
	}
	for _, n := range names {
		if n.Class != asn1.ClassContextSpecific {
			return fmt.Errorf("%w: subjectAltName holds a bad name", errBadTemplate)
		}
		switch n.Tag {
		case 1:
			csr.EmailAddresses = append(csr.EmailAddresses, string(n.Bytes))
		case 2:
			csr.DNSNames = append(csr.DNSNames, string(n.Bytes))
		case 6:
			u, err := url.Parse(string(n.Bytes))
			if err != nil {
				return fmt.Errorf("%w: URI %q: %v", errBadTemplate, n.Bytes, err)
			}
			csr.URIs = append(csr.URIs, u)
		case 7:
			if len(n.Bytes) != 4 && len(n.Bytes) != 16 {
				return fmt.Errorf("%w: an IP address of %d bytes", errBadTemplate, len(n.Bytes))
			}
			csr.IPAddresses = append(csr.IPAddresses, net.IP(n.Bytes))
		default:
			return fmt.Errorf("%w: subjectAltName name of type [%d] (DNS, IP, e-mail and URI are accepted)", errBadTemplate, n.Tag)
		}
	}
	return nil
}

// checkPOP verifies a signature proof of possession (ProofOfPossession
// [1] POPOSigningKey) without poposkInput: the requested key signed the
// DER of certReq.
func checkPOP(popo asn1.RawValue, certReq []byte, pub crypto.PublicKey) error {
	if popo.Tag != 1 {
		return fmt.Errorf("%w: proof of possession [%d]; the gateway checks signatures ([1])", errBadPOP, popo.Tag)
	}
	var (
		alg pkix.AlgorithmIdentifier
		sig asn1.BitString
	)
	rest, err := asn1.Unmarshal(popo.Bytes, &alg)
	if err != nil {
		var input asn1.RawValue // poposkInput [0]: for requests without a subject and key, not sent here
		if _, ierr := asn1.Unmarshal(popo.Bytes, &input); ierr == nil && input.Class == asn1.ClassContextSpecific {
			return fmt.Errorf("%w: poposkInput is not supported; put the subject and key in the template", errBadPOP)
		}
		return fmt.Errorf("%w: POPOSigningKey does not parse", errBadPOP)
	}
	if rest, err = asn1.Unmarshal(rest, &sig); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: POPOSigningKey signature does not parse", errBadPOP)
	}
	if err := verifySignature(alg.Algorithm, pub, certReq, sig.RightAlign()); err != nil {
		return fmt.Errorf("%w: %v", errBadPOP, err)
	}
	return nil
}

// Signature algorithms of proofs of possession.
var sigAlgs = map[string]struct {
	hash crypto.Hash
	kind string
}{
	"1.2.840.10045.4.3.2":   {crypto.SHA256, "ecdsa"},
	"1.2.840.10045.4.3.3":   {crypto.SHA384, "ecdsa"},
	"1.2.840.10045.4.3.4":   {crypto.SHA512, "ecdsa"},
	"1.2.840.113549.1.1.11": {crypto.SHA256, "rsa"},
	"1.2.840.113549.1.1.12": {crypto.SHA384, "rsa"},
	"1.2.840.113549.1.1.13": {crypto.SHA512, "rsa"},
	"1.3.101.112":           {0, "ed25519"},
}

func verifySignature(alg asn1.ObjectIdentifier, pub crypto.PublicKey, data, sig []byte) error {
	a, ok := sigAlgs[alg.String()]
	if !ok {
		return fmt.Errorf("signature algorithm %s", alg)
	}
	var digest []byte
	switch a.hash {
	case crypto.SHA256:
		d := sha256.Sum256(data)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(data)
		digest = d[:]
	case crypto.SHA512:
		d := sha512.Sum512(data)
		digest = d[:]
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if a.kind == "ecdsa" && ecdsa.VerifyASN1(k, digest, sig) {
			return nil
		}
	case *rsa.PublicKey:
		if a.kind == "rsa" && rsa.VerifyPKCS1v15(k, a.hash, digest, sig) == nil {
			return nil
		}
	case ed25519.PublicKey:
		if a.kind == "ed25519" && ed25519.Verify(k, data, sig) {
			return nil
		}
	}
	return errors.New("the signature does not verify with the requested key")
}

// signatureAlgorithm is the AlgorithmIdentifier of the CA key's
// signatures, and the hash it signs.
func signatureAlgorithm(a *ca.Authority) (pkix.AlgorithmIdentifier, crypto.Hash, error) {
	alg, err := ca.SignatureAlgorithmFor(a.Key.Public())
	if err != nil {
		return pkix.AlgorithmIdentifier{}, 0, err
	}
	switch alg {
	case x509.ECDSAWithSHA256:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}, crypto.SHA256, nil
	case x509.ECDSAWithSHA384:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}}, crypto.SHA384, nil
	case x509.ECDSAWithSHA512:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}}, crypto.SHA512, nil
	case x509.SHA256WithRSA:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue}, crypto.SHA256, nil
	case x509.SHA384WithRSA:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, Parameters: asn1.NullRawValue}, crypto.SHA384, nil
	case x509.SHA512WithRSA:
		return pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, Parameters: asn1.NullRawValue}, crypto.SHA512, nil
	}
	return pkix.AlgorithmIdentifier{}, 0, fmt.Errorf("CA %s signs with %v, which CMP answers do not carry here", a.Name, alg)
}

// signWith has the CA key sign data (hashed with h) and checks the
// signature, as every signature of a CA key is checked.
func signWith(ctx context.Context, a *ca.Authority, h crypto.Hash, data []byte) ([]byte, error) {
	d := h.New()
	d.Write(data)
	digest := d.Sum(nil)
	sig, err := a.Key.SignContext(ctx, digest, h)
	if err != nil {
		return nil, err
	}
	alg, _, _ := signatureAlgorithm(a)
	if err := verifySignature(alg.Algorithm, a.Key.Public(), data, sig); err != nil {
		return nil, errs.New(errs.Internal, "the CA key returned a bad signature: %v", err)
	}
	return sig, nil
}
