package ocsp

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ResponseStatus is an OCSPResponseStatus (RFC 6960 section 4.2.1).
type ResponseStatus int

// The response statuses. 4 is not used.
const (
	Successful       ResponseStatus = 0
	MalformedRequest ResponseStatus = 1
	InternalError    ResponseStatus = 2
	TryLater         ResponseStatus = 3
	SigRequired      ResponseStatus = 5
	Unauthorized     ResponseStatus = 6
)

func (s ResponseStatus) String() string {
	switch s {
	case Successful:
		return "successful"
	case MalformedRequest:
		return "malformedRequest"
	case InternalError:
		return "internalError"
	case TryLater:
		return "tryLater"
	case SigRequired:
		return "sigRequired"
	case Unauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// errorResponse is an OCSPResponse without responseBytes, for every status
// but successful: SEQUENCE { ENUMERATED status }. It is not signed (RFC
// 6960 2.3).
func errorResponse(s ResponseStatus) []byte {
	return []byte{0x30, 0x03, 0x0a, 0x01, byte(s)}
}

// Kind is what a responder says of a certificate (RFC 6960 2.2).
type Kind int

// The certificate statuses.
const (
	Good Kind = iota
	Revoked
	Unknown
)

func (k Kind) String() string {
	switch k {
	case Good:
		return "good"
	case Revoked:
		return "revoked"
	}
	return "unknown"
}

// certID identifies the certificate a response is about, as in the
// request: the hash algorithm, the issuer's hashes, the serial's INTEGER
// content octets.
type certID struct {
	hash   crypto.Hash
	name   []byte
	key    []byte
	serial []byte
}

// addGeneralizedTime writes a GeneralizedTime in whole seconds, UTC ("Z"),
// as DER requires (X.690 11.7).
func addGeneralizedTime(b *cryptobyte.Builder, t time.Time) {
	b.AddASN1GeneralizedTime(t.UTC().Truncate(time.Second))
}

// singleResponse encodes (RFC 6960 4.2.1):
//
//	SingleResponse ::= SEQUENCE {
//	   certID                       CertID,
//	   certStatus                   CertStatus,
//	   thisUpdate                   GeneralizedTime,
//	   nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
//	   singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
//	CertStatus ::= CHOICE {
//	   good        [0]     IMPLICIT NULL,
//	   revoked     [1]     IMPLICIT RevokedInfo,
//	   unknown     [2]     IMPLICIT UnknownInfo }
//	RevokedInfo ::= SEQUENCE {
//	   revocationTime              GeneralizedTime,
//	   revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
//
// The CertID's hash algorithm is written with NULL parameters, as
// OpenSSL and crypto/x509 write it. A revocation reason is left out for
// unspecified, as in CRL entries (RFC 5280 5.3.1).
func singleResponse(b *cryptobyte.Builder, id certID, st Status, this, next time.Time) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(hashOID(id.hash))) })
				b.AddASN1NULL()
			})
			b.AddASN1OctetString(id.name)
			b.AddASN1OctetString(id.key)
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(id.serial) })
		})
		switch st.Kind {
		case Good:
			b.AddASN1(asn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
		case Revoked:
			b.AddASN1(asn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				addGeneralizedTime(b, st.RevokedAt)
				if st.Reason != 0 {
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.ENUM, func(b *cryptobyte.Builder) { b.AddUint8(uint8(st.Reason)) })
					})
				}
			})
		default:
			b.AddASN1(asn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
		}
		addGeneralizedTime(b, this)
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { addGeneralizedTime(b, next) })
	})
}

// responseData encodes the signed part of a basic response:
//
//	ResponseData ::= SEQUENCE {
//	   version              [0] EXPLICIT Version DEFAULT v1,
//	   responderID              ResponderID,
//	   producedAt               GeneralizedTime,
//	   responses                SEQUENCE OF SingleResponse,
//	   responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
//	ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }
//
// The responder is named by key (the SHA-1 of its subjectPublicKey, RFC
// 6960 4.2.1), which is shorter than its name and what RFC 5019 2.2.3
// recommends. The nonce, if any, is echoed in responseExtensions.
func responseData(keyHash []byte, produced time.Time, id certID, st Status, this, next time.Time, nonce []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(keyHash) })
		addGeneralizedTime(b, produced)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { singleResponse(b, id, st, this, next) })
		if nonce != nil {
			b.AddASN1(asn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oidNonce)) })
						b.AddASN1OctetString(nonce)
					})
				})
			})
		}
	})
	return b.Bytes()
}

// basicResponse wraps signed response data into an OCSPResponse:
//
//	OCSPResponse ::= SEQUENCE {
//	   responseStatus         OCSPResponseStatus,
//	   responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
//	ResponseBytes ::= SEQUENCE { responseType OID, response OCTET STRING }
//	BasicOCSPResponse ::= SEQUENCE {
//	   tbsResponseData      ResponseData,
//	   signatureAlgorithm   AlgorithmIdentifier,
//	   signature            BIT STRING,
//	   certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//
// certs holds the delegated responder's certificate (RFC 6960 4.2.2.2), so
// that a client can check it against the CA it trusts; nil when the CA
// signs itself.
func basicResponse(tbs, algID, sig []byte, certs [][]byte) ([]byte, error) {
	var basic cryptobyte.Builder
	basic.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(algID)
		b.AddASN1BitString(sig)
		if len(certs) > 0 {
			b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, c := range certs {
						b.AddBytes(c)
					}
				})
			})
		}
	})
	inner, err := basic.Bytes()
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(int64(Successful))
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oidBasic)) })
				b.AddASN1OctetString(inner)
			})
		})
	})
	return b.Bytes()
}

// signatureParams returns the DER AlgorithmIdentifier and the hash of a
// responder key's signatures (RFC 5758 3.2 for ECDSA: no parameters; RFC
// 4055 5 for RSA PKCS #1 v1.5: NULL parameters).
func signatureParams(alg x509.SignatureAlgorithm) ([]byte, crypto.Hash, error) {
	var oid string
	var hash crypto.Hash
	null := false
	switch alg {
	case x509.ECDSAWithSHA256:
		oid, hash = "\x2a\x86\x48\xce\x3d\x04\x03\x02", crypto.SHA256
	case x509.ECDSAWithSHA384:
		oid, hash = "\x2a\x86\x48\xce\x3d\x04\x03\x03", crypto.SHA384
	case x509.ECDSAWithSHA512:
		oid, hash = "\x2a\x86\x48\xce\x3d\x04\x03\x04", crypto.SHA512
	case x509.SHA256WithRSA:
		oid, hash, null = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b", crypto.SHA256, true
	case x509.SHA384WithRSA:
		oid, hash, null = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c", crypto.SHA384, true
	case x509.SHA512WithRSA:
		oid, hash, null = "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d", crypto.SHA512, true
	default:
		return nil, 0, fmt.Errorf("unsupported responder signature algorithm %v", alg)
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oid)) })
		if null {
			b.AddASN1NULL()
		}
	})
	der, err := b.Bytes()
	return der, hash, err
}
