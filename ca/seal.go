package ca

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"

	"github.com/certgw/gateway/errs"
)

// Sealer encrypts the private keys the gateway generates and holds for
// server-driven renewal, with AES-256-GCM under a key-encryption key, so
// that a copy of the database alone does not yield them. The serial is the
// additional data: a sealed key cannot be moved to another certificate.
// The key-encryption key itself is kept by LoadOrCreateKEK, encrypted under
// a key in the token where one is configured.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer uses a 32-byte key.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != 32 {
		return nil, errs.New(errs.Config, "key-encryption key must be 32 bytes, got %d", len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "key-encryption key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "key-encryption key")
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to serial.
func (s *Sealer) Seal(serial string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(serial)), nil
}

// Open decrypts what Seal returned for serial.
func (s *Sealer) Open(serial string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errs.New(errs.Internal, "sealed key of %s is truncated", serial)
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(serial))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "open sealed key of %s", serial)
	}
	return pt, nil
}
