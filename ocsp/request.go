package ocsp

import (
	"crypto"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/certgw/gateway/errs"
)

// DefaultMaxRequestSize caps an OCSP request. One request for one
// certificate with a 32-octet nonce is about 120 octets; a signed request
// with a certificate chain could be a few KiB. Anything larger is refused as
// malformed before it is parsed.
const DefaultMaxRequestSize = 8 << 10

// Request is a parsed OCSPRequest (RFC 6960 section 4.1.1) for one
// certificate. Its byte slices point into the DER it was parsed from.
type Request struct {
	// Hash is the algorithm of the CertID hashes: SHA-1, SHA-256, SHA-384
	// or SHA-512.
	Hash           crypto.Hash
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	// Serial is the content octets of the serialNumber INTEGER (two's
	// complement, minimal): the same number always has the same octets.
	Serial []byte
	// Nonce is the extnValue of the nonce extension (RFC 6960 4.4.1, RFC
	// 8954), echoed verbatim; nil when the request has none.
	Nonce []byte
}

// Object identifiers, as the content octets of their DER encoding.
const (
	oidSHA1   = "\x2b\x0e\x03\x02\x1a"                 // 1.3.14.3.2.26
	oidSHA256 = "\x60\x86\x48\x01\x65\x03\x04\x02\x01" // 2.16.840.1.101.3.4.2.1
	oidSHA384 = "\x60\x86\x48\x01\x65\x03\x04\x02\x02" // 2.16.840.1.101.3.4.2.2
	oidSHA512 = "\x60\x86\x48\x01\x65\x03\x04\x02\x03" // 2.16.840.1.101.3.4.2.3
	oidNonce  = "\x2b\x06\x01\x05\x05\x07\x30\x01\x02" // id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2
	oidBasic  = "\x2b\x06\x01\x05\x05\x07\x30\x01\x01" // id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1
)

// numHashes is the number of CertID hash algorithms the responder answers
// for; hashAt lists them, and per-algorithm tables are indexed the same way.
const numHashes = 4

func hashAt(i int) crypto.Hash {
	switch i {
	case 0:
		return crypto.SHA1
	case 1:
		return crypto.SHA256
	case 2:
		return crypto.SHA384
	case 3:
		return crypto.SHA512
	}
	return 0
}

// hashIndex returns the index of h, or -1.
func hashIndex(h crypto.Hash) int {
	for i := range numHashes {
		if hashAt(i) == h {
			return i
		}
	}
	return -1
}

func hashOID(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return oidSHA1
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return ""
}

func malformed(msg string) error { return errs.New(errs.Malformed, "OCSP request: %s", msg) }

// ParseRequest parses a DER OCSPRequest (RFC 6960 section 4.1.1) strictly:
// definite minimal lengths, no trailing data, version v1, exactly one
// Request (RFC 5019 2.1.1), a supported hash algorithm with hashes of its
// size, and a nonce (if any) of 1 to 32 octets (RFC 8954 section 2.1). An
// optional signature and requestor name are read over, not checked: the
// responder answers anyone. Every failure is an errs.Malformed.
//
//	OCSPRequest ::= SEQUENCE {
//	    tbsRequest                  TBSRequest,
//	    optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
//	TBSRequest ::= SEQUENCE {
//	    version             [0]     EXPLICIT Version DEFAULT v1,
//	    requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
//	    requestList                 SEQUENCE OF Request,
//	    requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
//	Request ::= SEQUENCE {
//	    reqCert                     CertID,
//	    singleRequestExtensions     [0] EXPLICIT Extensions OPTIONAL }
//	CertID ::= SEQUENCE {
//	    hashAlgorithm       AlgorithmIdentifier,
//	    issuerNameHash      OCTET STRING,
//	    issuerKeyHash       OCTET STRING,
//	    serialNumber        CertificateSerialNumber }
func ParseRequest(der []byte) (*Request, error) {
	if len(der) > DefaultMaxRequestSize {
		return nil, malformed("too large")
	}
	input := cryptobyte.String(der)
	var req, tbs cryptobyte.String
	if !input.ReadASN1(&req, asn1.SEQUENCE) || !input.Empty() {
		return nil, malformed("not one DER SEQUENCE")
	}
	if !req.ReadASN1(&tbs, asn1.SEQUENCE) {
		return nil, malformed("no tbsRequest")
	}
	// optionalSignature: read over, but it must be well-formed.
	if !req.SkipOptionalASN1(asn1.Tag(0).Constructed().ContextSpecific()) || !req.Empty() {
		return nil, malformed("trailing data after tbsRequest")
	}

	var version cryptobyte.String
	var hasVersion bool
	if !tbs.ReadOptionalASN1(&version, &hasVersion, asn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, malformed("bad version")
	}
	if hasVersion {
		var v int64
		if !version.ReadASN1Int64WithTag(&v, asn1.INTEGER) || !version.Empty() || v != 0 {
			return nil, malformed("unsupported version")
		}
	}
	if !tbs.SkipOptionalASN1(asn1.Tag(1).Constructed().ContextSpecific()) {
		return nil, malformed("bad requestorName")
	}
	var list cryptobyte.String
	if !tbs.ReadASN1(&list, asn1.SEQUENCE) {
		return nil, malformed("no requestList")
	}
	var exts cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&exts, &hasExts, asn1.Tag(2).Constructed().ContextSpecific()) || !tbs.Empty() {
		return nil, malformed("bad requestExtensions")
	}

	var one cryptobyte.String
	if !list.ReadASN1(&one, asn1.SEQUENCE) {
		return nil, malformed("empty requestList")
	}
	if !list.Empty() {
		return nil, malformed("more than one certificate in one request")
	}
	r, err := parseCertID(&one)
	if err != nil {
		return nil, err
	}
	if !one.SkipOptionalASN1(asn1.Tag(0).Constructed().ContextSpecific()) || !one.Empty() {
		return nil, malformed("bad singleRequestExtensions")
	}
	if hasExts {
		if r.Nonce, err = parseNonce(exts); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func parseCertID(s *cryptobyte.String) (*Request, error) {
	var certID, alg, oid cryptobyte.String
	if !s.ReadASN1(&certID, asn1.SEQUENCE) {
		return nil, malformed("no CertID")
	}
	if !certID.ReadASN1(&alg, asn1.SEQUENCE) || !alg.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) {
		return nil, malformed("bad hashAlgorithm")
	}
	// Parameters: absent or NULL (RFC 5754 2: implementations accept both).
	if !alg.Empty() {
		var null cryptobyte.String
		if !alg.ReadASN1(&null, asn1.NULL) || !null.Empty() || !alg.Empty() {
			return nil, malformed("bad hashAlgorithm parameters")
		}
	}
	r := &Request{}
	for i := range numHashes {
		if string(oid) == hashOID(hashAt(i)) {
			r.Hash = hashAt(i)
		}
	}
	if r.Hash == 0 {
		return nil, malformed("unsupported hash algorithm")
	}
	var name, key, serial cryptobyte.String
	if !certID.ReadASN1(&name, asn1.OCTET_STRING) || !certID.ReadASN1(&key, asn1.OCTET_STRING) ||
		!certID.ReadASN1(&serial, asn1.INTEGER) || !certID.Empty() {
		return nil, malformed("bad CertID")
	}
	if len(name) != r.Hash.Size() || len(key) != r.Hash.Size() {
		return nil, malformed("issuer hashes do not match the hash algorithm")
	}
	// X.690 8.3.2: an INTEGER has at least one octet, and the first nine
	// bits are neither all zeros nor all ones.
	if len(serial) == 0 || (len(serial) > 1 &&
		((serial[0] == 0 && serial[1]&0x80 == 0) || (serial[0] == 0xff && serial[1]&0x80 != 0))) {
		return nil, malformed("serialNumber is not a DER INTEGER")
	}
	r.IssuerNameHash, r.IssuerKeyHash, r.Serial = name, key, serial
	return r, nil
}

// parseNonce finds the nonce among the request extensions:
//
//	Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
//
// The nonce (RFC 8954: Nonce ::= OCTET STRING (SIZE(1..32))) is the DER
// OCTET STRING inside extnValue; some clients put the raw octets there
// instead, which is accepted with the same size limit. A critical extension
// other than the nonce cannot be honoured and makes the request malformed.
func parseNonce(exts cryptobyte.String) ([]byte, error) {
	var seq cryptobyte.String
	if !exts.ReadASN1(&seq, asn1.SEQUENCE) || !exts.Empty() {
		return nil, malformed("bad requestExtensions")
	}
	var nonce []byte
	for !seq.Empty() {
		var ext, oid, value cryptobyte.String
		var critical bool
		if !seq.ReadASN1(&ext, asn1.SEQUENCE) || !ext.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) ||
			!ext.ReadOptionalASN1Boolean(&critical, asn1.BOOLEAN, false) ||
			!ext.ReadASN1(&value, asn1.OCTET_STRING) || !ext.Empty() {
			return nil, malformed("bad extension")
		}
		if string(oid) != oidNonce {
			if critical {
				return nil, malformed("unsupported critical extension")
			}
			continue
		}
		if nonce != nil {
			return nil, malformed("two nonces")
		}
		inner, n := value, cryptobyte.String(nil)
		size := len(value)
		if inner.ReadASN1(&n, asn1.OCTET_STRING) && inner.Empty() {
			size = len(n)
		}
		if size < 1 || size > 32 {
			return nil, malformed("nonce must have 1 to 32 octets")
		}
		nonce = value
	}
	return nonce, nil
}
