package scep

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"
)

// The SCEP attributes of a CertRep (RFC 8894 section 3.2.1.2), which the
// scep library keeps to itself.
var (
	oidMessageType    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 2}
	oidPKIStatus      = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 3}
	oidSenderNonce    = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 5}
	oidRecipientNonce = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 6}
	oidTransactionID  = asn1.ObjectIdentifier{2, 16, 840, 1, 113733, 1, 9, 7}
)

// pendingRep is a CertRep with pkiStatus PENDING (RFC 8894 section
// 3.3.2): the request waits for an operator. It carries no content, only
// signed attributes: the request's transactionID, a fresh senderNonce and
// the request's senderNonce as recipientNonce. The client sends its
// request again, or a CertPoll, until it gets SUCCESS or FAILURE.
func pendingRep(transactionID scep.TransactionID, requestNonce []byte, raCert *x509.Certificate, raKey crypto.Signer) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(nil)
	if err != nil {
		return nil, err
	}
	err = sd.AddSigner(raCert, raKey, pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: oidTransactionID, Value: transactionID},
		{Type: oidPKIStatus, Value: scep.PENDING},
		{Type: oidMessageType, Value: scep.CertRep},
		{Type: oidSenderNonce, Value: nonce},
		{Type: oidRecipientNonce, Value: requestNonce},
	}})
	if err != nil {
		return nil, err
	}
	return sd.Finish()
}
