package cmp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"
)

// request builds a PasswordBasedMac-protected request with body (the
// content of the body's tag), as a client would.
func request(t testing.TB, tag int, content []byte, secret string, iterations int) []byte {
	return requestAt(t, tag, content, secret, iterations, time.Time{})
}

// requestAt is request with a messageTime (none if zero) and a fresh
// senderNonce.
func requestAt(t testing.TB, tag int, content []byte, secret string, iterations int, at time.Time) []byte {
	t.Helper()
	params := pbmParameter{Salt: []byte("0123456789abcdef"), OWF: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
		IterationCount: iterations, MAC: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}}}
	alg := pkix.AlgorithmIdentifier{Algorithm: oidPasswordBasedMac, Parameters: asn1.RawValue{FullBytes: mustMarshal(params)}}
	var h []byte
	h = append(h, mustMarshal(2)...)
	h = append(h, mustMarshal(explicit(4, mustMarshal(pkix.RDNSequence{})))...)
	h = append(h, mustMarshal(explicit(4, mustMarshal(pkix.RDNSequence{})))...)
	if !at.IsZero() {
		h = append(h, mustMarshal(explicit(0, mustMarshal(asn1.RawValue{Tag: asn1.TagGeneralizedTime, Bytes: []byte(at.UTC().Format("20060102150405Z"))})))...)
	}
	h = append(h, mustMarshal(explicit(1, mustMarshal(alg)))...)
	h = append(h, mustMarshal(explicit(2, mustMarshal([]byte(testRef))))...)
	h = append(h, mustMarshal(explicit(4, mustMarshal([]byte("transaction-0001"))))...)
	nonce := make([]byte, 16)
	rand.Read(nonce)
	h = append(h, mustMarshal(explicit(5, mustMarshal(nonce)))...)
	header := mustMarshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: h})
	body := mustMarshal(explicit(tag, content))
	p := &pbm{params: params, owf: sha256.New, mac: sha256.New} // any count, for the tests of its bounds
	return pkiMessage(header, body, p.sum([]byte(secret), protectedPart(header, body)), nil)
}

func p10(t testing.TB) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "f.devices.example.com"},
		DNSNames: []string{"f.devices.example.com"}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Unit checks of protection: a request built here verifies with the
// secret and not with another; iteration counts out of bounds are badAlg.
func TestProtection(t *testing.T) {
	s := &Server{}
	set := ProfileSettings{Reference: testRef, Secret: []byte(testSecret)}
	m, err := parseMessage(request(t, bodyP10CR, p10(t), testSecret, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.authenticate(t.Context(), "devices", m, set); err != nil {
		t.Errorf("a request protected with the secret: %v", err)
	}
	m, _ = parseMessage(request(t, bodyP10CR, p10(t), "another secret", 1000))
	if _, err := s.authenticate(t.Context(), "devices", m, set); err == nil {
		t.Error("a request protected with another secret verified")
	}
	for _, n := range []int{10, 1_000_000} {
		m, _ = parseMessage(request(t, bodyP10CR, p10(t), testSecret, n))
		if _, err := s.authenticate(t.Context(), "devices", m, set); err == nil {
			t.Errorf("iterationCount %d accepted", n)
		}
	}
}

// FuzzMessage feeds the parsers of what a client sends (PKIMessage,
// header, CRMF requests): they refuse or accept, never panic, and what
// they accept as a request has a public key.
func FuzzMessage(f *testing.F) {
	f.Add(request(f, bodyP10CR, p10(f), testSecret, 100))
	f.Add(request(f, bodyIR, mustMarshal([]asn1.RawValue{{Tag: asn1.TagSequence, IsCompound: true, Bytes: mustMarshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true,
		Bytes: append(mustMarshal(0), mustMarshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true})...)})}}), testSecret, 100))
	f.Add(request(f, bodyCertConf, mustMarshal([]asn1.RawValue{}), testSecret, 100))
	serial := mustMarshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte{0x0a, 0x01}})
	details := mustMarshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: mustMarshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: serial})})
	f.Add(request(f, bodyRR, mustMarshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: details}), testSecret, 100))
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		m.implicitConfirm()
		parsePBM(m.protectionAlg)
		switch m.bodyTag {
		case bodyIR, bodyCR, bodyKUR:
			if cr, err := parseCertReqMessages(m.body); err == nil && cr.csr.PublicKey == nil {
				t.Fatal("a request without a public key was accepted")
			}
		case bodyRR:
			if rd, err := parseRevReq(m.body); err == nil && (rd.serial == nil || rd.serial.Sign() <= 0) {
				t.Fatalf("a revocation of serial %v was accepted", rd.serial)
			}
		case bodyCertConf:
			parseCertConf(m.body)
		case bodyGenM:
			parseGenM(m.body)
		case bodyPollReq:
			parsePollReq(m.body)
		}
	})
}
