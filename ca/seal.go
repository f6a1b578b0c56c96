package ca

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/certgw/gateway/errs"
)

// Sealer encrypts the private keys the gateway generates and holds for
// server-driven renewal, with AES-256-GCM under a key-encryption key, so
// that a copy of the database alone does not yield them. The serial is the
// additional data: a sealed key cannot be moved to another certificate.
//
// TODO: wrap with an AES key inside the token (CKM_AES_GCM through
// crypto11) so the KEK never sits on disk.
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

// LoadOrCreateKEK reads a hex key-encryption key from path, creating it
// (mode 0600) with a random key if it does not exist.
func LoadOrCreateKEK(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, errs.Wrap(errs.Config, err, "create key-encryption key")
		}
		_, werr := f.WriteString(hex.EncodeToString(k) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, errs.Wrap(errs.Config, werr, "write key-encryption key")
		}
		return k, nil
	}
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "read key-encryption key")
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, errs.New(errs.Config, "key-encryption key %s is not hex", path)
	}
	return k, nil
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
