package cmp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
)

// Password-based MAC protection (RFC 9810 5.1.3.1, RFC 4211 4.4): the
// client and the gateway share a secret per profile; the key is the
// one-way function applied iterationCount times to the secret and a salt,
// and the protection is an HMAC under it of the header and body.

var oidPasswordBasedMac = asn1.ObjectIdentifier{1, 2, 840, 113533, 7, 66, 13}

type pbmParameter struct {
	Salt           []byte
	OWF            pkix.AlgorithmIdentifier
	IterationCount int
	MAC            pkix.AlgorithmIdentifier
}

// Hash functions by their OIDs as one-way function and as HMAC.
var (
	owfs = map[string]func() hash.Hash{
		"1.3.14.3.2.26":          sha1.New,
		"2.16.840.1.101.3.4.2.4": sha256.New224,
		"2.16.840.1.101.3.4.2.1": sha256.New,
		"2.16.840.1.101.3.4.2.2": sha512.New384,
		"2.16.840.1.101.3.4.2.3": sha512.New,
	}
	macs = map[string]func() hash.Hash{
		"1.3.6.1.5.5.8.1.2":   sha1.New, // hmac-sha1 (RFC 2202)
		"1.2.840.113549.2.7":  sha1.New, // hmacWithSHA1
		"1.2.840.113549.2.8":  sha256.New224,
		"1.2.840.113549.2.9":  sha256.New,
		"1.2.840.113549.2.10": sha512.New384,
		"1.2.840.113549.2.11": sha512.New,
	}
)

// Bounds on iterationCount: RFC 4211 asks for at least 100; a bound above
// keeps a request from costing the server much.
const (
	minIterations = 100
	maxIterations = 100000
)

// errBadAlg is a protection the server does not support.
var errBadAlg = errors.New("unsupported protection")

// pbm is a password-based MAC with its parameters.
type pbm struct {
	params pbmParameter
	owf    func() hash.Hash
	mac    func() hash.Hash
}

// parsePBM reads a protectionAlg; it must be PasswordBasedMac with
// supported functions and a bounded iteration count.
func parsePBM(alg *pkix.AlgorithmIdentifier) (*pbm, error) {
	if alg == nil {
		return nil, fmt.Errorf("%w: the request is not protected (protectionAlg absent); protect it with the profile's shared secret (PasswordBasedMac)", errBadAlg)
	}
	if !alg.Algorithm.Equal(oidPasswordBasedMac) {
		return nil, fmt.Errorf("%w: protection %s; only PasswordBasedMac (%s) with the profile's shared secret is accepted", errBadAlg, alg.Algorithm, oidPasswordBasedMac)
	}
	p := &pbm{}
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p.params); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: PBMParameter does not parse", errBadAlg)
	}
	var ok bool
	if p.owf, ok = owfs[p.params.OWF.Algorithm.String()]; !ok {
		return nil, fmt.Errorf("%w: one-way function %s (SHA-1 or SHA-2)", errBadAlg, p.params.OWF.Algorithm)
	}
	if p.mac, ok = macs[p.params.MAC.Algorithm.String()]; !ok {
		return nil, fmt.Errorf("%w: MAC %s (HMAC with SHA-1 or SHA-2)", errBadAlg, p.params.MAC.Algorithm)
	}
	if n := p.params.IterationCount; n < minIterations || n > maxIterations {
		return nil, fmt.Errorf("%w: iterationCount %d (from %d to %d)", errBadAlg, n, minIterations, maxIterations)
	}
	if len(p.params.Salt) == 0 || len(p.params.Salt) > 64 {
		return nil, fmt.Errorf("%w: salt of %d bytes", errBadAlg, len(p.params.Salt))
	}
	return p, nil
}

// sum is the MAC of data under secret.
func (p *pbm) sum(secret, data []byte) []byte {
	h := p.owf()
	h.Write(secret)
	h.Write(p.params.Salt)
	k := h.Sum(nil)
	for i := 1; i < p.params.IterationCount; i++ {
		h.Reset()
		h.Write(k)
		k = h.Sum(k[:0])
	}
	m := hmac.New(p.mac, k)
	m.Write(data)
	return m.Sum(nil)
}

// renewed is the same MAC with a fresh salt, for a response.
func (p *pbm) renewed() (*pbm, pkix.AlgorithmIdentifier) {
	q := *p
	q.params.Salt = make([]byte, 16)
	rand.Read(q.params.Salt)
	return &q, pkix.AlgorithmIdentifier{Algorithm: oidPasswordBasedMac, Parameters: asn1.RawValue{FullBytes: mustMarshal(q.params)}}
}
