package ca

import (
	"encoding/hex"
	"io"
	"math/big"
	"strings"

	"github.com/certgw/gateway/errs"
)

// serialBytes is the number of random octets in a serial number. DESIGN asks
// for at least 64 random bits and recommends 128; CA/Browser Forum BR 7.1
// asks for at least 64 bits of CSPRNG output.
const serialBytes = 16

// NewSerial returns a fresh certificate serial number of 128 bits read from
// rand (crypto/rand.Reader in production).
//
// RFC 5280 4.1.2.2: the serial must be a positive INTEGER of at most 20
// octets. 128 bits read as an unsigned big-endian number are positive, and
// their DER encoding is at most 17 octets (16 plus a 0x00 octet when the top
// bit is set, so that the INTEGER is not read as negative). The one value
// that is not positive, zero, has probability 2^-128; it is redrawn rather
// than patched so that every positive 128-bit value stays equally likely.
func NewSerial(rand io.Reader) (*big.Int, error) {
	buf := make([]byte, serialBytes)
	// A reader that returns zeros forever is broken, not unlucky: give up
	// after a few draws instead of looping.
	for range 4 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, errs.Wrap(errs.Internal, err, "read random serial")
		}
		s := new(big.Int).SetBytes(buf)
		if s.Sign() > 0 {
			return s, nil
		}
	}
	return nil, errs.New(errs.Internal, "random source returned only zero serials")
}

// SerialHex formats a serial as the gateway shows and stores it: lowercase
// hex without separators, of the octets of the unsigned value, so always an
// even number of digits and a leading zero nibble kept ("0f3a..." rather
// than "f3a..."). This is what `openssl x509 -serial` prints, lowercased,
// and what crt.sh shows, so a serial copied from either finds the stored
// certificate. The string is the storage key: one integer has exactly one
// form (see ParseSerialHex to bring user input to it).
//
// Zero is "00"; a negative serial (which RFC 5280 forbids, but an upstream CA
// could send) is its absolute value prefixed with "-".
func SerialHex(serial *big.Int) string {
	switch serial.Sign() {
	case 0:
		return "00"
	case -1:
		return "-" + hex.EncodeToString(new(big.Int).Neg(serial).Bytes())
	}
	return hex.EncodeToString(serial.Bytes())
}

// ParseSerialHex reads a serial typed or pasted by a user: hex digits in
// either case, optionally separated by colons (as `openssl x509 -text`
// prints them) and with any number of leading zeros. SerialHex of the result
// is the canonical storage key. An empty or non-hex string is Malformed.
func ParseSerialHex(s string) (*big.Int, error) {
	clean := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	neg := strings.HasPrefix(clean, "-")
	clean = strings.TrimPrefix(clean, "-")
	if clean == "" {
		return nil, errs.New(errs.Malformed, "serial %q: empty", s)
	}
	for _, r := range clean {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return nil, errs.New(errs.Malformed, "serial %q: not hexadecimal", s)
		}
	}
	v, ok := new(big.Int).SetString(clean, 16)
	if !ok {
		return nil, errs.New(errs.Malformed, "serial %q: not hexadecimal", s)
	}
	if neg {
		v.Neg(v)
	}
	return v, nil
}

// MaxCRLShards bounds cas[].crl.shards: every rebuild of a sharded CA's
// CRLs signs one CRL per shard (and the full CRL) with the CA key.
const MaxCRLShards = 256

// CRLShard is the shard (RFC 5280 5.2.5 partitioned CRL) of the
// certificate with this serial number, for a CA that partitions its CRL
// into n shards: the serial, read as an unsigned big-endian number, modulo
// n. Serials are uniformly random, so shards fill evenly; the shard is a
// pure function of the serial, so it needs no column, and anyone can
// recompute it from `openssl x509 -serial`. Because it depends on n, n
// cannot change while certificates issued under it are valid (the CRL
// publisher refuses to start when it does).
func CRLShard(serial []byte, n int) int {
	if n < 2 {
		return 0
	}
	r := 0
	for _, b := range serial {
		r = (r<<8 | int(b)) % n
	}
	return r
}
