package cmp

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The PKIMessage of RFC 9810 (CMP, formerly RFC 4210 and 9480), read and
// written with encoding/asn1. Its module has EXPLICIT tags: every context
// tag of the header and the body wraps the element it tags. The optional
// tagged fields are read one element at a time, as encoding/asn1 would
// take any element for an optional asn1.RawValue.

// PKIBody choices the server reads or writes (RFC 9810 5.1.2).
const (
	bodyIR       = 0  // initialization request (CRMF)
	bodyIP       = 1  // initialization response
	bodyCR       = 2  // certification request (CRMF)
	bodyCP       = 3  // certification response
	bodyP10CR    = 4  // PKCS#10 certification request
	bodyKUR      = 7  // key update request (CRMF)
	bodyKUP      = 8  // key update response
	bodyGenM     = 21 // general message
	bodyGenP     = 22 // general response
	bodyRR       = 11 // revocation request
	bodyRP       = 12 // revocation response
	bodyPKIConf  = 19 // confirmation
	bodyPollReq  = 25 // polling request
	bodyPollRep  = 26 // polling response
	bodyError    = 23 // error
	bodyCertConf = 24 // certificate confirmation
)

var bodyNames = map[int]string{bodyIR: "ir", bodyIP: "ip", bodyCR: "cr", bodyCP: "cp", bodyP10CR: "p10cr",
	bodyPKIConf: "pkiconf", bodyError: "error", bodyCertConf: "certConf", bodyKUR: "kur", bodyKUP: "kup", bodyRR: "rr", bodyRP: "rp", bodyGenM: "genm", bodyGenP: "genp", bodyPollReq: "pollReq", bodyPollRep: "pollRep"}

func bodyName(tag int) string {
	if n, ok := bodyNames[tag]; ok {
		return n
	}
	return fmt.Sprintf("body [%d]", tag)
}

// message is a PKIMessage as read: the header's fields the server uses,
// the body's choice and content, and what the protection covers.
type message struct {
	pvno          int
	sender        asn1.RawValue // GeneralName, as sent
	protectionAlg *pkix.AlgorithmIdentifier
	senderKID     []byte
	transactionID []byte
	senderNonce   []byte
	generalInfo   []infoTypeAndValue
	messageTime   time.Time // zero when absent

	bodyTag    int
	body       []byte // the content of the body's explicit tag
	header     []byte // DER of the header, as sent
	bodyDER    []byte // DER of the body (with its tag), as sent
	protect    asn1.BitString
	hasProof   bool
	extraCerts [][]byte // DER, as sent; the first is the protection's signer
}

type infoTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"optional"`
}

// id-it-implicitConfirm (RFC 9810 5.1.1.1).
var oidImplicitConfirm = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 4, 13}

// maxMessage bounds a request: a CSR or CRMF request with its chain fits
// many times over.
const maxMessage = 64 << 10

// parseMessage reads a PKIMessage.
func parseMessage(der []byte) (*message, error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, fmt.Errorf("not a DER PKIMessage: %w", err)
	}
	if len(rest) > 0 || outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence {
		return nil, errors.New("not a DER PKIMessage: trailing data or not a SEQUENCE")
	}
	m := &message{}
	var header, body asn1.RawValue
	rest, err = asn1.Unmarshal(outer.Bytes, &header)
	if err != nil || header.Tag != asn1.TagSequence {
		return nil, errors.New("PKIMessage: no header")
	}
	if rest, err = asn1.Unmarshal(rest, &body); err != nil || body.Class != asn1.ClassContextSpecific || !body.IsCompound {
		return nil, errors.New("PKIMessage: no body")
	}
	m.header, m.bodyDER, m.bodyTag = header.FullBytes, body.FullBytes, body.Tag
	var inner asn1.RawValue
	if r, err := asn1.Unmarshal(body.Bytes, &inner); err != nil || len(r) > 0 {
		return nil, fmt.Errorf("PKIMessage: %s: its content is not one element", bodyName(body.Tag))
	}
	m.body = inner.FullBytes
	for len(rest) > 0 {
		var f asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &f); err != nil || f.Class != asn1.ClassContextSpecific {
			return nil, errors.New("PKIMessage: bad field after the body")
		}
		switch f.Tag {
		case 0: // protection [0] BIT STRING
			if _, err := asn1.Unmarshal(f.Bytes, &m.protect); err != nil {
				return nil, errors.New("PKIMessage: protection is not a BIT STRING")
			}
			m.hasProof = true
		case 1: // extraCerts [1] SEQUENCE OF CMPCertificate
			var certs []asn1.RawValue
			if _, err := asn1.Unmarshal(f.Bytes, &certs); err != nil {
				return nil, errors.New("PKIMessage: extraCerts do not parse")
			}
			for _, c := range certs {
				m.extraCerts = append(m.extraCerts, c.FullBytes)
			}
		default:
			return nil, fmt.Errorf("PKIMessage: unknown field [%d]", f.Tag)
		}
	}
	return m, m.parseHeader(header.Bytes)
}

func (m *message) parseHeader(b []byte) error {
	rest, err := asn1.Unmarshal(b, &m.pvno)
	if err != nil {
		return errors.New("PKIHeader: no pvno")
	}
	if m.pvno != 2 && m.pvno != 3 {
		return fmt.Errorf("PKIHeader: pvno %d (2 or 3 are supported)", m.pvno)
	}
	if rest, err = asn1.Unmarshal(rest, &m.sender); err != nil {
		return errors.New("PKIHeader: no sender")
	}
	var recipient asn1.RawValue
	if rest, err = asn1.Unmarshal(rest, &recipient); err != nil {
		return errors.New("PKIHeader: no recipient")
	}
	last := -1
	for len(rest) > 0 {
		var f asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &f); err != nil || f.Class != asn1.ClassContextSpecific || f.Tag <= last {
			return errors.New("PKIHeader: bad optional field")
		}
		last = f.Tag
		var perr error
		switch f.Tag {
		case 1:
			m.protectionAlg = &pkix.AlgorithmIdentifier{}
			_, perr = asn1.Unmarshal(f.Bytes, m.protectionAlg)
		case 2:
			_, perr = asn1.Unmarshal(f.Bytes, &m.senderKID)
		case 4:
			_, perr = asn1.Unmarshal(f.Bytes, &m.transactionID)
		case 5:
			_, perr = asn1.Unmarshal(f.Bytes, &m.senderNonce)
		case 8:
			_, perr = asn1.Unmarshal(f.Bytes, &m.generalInfo)
		case 0:
			_, perr = asn1.UnmarshalWithParams(f.Bytes, &m.messageTime, "generalized")
		case 3, 6, 7: // recipKID, recipNonce, freeText
		default:
			perr = fmt.Errorf("unknown field [%d]", f.Tag)
		}
		if perr != nil {
			return fmt.Errorf("PKIHeader: field [%d]: %v", f.Tag, perr)
		}
	}
	return nil
}

// implicitConfirm reports whether the request asks for implicit
// confirmation.
func (m *message) implicitConfirm() bool {
	for _, i := range m.generalInfo {
		if i.Type.Equal(oidImplicitConfirm) {
			return true
		}
	}
	return false
}

// protectedPart is the DER the protection covers (RFC 9810 5.1.3):
// SEQUENCE { header, body }.
func protectedPart(header, body []byte) []byte {
	b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: append(append([]byte{}, header...), body...)})
	return b
}

// explicit wraps der in a context tag.
func explicit(tag int, der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: der}
}

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cmp: marshal %T: %v", v, err))
	}
	return b
}

// responseHeader is the header of the answer to req: from the CA (sender,
// a directoryName), to the request's sender, with its transaction, a
// fresh nonce and the request's as recipNonce, protected with alg (nil:
// unprotected) under the key senderKID names (the shared secret's
// reference, or the signer's subject key identifier).
func responseHeader(req *message, sender []byte, alg *pkix.AlgorithmIdentifier, senderKID, nonce []byte, now time.Time, implicitConfirm bool) []byte {
	var b []byte
	b = append(b, mustMarshal(req.pvno)...)
	b = append(b, mustMarshal(explicit(4, sender))...) // directoryName [4] Name
	recipient := req.sender.FullBytes
	if len(recipient) == 0 {
		recipient = mustMarshal(explicit(4, mustMarshal(pkix.RDNSequence{})))
	}
	b = append(b, recipient...)
	b = append(b, mustMarshal(explicit(0, mustMarshal(asn1.RawValue{Tag: asn1.TagGeneralizedTime, Bytes: []byte(now.UTC().Format("20060102150405Z"))})))...)
	if alg != nil {
		b = append(b, mustMarshal(explicit(1, mustMarshal(*alg)))...)
	}
	if len(senderKID) > 0 {
		b = append(b, mustMarshal(explicit(2, mustMarshal(senderKID)))...)
	}
	if len(req.transactionID) > 0 {
		b = append(b, mustMarshal(explicit(4, mustMarshal(req.transactionID)))...)
	}
	b = append(b, mustMarshal(explicit(5, mustMarshal(nonce)))...)
	if len(req.senderNonce) > 0 {
		b = append(b, mustMarshal(explicit(6, mustMarshal(req.senderNonce)))...)
	}
	if implicitConfirm {
		info := []infoTypeAndValue{{Type: oidImplicitConfirm, Value: asn1.NullRawValue}}
		b = append(b, mustMarshal(explicit(8, mustMarshal(info)))...)
	}
	return mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: b})
}

// pkiMessage assembles a PKIMessage from its header, body and protection
// (nil: none), with extraCerts (DER certificates) if any.
func pkiMessage(header, body, protection []byte, extraCerts [][]byte) []byte {
	b := append(append([]byte{}, header...), body...)
	if protection != nil {
		b = append(b, mustMarshal(explicit(0, mustMarshal(asn1.BitString{Bytes: protection, BitLength: 8 * len(protection)})))...)
	}
	if len(extraCerts) > 0 {
		var certs []byte
		for _, c := range extraCerts {
			certs = append(certs, c...)
		}
		seq := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: certs})
		b = append(b, mustMarshal(explicit(1, seq))...)
	}
	return mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: b})
}

// PKIStatus values and PKIFailureInfo bits (RFC 9810 5.2.3).
const (
	statusAccepted  = 0
	statusRejection = 2
	statusWaiting   = 3

	failBadAlg          = 0
	failBadMessageCheck = 1
	failBadRequest      = 2
	failBadDataFormat   = 5
	failBadTime         = 3
	failBadCertID       = 4
	failBadPOP          = 9
	failCertRevoked     = 10
	failBadSenderNonce  = 18
	failBadCertTemplate = 19
	failNotAuthorized   = 23
	failSystemUnavail   = 24
	failSystemFailure   = 25
)

// statusInfo encodes PKIStatusInfo: a status, text, and a failure bit.
func statusInfo(status int, text string, failBit int) []byte {
	b := mustMarshal(status)
	if text != "" { // PKIFreeText: SEQUENCE OF UTF8String
		b = append(b, mustMarshal([]asn1.RawValue{{Tag: asn1.TagUTF8String, Bytes: []byte(text)}})...)
	}
	if status == statusRejection && failBit >= 0 {
		bits := make([]byte, failBit/8+1)
		bits[failBit/8] = 0x80 >> (failBit % 8)
		b = append(b, mustMarshal(asn1.BitString{Bytes: bits, BitLength: failBit + 1})...)
	}
	return mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: b})
}

// certRepBody is an ip or cp: one accepted CertResponse with the
// certificate, and the CA chain in caPubs.
func certRepBody(tag int, certReqID int, cert []byte, caPubs [][]byte) []byte {
	var resp []byte
	resp = append(resp, mustMarshal(certReqID)...)
	resp = append(resp, statusInfo(statusAccepted, "", -1)...)
	keyPair := mustMarshal(explicit(0, cert)) // certOrEncCert: certificate [0]
	resp = append(resp, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: keyPair})...)
	respSeq := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: resp})
	var rep []byte
	if len(caPubs) > 0 {
		var pubs []byte
		for _, c := range caPubs {
			pubs = append(pubs, c...)
		}
		rep = append(rep, mustMarshal(explicit(1, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: pubs})))...)
	}
	rep = append(rep, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: respSeq})...)
	return mustMarshal(explicit(tag, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: rep})))
}

// waitingBody is an ip, cp or kup saying the request waits (RFC 9810
// 5.3.22): a status waiting and no certificate; the client polls.
func waitingBody(tag, certReqID int, text string) []byte {
	resp := append(mustMarshal(certReqID), statusInfo(statusWaiting, text, -1)...)
	respSeq := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: resp})
	rep := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: respSeq})
	return mustMarshal(explicit(tag, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: rep})))
}

// pollRepBody answers a pollReq while the request waits: ask again
// after checkAfter seconds.
func pollRepBody(certReqID, checkAfter int, text string) []byte {
	b := append(mustMarshal(certReqID), mustMarshal(checkAfter)...)
	if text != "" {
		b = append(b, mustMarshal([]asn1.RawValue{{Tag: asn1.TagUTF8String, Bytes: []byte(text)}})...)
	}
	one := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: b})
	return mustMarshal(explicit(bodyPollRep, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: one})))
}

// parsePollReq reads a PollReqContent of one request: its certReqId.
func parsePollReq(der []byte) (int, error) {
	var list []struct{ CertReqID int }
	if rest, err := asn1.Unmarshal(der, &list); err != nil || len(rest) > 0 || len(list) != 1 {
		return 0, errors.New("pollReq: PollReqContent of one certReqId does not parse")
	}
	return list[0].CertReqID, nil
}

// errorBody is an error message (ErrorMsgContent) with a rejection.
func errorBody(text string, failBit int) []byte {
	content := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: statusInfo(statusRejection, text, failBit)})
	return mustMarshal(explicit(bodyError, content))
}

// certStatus is one CertStatus of a certConf (RFC 9810 5.3.18).
type certStatus struct {
	certHash []byte
	status   int // PKIStatus; accepted when statusInfo is absent
	text     string
}

// parseCertConf reads a CertConfirmContent.
func parseCertConf(der []byte) ([]certStatus, error) {
	var list []asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &list); err != nil || len(rest) > 0 {
		return nil, errors.New("certConf does not parse")
	}
	var out []certStatus
	for _, e := range list {
		var st certStatus
		rest, err := asn1.Unmarshal(e.Bytes, &st.certHash)
		if err != nil {
			return nil, errors.New("certConf: CertStatus without certHash")
		}
		var id int
		if rest, err = asn1.Unmarshal(rest, &id); err != nil {
			return nil, errors.New("certConf: CertStatus without certReqId")
		}
		for len(rest) > 0 {
			var f asn1.RawValue
			if rest, err = asn1.Unmarshal(rest, &f); err != nil {
				return nil, errors.New("certConf: CertStatus does not parse")
			}
			if f.Class != asn1.ClassUniversal || f.Tag != asn1.TagSequence {
				continue // hashAlg [0]
			}
			// statusInfo PKIStatusInfo: status, then statusString.
			r, err := asn1.Unmarshal(f.Bytes, &st.status)
			if err != nil {
				return nil, errors.New("certConf: statusInfo without status")
			}
			var texts []string
			if len(r) > 0 {
				if _, err := asn1.UnmarshalWithParams(r, &texts, "utf8"); err == nil && len(texts) > 0 {
					st.text = texts[0]
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// revDetails is the one RevDetails of an rr: the serial of the
// certificate to revoke, and the reason (crlEntryDetails' reasonCode; 0
// without one).
type revDetails struct {
	serial *big.Int
	reason int
}

var oidReasonCode = asn1.ObjectIdentifier{2, 5, 29, 21}

// parseRevReq reads a RevReqContent of one RevDetails (RFC 9483 4.2).
func parseRevReq(der []byte) (revDetails, error) {
	var rd revDetails
	var list []asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &list); err != nil || len(rest) > 0 {
		return rd, errors.New("rr: RevReqContent does not parse")
	}
	if len(list) != 1 {
		return rd, fmt.Errorf("rr: %d revocations in one request; send one", len(list))
	}
	var tmpl asn1.RawValue
	rest, err := asn1.Unmarshal(list[0].Bytes, &tmpl)
	if err != nil || tmpl.Tag != asn1.TagSequence {
		return rd, errors.New("rr: no certDetails")
	}
	for b := tmpl.Bytes; len(b) > 0; {
		var f asn1.RawValue
		if b, err = asn1.Unmarshal(b, &f); err != nil || f.Class != asn1.ClassContextSpecific {
			return rd, errors.New("rr: certDetails does not parse")
		}
		if f.Tag == 1 { // serialNumber [1] INTEGER (IMPLICIT)
			if len(f.Bytes) == 0 || len(f.Bytes) > 21 || f.Bytes[0]&0x80 != 0 {
				return rd, errors.New("rr: serialNumber is not a positive INTEGER of at most 20 octets")
			}
			rd.serial = new(big.Int).SetBytes(f.Bytes)
		}
	}
	if rd.serial == nil {
		return rd, errors.New("rr: certDetails names no serialNumber")
	}
	if len(rest) > 0 { // crlEntryDetails Extensions
		var exts []pkix.Extension
		if _, err := asn1.Unmarshal(rest, &exts); err != nil {
			return rd, errors.New("rr: crlEntryDetails does not parse")
		}
		for _, e := range exts {
			if !e.Id.Equal(oidReasonCode) {
				continue
			}
			var reason asn1.Enumerated
			if _, err := asn1.Unmarshal(e.Value, &reason); err != nil {
				return rd, errors.New("rr: reasonCode is not an ENUMERATED")
			}
			rd.reason = int(reason)
		}
	}
	return rd, nil
}

// revRepBody is an rp: one PKIStatusInfo.
func revRepBody(status []byte) []byte {
	content := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: status})
	content = mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: content})
	return mustMarshal(explicit(bodyRP, content))
}

// id-it-caCerts (RFC 9483 4.3.1).
var oidCACerts = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 4, 17}

// parseGenM reads a GenMsgContent: the infoTypes asked for.
func parseGenM(der []byte) ([]asn1.ObjectIdentifier, error) {
	var list []infoTypeAndValue
	if rest, err := asn1.Unmarshal(der, &list); err != nil || len(rest) > 0 {
		return nil, errors.New("genm: GenMsgContent does not parse")
	}
	var out []asn1.ObjectIdentifier
	for _, i := range list {
		out = append(out, i.Type)
	}
	return out, nil
}

// genPBody is a genp with the CA certificates (caCerts) when they were
// asked for; other infoTypes are left out, as RFC 9810 5.3.19 allows.
func genPBody(caCerts [][]byte) []byte {
	var items []byte
	if caCerts != nil {
		var certs []byte
		for _, c := range caCerts {
			certs = append(certs, c...)
		}
		value := mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: certs})
		items = mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
			Bytes: append(mustMarshal(oidCACerts), value...)})
	}
	return mustMarshal(explicit(bodyGenP, mustMarshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: items})))
}

// pkiConfBody is the pkiconf answer to a certConf.
func pkiConfBody() []byte { return mustMarshal(explicit(bodyPKIConf, asn1.NullBytes)) }
