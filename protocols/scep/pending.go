package scep

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"
)

// The SCEP attributes (RFC 8894 section 3.2.1.2), which the scep library
// keeps to itself.
var (
	oidMessageType    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 2}
	oidPKIStatus      = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 3}
	oidFailInfo       = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 4}
	oidSenderNonce    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 5}
	oidRecipientNonce = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 6}
	oidTransactionID  = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 7}
)

// reply is what a CertRep answers (RFC 8894 section 3.3) to a request
// with transactionID and senderNonce: the status, the failInfo of a
// FAILURE, and the certificate of a SUCCESS, enveloped to recipient (the
// requester's signer certificate). The scep library makes CertReps only for
// the requests it parses; the gateway makes its own for a PENDING answer
// and for CertPoll, GetCert and GetCRL (whose SUCCESS holds a CRL).
type reply struct {
	transactionID scep.TransactionID
	requestNonce  []byte
	status        scep.PKIStatus
	failInfo      scep.FailInfo
	issued        *x509.Certificate
	crl           []byte // a SUCCESS's content instead of issued (GetCRL)
	recipient     *x509.Certificate
}

// sign makes the CertRep, signed by the RA: signed attributes only for
// PENDING and FAILURE; for SUCCESS the issued certificate in a degenerate
// certs-only PKCS#7, encrypted to the recipient, as content.
func (r reply) sign(raCert *x509.Certificate, raKey crypto.Signer) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	var content []byte
	if r.status == scep.SUCCESS {
		var deg []byte
		var err error
		if r.crl != nil {
			deg, err = degenerateCRL(r.crl)
		} else {
			deg, err = scep.DegenerateCertificates([]*x509.Certificate{r.issued})
		}
		if err != nil {
			return nil, err
		}
		if content, err = pkcs7.Encrypt(deg, []*x509.Certificate{r.recipient}); err != nil {
			return nil, err
		}
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, err
	}
	attrs := []pkcs7.Attribute{
		{Type: oidTransactionID, Value: r.transactionID},
		{Type: oidPKIStatus, Value: r.status},
		{Type: oidMessageType, Value: scep.CertRep},
		{Type: oidSenderNonce, Value: nonce},
		{Type: oidRecipientNonce, Value: r.requestNonce},
	}
	if r.status == scep.FAILURE {
		attrs = append(attrs, pkcs7.Attribute{Type: oidFailInfo, Value: r.failInfo})
	}
	if err := sd.AddSigner(raCert, raKey, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		return nil, err
	}
	return sd.Finish()
}
