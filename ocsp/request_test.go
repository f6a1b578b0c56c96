package ocsp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// testIssuer is a self-signed CA certificate for building requests.
func testIssuer(t testing.TB) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// request builds an OCSPRequest the way golang.org/x/crypto/ocsp does, and
// adds request extensions when given.
func request(t testing.TB, issuer *x509.Certificate, serial *big.Int, h crypto.Hash, exts ...pkix.Extension) []byte {
	t.Helper()
	der, err := xocsp.CreateRequest(&x509.Certificate{SerialNumber: serial}, issuer, &xocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	if len(exts) == 0 {
		return der
	}
	type tbs struct {
		List asn1.RawValue
		Exts []pkix.Extension `asn1:"explicit,tag:2,optional"`
	}
	var plain struct{ TBS tbs }
	if _, err := asn1.Unmarshal(der, &plain); err != nil {
		t.Fatal(err)
	}
	plain.TBS.Exts = exts
	return mustMarshal(t, plain)
}

func nonceExt(n []byte) pkix.Extension {
	v, _ := asn1.Marshal(n)
	return pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}, Value: v}
}

// seedRequests are valid requests of every shape the parser accepts; the
// fuzz target starts from them.
func seedRequests(t testing.TB) map[string][]byte {
	issuer := testIssuer(t)
	serial, _ := new(big.Int).SetString("8f00112233445566778899aabbccddee", 16)
	return map[string][]byte{
		"sha1":       request(t, issuer, serial, crypto.SHA1),
		"sha256":     request(t, issuer, big.NewInt(1), crypto.SHA256),
		"sha384":     request(t, issuer, serial, crypto.SHA384),
		"sha512":     request(t, issuer, serial, crypto.SHA512),
		"nonce":      request(t, issuer, serial, crypto.SHA1, nonceExt(bytes.Repeat([]byte{7}, 16))),
		"raw nonce":  request(t, issuer, serial, crypto.SHA1, pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}, Value: []byte{1, 2, 3, 4}}),
		"other ext":  request(t, issuer, serial, crypto.SHA1, pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}),
		"nonce, 32":  request(t, issuer, serial, crypto.SHA256, nonceExt(bytes.Repeat([]byte{9}, 32))),
		"nonce, one": request(t, issuer, serial, crypto.SHA256, nonceExt([]byte{1})),
	}
}

func TestParseRequest(t *testing.T) {
	issuer := testIssuer(t)
	serial, _ := new(big.Int).SetString("8f00112233445566778899aabbccddee", 16)
	for name, der := range seedRequests(t) {
		t.Run(name, func(t *testing.T) {
			r, err := ParseRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.IssuerNameHash) != r.Hash.Size() || len(r.IssuerKeyHash) != r.Hash.Size() {
				t.Errorf("hash sizes %d %d for %v", len(r.IssuerNameHash), len(r.IssuerKeyHash), r.Hash)
			}
			want, _ := xocsp.ParseRequest(stripExtensions(t, der))
			if want != nil && (new(big.Int).SetBytes(r.Serial).Cmp(want.SerialNumber) != 0 || !bytes.Equal(r.IssuerKeyHash, want.IssuerKeyHash) || r.Hash != want.HashAlgorithm) {
				t.Errorf("parsed %+v, x/crypto parsed %+v", r, want)
			}
		})
	}
	// The nonce is kept verbatim (the extnValue octets).
	r, err := ParseRequest(request(t, issuer, serial, crypto.SHA1, nonceExt([]byte{1, 2, 3})))
	if err != nil || !bytes.Equal(r.Nonce, []byte{4, 3, 1, 2, 3}) {
		t.Fatalf("nonce %x, %v", r.Nonce, err)
	}
	if r, _ := ParseRequest(request(t, issuer, serial, crypto.SHA1)); r.Nonce != nil {
		t.Fatal("a nonce out of nowhere")
	}
	// The serial is the INTEGER's content octets, sign octet included.
	if !bytes.Equal(r.Serial, append([]byte{0}, serial.Bytes()...)) {
		t.Fatalf("serial octets %x", r.Serial)
	}

	valid := request(t, issuer, serial, crypto.SHA1)
	bad := map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("GET / HTTP/1.1\r\n\r\n"),
		"truncated":     valid[:len(valid)-1],
		"trailing data": append(append([]byte{}, valid...), 0),
		"huge":          append(append([]byte{0x30, 0x83, 0x01, 0x00, 0x00}, valid...), make([]byte, 65536)...),
		"unknown hash":  bytes.Replace(valid, []byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}, []byte{0x2b, 0x0e, 0x03, 0x02, 0x1b}, 1),
		"hash size":     bytes.Replace(request(t, issuer, serial, crypto.SHA256), []byte{0x02, 0x01, 0x05, 0x00}, []byte{0x02, 0x02, 0x05, 0x00}, 1),
		"no request": mustMarshal(t, struct {
			TBS struct{ List []asn1.RawValue }
		}{}),
		"two requests":     twoRequests(t, valid),
		"nonce too long":   request(t, issuer, serial, crypto.SHA1, nonceExt(bytes.Repeat([]byte{1}, 33))),
		"empty nonce":      request(t, issuer, serial, crypto.SHA1, nonceExt([]byte{})),
		"two nonces":       request(t, issuer, serial, crypto.SHA1, nonceExt([]byte{1}), nonceExt([]byte{2})),
		"critical unknown": request(t, issuer, serial, crypto.SHA1, pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3}, Critical: true, Value: []byte{5, 0}}),
		"long form length": append([]byte{0x30, 0x81, byte(len(valid) - 2)}, valid[2:]...),
		"indefinite":       append(append([]byte{0x30, 0x80}, valid[2:]...), 0, 0),
	}
	for name, der := range bad {
		if r, err := ParseRequest(der); err == nil {
			t.Errorf("%s: parsed as %+v", name, r)
		}
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// twoRequests puts the one Request of valid in the list twice.
func twoRequests(t testing.TB, valid []byte) []byte {
	var req struct {
		TBS struct{ List []asn1.RawValue }
	}
	if _, err := asn1.Unmarshal(valid, &req); err != nil {
		t.Fatal(err)
	}
	req.TBS.List = append(req.TBS.List, req.TBS.List[0])
	return mustMarshal(t, req)
}

// stripExtensions drops requestExtensions, which x/crypto cannot parse
// back into a request to compare with.
func stripExtensions(t testing.TB, der []byte) []byte {
	var req struct{ TBS struct{ List asn1.RawValue } }
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return der
	}
	return mustMarshal(t, req)
}

// FuzzParseRequest feeds the parser arbitrary bytes: it must never panic,
// and what it accepts must satisfy the invariants the responder relies on.
// `go test` runs the seeds (f.Add and testdata/fuzz/FuzzParseRequest).
func FuzzParseRequest(f *testing.F) {
	for _, der := range seedRequests(f) {
		f.Add(der)
		f.Add(der[:len(der)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		r, err := ParseRequest(der)
		if err != nil {
			if r != nil {
				t.Fatal("a request and an error")
			}
			return
		}
		if hashIndex(r.Hash) < 0 || len(r.IssuerNameHash) != r.Hash.Size() || len(r.IssuerKeyHash) != r.Hash.Size() {
			t.Fatalf("accepted hash %v with %d/%d octets", r.Hash, len(r.IssuerNameHash), len(r.IssuerKeyHash))
		}
		if len(r.Serial) == 0 || len(der) > DefaultMaxRequestSize {
			t.Fatalf("accepted serial %x in %d octets", r.Serial, len(der))
		}
		if r.Nonce != nil && (len(r.Nonce) == 0 || len(r.Nonce) > 34) {
			t.Fatalf("accepted a nonce of %d octets", len(r.Nonce))
		}
		// A response can be built for whatever is accepted.
		id := certID{hash: r.Hash, name: r.IssuerNameHash, key: r.IssuerKeyHash, serial: r.Serial}
		now := time.Now()
		if _, err := responseData(make([]byte, 20), now, id, Status{Kind: Revoked, RevokedAt: now, Reason: 1}, now, now.Add(time.Hour), r.Nonce); err != nil {
			t.Fatalf("cannot answer an accepted request: %v", err)
		}
	})
}

// Requests made by openssl (kept in the fuzz corpus) parse: with a nonce,
// with SHA-256, and signed with a requestor name.
func TestParseOpenSSLRequests(t *testing.T) {
	for name, nonce := range map[string]bool{"openssl-nonce": true, "openssl-sha256": false, "openssl-signed": true} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseRequest", name))
		if err != nil {
			t.Fatal(err)
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[1], "[]byte("), ")\n")
		der, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := ParseRequest([]byte(der))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if (r.Nonce != nil) != nonce {
			t.Errorf("%s: nonce %x", name, r.Nonce)
		}
	}
}
