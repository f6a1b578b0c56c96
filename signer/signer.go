// Package signer is the one seam through which the gateway signs.
//
// Every CA, OCSP responder and CRL key is reached through the Signer
// interface and used as a crypto.Signer; nothing else in the gateway touches
// key material. Two implementations exist:
//
//   - Pool (pkcs11.go, pool.go, member.go): one or more PKCS#11 tokens that
//     hold the same key labels, driven with crypto11. Keys are generated
//     inside a token as sensitive and non-extractable, addressed by RFC 7512
//     pkcs11: URIs, looked up once per member and cached. A signature waits a
//     bounded, context-aware time for a session, fails over to another member
//     when a token reports a device fault, and the faulty member is brought
//     back in the background at a limited rate.
//   - Software (software.go): PEM keys in a directory, for machines without
//     any PKCS#11 module. NOT FOR PRODUCTION: the keys are plain files.
package signer

import (
	"context"
	"crypto"
	"fmt"
	"io"
)

// KeyType names a key algorithm and size that CA keys may have.
type KeyType string

// The key types the signer can generate.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
)

// KeyTypes lists every supported KeyType.
var KeyTypes = []KeyType{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096}

// Signer holds keys and signs with them.
type Signer interface {
	// Key returns the key addressed by uri. The lookup happens once; later
	// calls return the cached key. A missing key is an errs.NotFound.
	Key(ctx context.Context, uri string) (Key, error)
	// Generate creates a new key of type kt under label and returns it. An
	// existing key with the same label is an errs.Conflict.
	Generate(ctx context.Context, label string, kt KeyType) (Key, error)
	// Destroy deletes the key addressed by uri for good, in every copy the
	// signer reaches, and forgets its cached handle. A key that is already
	// absent is not an error: another replica may have destroyed it. The
	// caller must have stopped signing with the key.
	Destroy(ctx context.Context, uri string) error
	// URI returns the address of the key with the given label.
	URI(label string) string
	// Check reports whether the signer can sign now (nil) or why not.
	Check(ctx context.Context) error
	// Close releases every session and module.
	Close() error
}

// Key is one private key. Its Sign method (crypto.Signer) waits for a
// session at most the signer's configured time; SignContext also stops when
// ctx ends.
type Key interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	// WithContext returns a crypto.Signer whose Sign uses ctx, for APIs such
	// as x509.CreateCertificate that take a plain crypto.Signer.
	WithContext(ctx context.Context) crypto.Signer
	URI() string
	// Decrypt (crypto.Decrypter) works for RSA keys only, and inside the
	// token like Sign: the SCEP registration authority opens the
	// envelopes devices encrypt to its certificate with it.
	Decrypt(rand io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error)
}

// ParseKeyType checks s against the supported key types.
func ParseKeyType(s string) (KeyType, error) {
	for _, kt := range KeyTypes {
		if string(kt) == s {
			return kt, nil
		}
	}
	return "", fmt.Errorf("unsupported key type %q", s)
}

// ctxSigner adapts SignContext to crypto.Signer for one context.
type ctxSigner struct {
	ctx context.Context
	key Key
}

func (s ctxSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s ctxSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.SignContext(s.ctx, digest, opts)
}
