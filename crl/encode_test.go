package crl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
)

// issuerFor makes a CA certificate for key, as crypto/x509 needs one to
// build a CRL.
func issuerFor(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA", Organization: []string{"Example"}, Country: []string{"DE"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCRLSign | x509.KeyUsageCertSign,
		SubjectKeyId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// encodeTBS runs the streaming encoder over entries.
func encodeTBS(t *testing.T, issuer *x509.Certificate, alg x509.SignatureAlgorithm, number int64, this, next time.Time, entries []x509.RevocationListEntry, hint int) []byte {
	t.Helper()
	algID, err := algorithmIdentifier(alg)
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoder(tbsPrefix(algID, issuer.RawSubject, this, next), this, hint)
	for _, e := range entries {
		if err := enc.add(e.SerialNumber.Bytes(), e.RevocationTime, e.ReasonCode); err != nil {
			t.Fatal(err)
		}
	}
	return enc.finish(crlExtensions(issuer.SubjectKeyId, number))
}

// The TBSCertList of the streaming encoder is byte for byte crypto/x509's.
func TestEncoderMatchesCreateRevocationList(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	this := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := this.Add(-time.Hour)

	serial := func(hexs string) *big.Int { n, _ := new(big.Int).SetString(hexs, 16); return n }
	rng := mrand.New(mrand.NewPCG(1, 2))
	// Entries revoked between 1949 and upTo (a CRL lists no revocation
	// after its thisUpdate).
	randomEntries := func(n int, upTo time.Time) []x509.RevocationListEntry {
		from := time.Date(1949, 1, 1, 0, 0, 0, 0, time.UTC)
		reasons := []int{0, 1, 2, 3, 4, 5, 6, 9, 10}
		var out []x509.RevocationListEntry
		for range n {
			b := make([]byte, 1+rng.IntN(19))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			b[0] |= 1
			if len(b) == 20 {
				b[0] &= 0x7f // 20 octets with the sign octet at most
			}
			out = append(out, x509.RevocationListEntry{
				SerialNumber:   new(big.Int).SetBytes(b),
				RevocationTime: from.Add(time.Duration(rng.Int64N(int64(upTo.Sub(from))))),
				ReasonCode:     reasons[rng.IntN(len(reasons))],
			})
		}
		return out
	}

	tests := []struct {
		name    string
		key     crypto.Signer
		number  int64
		this    time.Time
		next    time.Time
		entries []x509.RevocationListEntry
		hint    int
	}{
		{"empty", ecKey, 1, this, this.Add(24 * time.Hour), nil, 0},
		{"one entry, no reason", ecKey, 2, this, this.Add(24 * time.Hour), []x509.RevocationListEntry{{SerialNumber: big.NewInt(5), RevocationTime: at}}, 0},
		{"high bit serial and reason", ecKey, 127, this, this.Add(time.Hour), []x509.RevocationListEntry{
			{SerialNumber: serial("ff00112233445566778899aabbccddee"), RevocationTime: at, ReasonCode: 1},
			{SerialNumber: serial("7f00112233445566778899aabbccddee"), RevocationTime: at, ReasonCode: 10},
		}, 2},
		{"20-octet serial", ec384, 128, this, this.Add(time.Hour), []x509.RevocationListEntry{
			{SerialNumber: serial("7f00112233445566778899aabbccddeeff001122"), RevocationTime: at, ReasonCode: 4},
		}, 0},
		{"times around 2050", ecKey, 255, time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 1, 0, time.UTC), []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(1), RevocationTime: time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC), ReasonCode: 6},
			{SerialNumber: big.NewInt(2), RevocationTime: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), ReasonCode: 9},
		}, 0},
		{"large numbers", rsaKey, math.MaxInt64, this, this.Add(time.Hour), nil, 0},
		{"number 256, Ed25519", edKey, 256, this, this.Add(time.Hour), randomEntries(3, this), 0},
		{"long lengths, hint", ecKey, 1 << 31, this, this.Add(time.Hour), randomEntries(3000, this), 3000},
		{"long lengths, no hint", rsaKey, 1 << 40, this, this.Add(time.Hour), randomEntries(3000, this), 0},
		{"hint too small", ec384, 77, this, this.Add(time.Hour), randomEntries(500, this), 3},
		{"after 2050", ecKey, 9, time.Date(2061, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2061, 1, 2, 0, 0, 0, 0, time.UTC), randomEntries(300, time.Date(2061, 1, 1, 0, 0, 0, 0, time.UTC)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := issuerFor(t, tt.key)
			alg := issuer.SignatureAlgorithm
			if _, ok := tt.key.Public().(*ecdsa.PublicKey); ok {
				alg, _ = ca.SignatureAlgorithmFor(tt.key.Public())
			}
			der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
				SignatureAlgorithm: alg, RevokedCertificateEntries: tt.entries,
				Number: big.NewInt(tt.number), ThisUpdate: tt.this, NextUpdate: tt.next,
			}, issuer, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			want, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			got := encodeTBS(t, issuer, want.SignatureAlgorithm, tt.number, tt.this, tt.next, tt.entries, tt.hint)
			if !bytes.Equal(got, want.RawTBSRevocationList) {
				t.Fatalf("TBSCertList differs from crypto/x509's:\ngot  %x\nwant %x", head(got), head(want.RawTBSRevocationList))
			}
		})
	}
}

func head(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// The encoder refuses what no CRL may hold and lists a revocation that
// claims to be later than the CRL at thisUpdate.
func TestEncoderEntries(t *testing.T) {
	this := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	enc := newEncoder(nil, this, 0)
	for _, tt := range []struct {
		name   string
		serial []byte
		reason int
	}{
		{"zero serial", []byte{0}, 0},
		{"empty serial", nil, 0},
		{"21 octets", bytes.Repeat([]byte{1}, 21), 0},
		{"20 octets and a sign octet", append([]byte{0x80}, bytes.Repeat([]byte{1}, 19)...), 0},
		{"reason 7", []byte{1}, 7},
		{"reason 8 (delta CRLs only)", []byte{1}, 8},
		{"reason 11", []byte{1}, 11},
		{"negative reason", []byte{1}, -1},
	} {
		if err := enc.add(tt.serial, this, tt.reason); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if enc.n != 0 {
		t.Fatalf("refused entries were counted")
	}
	if err := enc.add([]byte{0, 0, 5}, this.Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	tbs := enc.finish(nil)
	// SEQUENCE { SEQUENCE { INTEGER 5, UTCTime thisUpdate, ... } }
	want := []byte{0x02, 0x01, 0x05, 0x17, 13}
	want = append(want, "260501120000Z"...)
	if !bytes.Contains(tbs, want) {
		t.Errorf("entry %x does not hold serial 5 (leading zeros dropped) revoked at thisUpdate", tbs)
	}
	if EntryReason(8) != 0 || EntryReason(1) != 1 {
		t.Error("EntryReason maps removeFromCRL to no reason and keeps the others")
	}
}
