package ca

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"io"
	"math/big"
	"strings"
	"testing"

	"github.com/certgw/gateway/errs"
)

func TestNewSerial(t *testing.T) {
	const n = 100000
	seen := make(map[string]struct{}, n)
	var bitCount [128]int
	for range n {
		s, err := NewSerial(rand.Reader)
		if err != nil {
			t.Fatalf("NewSerial: %v", err)
		}
		if s.Sign() <= 0 {
			t.Fatalf("serial %v not positive", s)
		}
		der, err := asn1.Marshal(s)
		if err != nil {
			t.Fatalf("marshal %v: %v", s, err)
		}
		// RFC 5280 4.1.2.2: at most 20 octets of INTEGER contents (the
		// encoding is tag, one length octet, contents).
		if contents := len(der) - 2; contents > 20 {
			t.Fatalf("serial %x encodes to %d octets", s, contents)
		}
		if s.BitLen() > 128 {
			t.Fatalf("serial %x has %d bits", s, s.BitLen())
		}
		key := SerialHex(s)
		if _, dup := seen[key]; dup {
			t.Fatalf("duplicate serial %s", key)
		}
		seen[key] = struct{}{}
		for i := range 128 {
			bitCount[i] += int(s.Bit(i))
		}
	}
	// Crude randomness: every bit position is set in 40-60% of the serials
	// (for a fair bit the spread is 0.16%, so this never flakes).
	for i, c := range bitCount {
		if frac := float64(c) / n; frac < 0.4 || frac > 0.6 {
			t.Fatalf("bit %d set in %.3f of serials", i, frac)
		}
	}
}

// zeroThenOnes returns 16 zero octets, then 0x01s.
type zeroThenOnes struct{ n int }

func (z *zeroThenOnes) Read(p []byte) (int, error) {
	for i := range p {
		if z.n >= serialBytes {
			p[i] = 1
		} else {
			p[i] = 0
		}
		z.n++
	}
	return len(p), nil
}

func TestNewSerialRedrawsZero(t *testing.T) {
	s, err := NewSerial(&zeroThenOnes{})
	if err != nil {
		t.Fatalf("NewSerial: %v", err)
	}
	want := new(big.Int).SetBytes(bytes.Repeat([]byte{1}, serialBytes))
	if s.Cmp(want) != 0 {
		t.Fatalf("serial %x, want %x", s, want)
	}
}

func TestNewSerialErrors(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"only zeros", bytes.NewReader(make([]byte, 1024))},
		{"short read", strings.NewReader("short")},
		{"empty", strings.NewReader("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSerial(tc.r)
			if err == nil {
				t.Fatalf("NewSerial = %v, want an error", s)
			}
			if !errs.Is(err, errs.Internal) {
				t.Fatalf("error kind %v, want internal", errs.KindOf(err))
			}
		})
	}
}

func TestSerialHex(t *testing.T) {
	tests := []struct {
		serial *big.Int
		want   string
	}{
		{big.NewInt(1), "01"},
		{big.NewInt(0x0f3a), "0f3a"},
		{big.NewInt(0xabcdef), "abcdef"},
		{new(big.Int).Lsh(big.NewInt(1), 127), "80000000000000000000000000000000"},
		{big.NewInt(0), "00"},
		{big.NewInt(-255), "-ff"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			got := SerialHex(tc.serial)
			if got != tc.want {
				t.Fatalf("SerialHex(%v) = %q, want %q", tc.serial, got, tc.want)
			}
			back, err := ParseSerialHex(got)
			if err != nil || back.Cmp(tc.serial) != 0 {
				t.Fatalf("ParseSerialHex(%q) = %v, %v; want %v", got, back, err, tc.serial)
			}
		})
	}
}

func TestParseSerialHex(t *testing.T) {
	tests := []struct {
		in   string
		want string // SerialHex of the result; "" means Malformed
	}{
		{"0f3a", "0f3a"},
		{"F3A", "0f3a"},
		{"000F3A", "0f3a"},
		{"0F:3A", "0f3a"},
		{" 0f3a\n", "0f3a"},
		{"", ""},
		{":", ""},
		{"0x0f3a", ""},
		{"0f 3a", ""},
		{"g1", ""},
		{"+1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSerialHex(tc.in)
			if tc.want == "" {
				if err == nil || !errs.Is(err, errs.Malformed) {
					t.Fatalf("ParseSerialHex(%q) = %v, %v; want a malformed error", tc.in, got, err)
				}
				return
			}
			if err != nil || SerialHex(got) != tc.want {
				t.Fatalf("ParseSerialHex(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}
