package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"

	"github.com/certgw/gateway/signer"
)

// KeyTypeOf names the type of a public key, or "" for one the signer
// cannot hold.
func KeyTypeOf(pub crypto.PublicKey) signer.KeyType {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return signer.ECDSAP256
		case elliptic.P384():
			return signer.ECDSAP384
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return signer.RSA2048
		case 3072:
			return signer.RSA3072
		case 4096:
			return signer.RSA4096
		}
	}
	return ""
}
