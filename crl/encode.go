package crl

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// The streaming DER encoder of a CertificateList (RFC 5280 section 5.1).
//
// A CRL of a million entries is some 50 MB of DER. crypto/x509 builds it
// from a []x509.RevocationListEntry through reflection-based asn1.Marshal,
// which holds the entries, a []pkix.RevokedCertificate copy and several
// intermediate encodings at once: many times the DER. This encoder writes
// each entry straight into one buffer as it arrives, so memory is the DER
// plus a small reserve, and the TBSCertList it produces is byte for byte
// the one x509.CreateRevocationList produces for the same input
// (TestEncoderMatchesCreateRevocationList): that is what lets the lint gate
// look at a crypto/x509 draft (see Builder).
//
// DER needs every length before its content, and the length of
// revokedCertificates is known only at the end. The buffer therefore starts
// with a reserve as large as every header that can precede the entries;
// when the entries are done, the headers are written right-aligned into
// the reserve, and the encoding starts wherever they begin.

// maxHeader is the longest tag and length of a DER element whose length
// fits in 32 bits: one tag octet, 0x84 and four octets.
const maxHeader = 6

// Tags used below.
const (
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagOID             = 0x06
	tagEnumerated      = 0x0a
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
	tagContext0        = 0xa0 // [0] EXPLICIT, constructed
)

// encoder builds one CRL.
type encoder struct {
	buf     []byte
	reserve int // where the entries start
	prefix  []byte
	n       int // entries written
	this    time.Time
	delta   bool // a delta CRL: removeFromCRL entries allowed
}

// maxEntryLen bounds the DER of one entry: SEQUENCE header (2), INTEGER of
// up to 20 octets plus a sign octet (2+21), GeneralizedTime (2+15) and the
// reason code extension (14), each header counted at its longest short form.
const maxEntryLen = 2 + 23 + 17 + 14

// newEncoder starts a CRL whose TBSCertList opens with prefix (version,
// signature algorithm, issuer, thisUpdate, nextUpdate), with room for
// sizeHint entries (0 if unknown; the buffer grows as needed).
func newEncoder(prefix []byte, this time.Time, sizeHint int) *encoder {
	reserve := maxHeader + maxHeader + len(prefix) + maxHeader
	// The extensions, the signature algorithm and the signature come after
	// the entries; 1 KiB holds them for every supported key.
	capacity := reserve + sizeHint*maxEntryLen + 1024
	buf := make([]byte, reserve, capacity)
	return &encoder{buf: buf, reserve: reserve, prefix: prefix, this: this}
}

// add appends one revokedCertificates entry (RFC 5280 section 5.1.2.6):
//
//	SEQUENCE { userCertificate INTEGER, revocationDate Time,
//	           crlEntryExtensions Extensions OPTIONAL }
//
// serial is the big-endian magnitude of a positive serial number.
func (e *encoder) add(serial []byte, revokedAt time.Time, reason int) error {
	for len(serial) > 1 && serial[0] == 0 {
		serial = serial[1:]
	}
	if len(serial) == 0 || (len(serial) == 1 && serial[0] == 0) {
		return errors.New("serial number zero")
	}
	// RFC 5280 4.1.2.2: at most 20 octets, sign octet included.
	signOctet := serial[0]&0x80 != 0
	intLen := len(serial)
	if signOctet {
		intLen++
	}
	if intLen > 20 {
		return fmt.Errorf("serial number of %d octets, more than 20", intLen)
	}
	if !validReason(reason) && !(e.delta && reason == reasonRemoveFromCRL) {
		return fmt.Errorf("reason code %d is not an RFC 5280 CRLReason", reason)
	}
	// RFC 5280 5.1.2.6: revocationDate is the date of the revocation; it
	// cannot be after the CRL's own thisUpdate. A revocation recorded by a
	// replica whose clock runs ahead is listed at thisUpdate instead.
	revokedAt = revokedAt.UTC()
	if revokedAt.After(e.this) {
		revokedAt = e.this
	}
	timeLen := 15
	if !utcTimeRange(revokedAt) {
		timeLen = 17
	}
	content := 2 + intLen + timeLen
	if reason != 0 {
		content += reasonExtLen
	}
	b := e.buf
	b = append(b, tagSequence, byte(content)) // content < 128, see maxEntryLen
	b = append(b, tagInteger, byte(intLen))
	if signOctet {
		b = append(b, 0)
	}
	b = append(b, serial...)
	b = appendTime(b, revokedAt)
	if reason != 0 {
		// RFC 5280 5.3.1: the reasonCode entry extension, absent for
		// unspecified (0); non-critical. Its encoding:
		// SEQUENCE { SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED } } }
		b = append(b, tagSequence, 12, tagSequence, 10, tagOID, 3, 0x55, 0x1d, 0x15,
			tagOctetString, 3, tagEnumerated, 1, byte(reason))
	}
	e.buf = b
	e.n++
	return nil
}

// reasonExtLen is the length of the crlEntryExtensions holding a reason.
const reasonExtLen = 14

// reasonRemoveFromCRL (RFC 5280 5.3.1) marks, in a delta CRL, a
// certificate that left the CRL: one released from hold.
const reasonRemoveFromCRL = 8

// validReason reports whether code may appear in a reasonCode extension
// of a full CRL: RFC 5280 5.3.1 codes other than unspecified (which is
// left out) and removeFromCRL (which belongs in delta CRLs only); see
// EntryReason.
func validReason(code int) bool {
	switch code {
	case 0, 1, 2, 3, 4, 5, 6, 9, 10:
		return true
	}
	return false
}

// finish appends crlExtensions, closes the TBSCertList and returns it, and
// the index at which the whole CRL will start once sign is called.
func (e *encoder) finish(extensions []byte) (tbs []byte) {
	entriesLen := len(e.buf) - e.reserve
	e.buf = append(e.buf, extensions...)
	// Right-align [tbs header][prefix][revokedCertificates header] in the
	// reserve, ending where the entries start. RFC 5280 5.1.2.6: with no
	// entries, revokedCertificates is absent, not empty.
	var entriesHdr []byte
	if entriesLen > 0 {
		entriesHdr = appendHeader(nil, tagSequence, entriesLen)
	}
	tbsContent := len(e.prefix) + len(entriesHdr) + entriesLen + len(extensions)
	tbsHdr := appendHeader(nil, tagSequence, tbsContent)
	start := e.reserve - len(entriesHdr) - len(e.prefix) - len(tbsHdr)
	at := start
	at += copy(e.buf[at:], tbsHdr)
	at += copy(e.buf[at:], e.prefix)
	copy(e.buf[at:], entriesHdr)
	e.reserve = start // from here on, the start of the TBSCertList
	return e.buf[start:]
}

// sign appends signatureAlgorithm and signatureValue to the TBSCertList
// that finish returned and wraps both in the CertificateList SEQUENCE. The
// returned DER shares the encoder's buffer.
func (e *encoder) sign(algorithm, signature []byte) ([]byte, error) {
	e.buf = append(e.buf, algorithm...)
	e.buf = appendHeader(e.buf, tagBitString, len(signature)+1)
	e.buf = append(e.buf, 0) // no unused bits
	e.buf = append(e.buf, signature...)
	content := len(e.buf) - e.reserve
	hdr := appendHeader(nil, tagSequence, content)
	start := e.reserve - len(hdr)
	if start < 0 {
		return nil, errors.New("crl: no room for the CertificateList header")
	}
	copy(e.buf[start:], hdr)
	der := e.buf[start:]
	// A buffer far larger than the CRL (a size hint that overshot) would
	// be kept alive with it; copy it down in that case only.
	if cap(der) > len(der)+len(der)/4+4096 {
		der = append([]byte(nil), der...)
	}
	return der, nil
}

// appendHeader appends a DER tag and length.
func appendHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendElement appends a complete DER element.
func appendElement(b []byte, tag byte, content []byte) []byte {
	return append(appendHeader(b, tag, len(content)), content...)
}

// utcTimeRange reports whether t is encoded as UTCTime: RFC 5280 4.1.2.5.1
// (through 5.1.2.4) uses UTCTime for the years 1950 to 2049 and
// GeneralizedTime otherwise, as crypto/x509 does.
func utcTimeRange(t time.Time) bool {
	return t.Year() >= 1950 && t.Year() < 2050
}

// appendTime appends a Time (UTCTime or GeneralizedTime, whole seconds, Z)
// without going through fmt or time.Format.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	if utcTimeRange(t) {
		b = append(b, tagUTCTime, 13)
		b = append2(b, year%100)
	} else {
		b = append(b, tagGeneralizedTime, 15)
		b = append2(b, year/100)
		b = append2(b, year%100)
	}
	b = append2(b, int(month))
	b = append2(b, day)
	b = append2(b, hour)
	b = append2(b, min)
	b = append2(b, sec)
	return append(b, 'Z')
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

// appendInt64 appends a positive INTEGER.
func appendInt64(b []byte, v int64) []byte {
	var mag [9]byte
	i := len(mag)
	for {
		i--
		mag[i] = byte(v)
		v >>= 8
		if v == 0 {
			break
		}
	}
	if mag[i]&0x80 != 0 {
		i--
		mag[i] = 0
	}
	return appendElement(b, tagInteger, mag[i:])
}

// algorithmIdentifier returns the DER AlgorithmIdentifier crypto/x509
// writes for alg (RFC 5758 3.2 for ECDSA: no parameters; RFC 4055 5 for
// RSA PKCS #1 v1.5: NULL parameters; RFC 8410 3 for Ed25519: none).
func algorithmIdentifier(alg x509.SignatureAlgorithm) ([]byte, error) {
	var oid []byte
	null := false
	switch alg {
	case x509.ECDSAWithSHA256:
		oid = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	case x509.ECDSAWithSHA384:
		oid = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}
	case x509.ECDSAWithSHA512:
		oid = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}
	case x509.SHA256WithRSA:
		oid, null = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, true
	case x509.SHA384WithRSA:
		oid, null = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, true
	case x509.SHA512WithRSA:
		oid, null = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, true
	case x509.PureEd25519:
		oid = []byte{0x2b, 0x65, 0x70}
	default:
		return nil, fmt.Errorf("crl: unsupported signature algorithm %v", alg)
	}
	content := appendElement(nil, tagOID, oid)
	if null {
		content = append(content, 0x05, 0x00)
	}
	return appendElement(nil, tagSequence, content), nil
}

// tbsPrefix is the start of a TBSCertList, up to revokedCertificates
// (RFC 5280 5.1.2.1-5.1.2.5): version v2, signature, issuer, thisUpdate,
// nextUpdate.
func tbsPrefix(algorithm, issuer []byte, this, next time.Time) []byte {
	b := []byte{tagInteger, 1, 1} // v2
	b = append(b, algorithm...)
	b = append(b, issuer...)
	b = appendTime(b, this)
	return appendTime(b, next)
}

// crlExtensions encodes [0] EXPLICIT Extensions with the authority key
// identifier (RFC 5280 5.2.1, keyIdentifier only, as CA/B Forum BR 7.2.2
// requires) and the CRL number (5.2.3), both non-critical, in the order
// crypto/x509 writes them.
//
// The DER of further extensions follows, in the order given, as
// crypto/x509 writes ExtraExtensions: a shard's issuingDistributionPoint
// (idpExtension), a delta CRL's deltaCRLIndicator (deltaExtension), a
// complete CRL's freshestCRL (freshestExtension).
func crlExtensions(authorityKeyID []byte, number int64, extra ...[]byte) []byte {
	aki := appendElement(nil, 0x80, authorityKeyID) // [0] IMPLICIT KeyIdentifier
	aki = appendElement(nil, tagSequence, aki)
	akiExt := appendElement(nil, tagOID, []byte{0x55, 0x1d, 0x23})
	akiExt = appendElement(akiExt, tagOctetString, aki)

	numExt := appendElement(nil, tagOID, []byte{0x55, 0x1d, 0x14})
	numExt = appendElement(numExt, tagOctetString, appendInt64(nil, number))

	exts := appendElement(nil, tagSequence, akiExt)
	exts = appendElement(exts, tagSequence, numExt)
	for _, e := range extra {
		exts = append(exts, e...)
	}
	return appendElement(nil, tagContext0, appendElement(nil, tagSequence, exts))
}

// Extension OIDs of delta CRLs: id-ce-deltaCRLIndicator (2.5.29.27) and
// id-ce-freshestCRL (2.5.29.46).
var (
	oidDeltaCRLIndicator = []byte{0x55, 0x1d, 0x1b}
	oidFreshestCRL       = []byte{0x55, 0x1d, 0x2e}
)

// deltaExtension is the deltaCRLIndicator of a delta CRL (RFC 5280
// 5.2.4): critical, its value the BaseCRLNumber, the number of the
// complete CRL whose revocations it need not repeat.
func deltaExtension(base int64) []byte {
	ext := appendElement(nil, tagOID, oidDeltaCRLIndicator)
	ext = append(ext, 0x01, 1, 0xff) // critical BOOLEAN TRUE
	ext = appendElement(ext, tagOctetString, appendInt64(nil, base))
	return appendElement(nil, tagSequence, ext)
}

// freshestValue encodes the freshestCRL of a complete CRL (RFC 5280
// 5.2.6): CRLDistributionPoints with one distribution point whose
// fullName is the URI of the delta CRL.
//
//	SEQUENCE { SEQUENCE { [0] { [0] { [6] uri } } } }
func freshestValue(uri string) []byte {
	gn := appendElement(nil, 0x86, []byte(uri)) // uniformResourceIdentifier [6]
	full := appendElement(nil, 0xa0, gn)        // fullName [0]
	dp := appendElement(nil, 0xa0, full)        // distributionPoint [0] (EXPLICIT: a CHOICE)
	return appendElement(nil, tagSequence, appendElement(nil, tagSequence, dp))
}

// freshestExtension is the Extension holding freshestValue(uri),
// non-critical as 5.2.6 requires.
func freshestExtension(uri string) []byte {
	ext := appendElement(nil, tagOID, oidFreshestCRL)
	ext = appendElement(ext, tagOctetString, freshestValue(uri))
	return appendElement(nil, tagSequence, ext)
}

// oidIssuingDistributionPoint is id-ce-issuingDistributionPoint, 2.5.29.28.
var oidIssuingDistributionPoint = []byte{0x55, 0x1d, 0x1c}

// idpValue encodes the IssuingDistributionPoint (RFC 5280 5.2.5) of a
// shard of a partitioned CRL: the distributionPoint is the fullName with
// the one URI the shard is served at (the one in the CRL distribution
// point of the certificates it covers), and onlyContainsUserCerts is TRUE
// because the gateway shards only the CRLs of end-entity certificates;
// the other fields are absent (DEFAULT FALSE, every reason).
//
//	SEQUENCE {
//	  [0] { [0] { [6] uri } }  -- distributionPoint: fullName: URI
//	  [1] TRUE                 -- onlyContainsUserCerts
//	}
//
// distributionPoint is EXPLICIT because DistributionPointName is a CHOICE
// (X.680 31.2.7); fullName and the GeneralName are IMPLICIT.
func idpValue(uri string) []byte {
	gn := appendElement(nil, 0x86, []byte(uri)) // uniformResourceIdentifier [6] IA5String
	full := appendElement(nil, 0xa0, gn)        // fullName [0] GeneralNames
	dp := appendElement(nil, 0xa0, full)        // distributionPoint [0]
	dp = append(dp, 0x81, 1, 0xff)              // onlyContainsUserCerts [1] TRUE
	return appendElement(nil, tagSequence, dp)
}

// idpExtension is the Extension holding idpValue(uri), critical as RFC
// 5280 5.2.5 requires: a relying party that does not understand it must
// not take a shard for a complete CRL.
func idpExtension(uri string) []byte {
	ext := appendElement(nil, tagOID, oidIssuingDistributionPoint)
	ext = append(ext, 0x01, 1, 0xff) // critical BOOLEAN TRUE
	ext = appendElement(ext, tagOctetString, idpValue(uri))
	return appendElement(nil, tagSequence, ext)
}
