package coretest

import (
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"
)

// ROCAKey makes an RSA-2048 key with the structure of CVE-2017-15361
// (ROCA): each prime is k·M + (65537^a mod M), M the product of the
// first 126 primes, as the Infineon library made them. Such a key works
// (it signs and verifies) and is what weak-key checks must refuse.
func ROCAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	m := big.NewInt(1)
	for p, n := int64(2), 0; n < 126; p++ {
		if big.NewInt(p).ProbablyPrime(0) {
			m.Mul(m, big.NewInt(p))
			n++
		}
	}
	e := big.NewInt(65537)
	one := big.NewInt(1)
	prime := func() *big.Int {
		for {
			a, _ := rand.Int(rand.Reader, m)
			k, _ := rand.Int(rand.Reader, new(big.Int).Lsh(one, 1024-uint(m.BitLen())))
			p := new(big.Int).Mul(k, m)
			p.Add(p, new(big.Int).Exp(e, a, m))
			pm1 := new(big.Int).Sub(p, one)
			if p.BitLen() == 1024 && p.ProbablyPrime(20) && new(big.Int).GCD(nil, nil, e, pm1).Cmp(one) == 0 {
				return p
			}
		}
	}
	for range 1000 {
		p, q := prime(), prime()
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != 2048 || p.Cmp(q) == 0 {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: new(big.Int).ModInverse(e, phi), Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			t.Fatalf("ROCA key: %v", err)
		}
		k.Precompute()
		return k
	}
	t.Fatal("ROCA key: no 2048-bit modulus in 1000 tries")
	return nil
}
