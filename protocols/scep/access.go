package scep

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"net/http"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// issuerAndSerial is the messageData of GetCert and GetCRL (RFC 8894
// sections 3.3.3 and 3.3.4): CMS IssuerAndSerialNumber (RFC 5652 section
// 10.2.4), a certificate named by its issuer and serial number.
type issuerAndSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

// access answers a GetCert or a GetCRL (RFC 8894 sections 3.3.3 and
// 3.3.4). The envelope names a certificate by its issuer and serial
// number, which must be the profile's CA; a SUCCESS CertRep carries, in a
// degenerate PKCS#7 encrypted to the requester, the certificate (GetCert)
// or its CA's current full CRL (GetCRL).
//
// GetCert is for a device to fetch its own certificate again (the RFC's
// words): the request must be signed with the key the certificate
// certifies, and the certificate must be of this profile; anything else,
// like a serial nobody has, is badCertId, so the answer says nothing of
// other devices' certificates. A CRL is public: any signed GetCRL gets it.
// RFC 8894 wants clients to fetch CRLs from the distribution point, which
// every certificate of the gateway names; GetCRL serves devices that only
// speak SCEP.
func (s *Server) access(w http.ResponseWriter, r *http.Request, ps *profileState, cur *ra, p7 *pkcs7.PKCS7, typ scep.MessageType) {
	ctx := r.Context()
	req, answer, ok := s.readSigned(w, r, ps, cur, p7, typ)
	if !ok {
		return
	}
	content, err := s.openEnvelope(ctx, ps.ra, cur, p7.Content)
	if errs.Is(err, errs.Unavailable) {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadMessageCheck}, errs.Wrap(errs.Malformed, err, "the pkcsPKIEnvelope does not open with the RA key"))
		return
	}
	var ias issuerAndSerial
	if rest, err := asn1.Unmarshal(content, &ias); err != nil || len(rest) > 0 || ias.SerialNumber == nil || ias.SerialNumber.Sign() <= 0 {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadRequest}, errs.New(errs.Malformed, "the %s does not carry an IssuerAndSerialNumber with a positive serial", typ))
		return
	}
	a := ps.ra.a
	if !bytes.Equal(ias.Issuer.FullBytes, a.Cert().RawSubject) {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadCertID}, errs.New(errs.NotFound, "the issuer the %s names is not CA %s, which profile %s issues from", typ, a.Name, ps.name))
		return
	}
	serial := ca.SerialHex(ias.SerialNumber)
	if typ == scep.GetCRL {
		crl, err := s.store.LatestCRL(ctx, a.Name)
		if err != nil {
			// Published when the gateway starts: missing, it is a
			// passing state, as is a store that does not answer.
			s.fail(w, r, errs.Wrap(errs.Unavailable, err, "scep: the CRL of CA %s", a.Name))
			return
		}
		answer(reply{status: scep.SUCCESS, crl: crl.DER}, nil)
		return
	}
	notYours := func(why string) {
		answer(reply{status: scep.FAILURE, failInfo: scep.BadCertID}, errs.New(errs.NotFound, "GetCert of %s: %s", serial, why))
	}
	rec, err := s.store.GetCertificate(ctx, serial)
	switch {
	case errs.Is(err, errs.NotFound):
		notYours("no such certificate")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	case rec.Profile != ps.name || rec.CA != a.Name || len(rec.DER) == 0:
		notYours("not a certificate of profile " + ps.name)
		return
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		s.fail(w, r, errs.Wrap(errs.Internal, err, "stored certificate %s", serial))
		return
	}
	if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(req.signer.PublicKey) {
		notYours("the request is not signed with the certificate's key")
		return
	}
	answer(reply{status: scep.SUCCESS, issued: cert}, nil)
}

// openEnvelope decrypts the pkcsPKIEnvelope of a message the scep library
// does not parse, with the RA key (trying earlier RA certificates as
// decrypt does).
func (s *Server) openEnvelope(ctx context.Context, st *raState, cur *ra, envelope []byte) ([]byte, error) {
	env, err := pkcs7.Parse(envelope)
	if err != nil {
		return nil, err
	}
	var content []byte
	err = s.decryptWith(ctx, st, cur, func(c *x509.Certificate) error {
		var err error
		content, err = env.Decrypt(c, cur.key)
		return err
	})
	return content, err
}

// degenerateCRL is a degenerate certs-only PKCS#7 SignedData (RFC 5652
// section 5; RFC 8894 section 3.3.4) holding crl and nothing else: no
// digest algorithms, no content, no certificates, no signers.
func degenerateCRL(crl []byte) ([]byte, error) {
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true}
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      struct{ ContentType asn1.ObjectIdentifier }
		CRLs             asn1.RawValue
		SignerInfos      asn1.RawValue
	}{
		Version:          1,
		DigestAlgorithms: emptySet,
		ContentInfo:      struct{ ContentType asn1.ObjectIdentifier }{oidData},
		// crls [1] IMPLICIT RevocationInfoChoices (a SET OF)
		CRLs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: crl},
		SignerInfos: emptySet,
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
}

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)
