package signer

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/ThalesIgnite/crypto11"

	"github.com/certgw/gateway/errs"
)

// gcmIVLength is the AES-GCM nonce length asked of crypto11 (96 bits, as
// NIST SP 800-38D recommends for random nonces).
const gcmIVLength = 12

// SecretAEADs returns AES-GCM under each secret key labelled label (none
// if the token has none). Encryption and decryption run inside the token.
func (t c11Token) SecretAEADs(label string) ([]cipher.AEAD, error) {
	keys, err := t.c.FindKeys(nil, []byte(label))
	if err != nil {
		return nil, err
	}
	var out []cipher.AEAD
	for _, k := range keys {
		a, err := k.NewGCM()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// GenerateSecret creates a 256-bit AES key inside the token, CKA_SENSITIVE
// and not CKA_EXTRACTABLE as private keys are (keyAttributes).
func (t c11Token) GenerateSecret(label string) error {
	_, attrs, err := keyAttributes(label)
	if err != nil {
		return err
	}
	_, err = t.c.GenerateSecretKeyWithAttributes(attrs, 256, crypto11.CipherAES)
	return err
}

// Wrap encrypts a small secret (the gateway's key-encryption key) with
// AES-256-GCM under the secret key labelled label, inside the token, bound
// to ad. If no member holds such a key, one is generated in the first
// member that is up (as Generate does for key pairs: a pool of several
// tokens needs it copied to the others with the HSM's own tools). The
// result is the nonce followed by the ciphertext.
func (p *Pool) Wrap(ctx context.Context, label string, plaintext, ad []byte) ([]byte, error) {
	var out []byte
	err := p.withSecret(ctx, label, true, func(aeads []cipher.AEAD) (err error) {
		aead := aeads[0]
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		// crypto11's Seal panics when the token fails.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("C_Encrypt: %v", r)
			}
		}()
		out = aead.Seal(nonce, nonce, plaintext, ad)
		return nil
	})
	return out, err
}

// Unwrap decrypts what Wrap returned, with the key labelled label (with
// each, should the token hold several: two replicas that started at once
// may each have made one). A wrapped secret that fails authentication
// under every one of them (another key, another ad, a changed byte) is an
// errs.Malformed.
func (p *Pool) Unwrap(ctx context.Context, label string, wrapped, ad []byte) ([]byte, error) {
	var out []byte
	err := p.withSecret(ctx, label, false, func(aeads []cipher.AEAD) error {
		var err error
		for _, aead := range aeads {
			n := aead.NonceSize()
			if len(wrapped) < n+aead.Overhead() {
				return errs.New(errs.Malformed, "signer: wrapped secret of %d bytes is too short", len(wrapped))
			}
			if out, err = aead.Open(nil, wrapped[:n], wrapped[n:], ad); err == nil {
				return nil
			}
		}
		return errs.Wrap(errs.Malformed, err, "signer: secret wrapped with %q does not decrypt", label)
	})
	return out, err
}

// withSecret runs f with AES-GCM under the secret keys labelled label on
// the first member that is up and holds one, holding one of its sessions. With
// create, a missing key is generated in the first member that is up.
func (p *Pool) withSecret(ctx context.Context, label string, create bool, f func([]cipher.AEAD) error) error {
	var first *member
	for _, m := range p.members {
		if m.getState() != stateUp {
			continue
		}
		if first == nil {
			first = m
		}
		err := m.withSecret(ctx, p.cfg.SessionWait, label, f)
		if !errs.Is(err, errs.NotFound) {
			return err
		}
	}
	if first == nil {
		return errs.New(errs.Unavailable, "signer: no member is up to use secret key %q", label)
	}
	if !create {
		return errs.New(errs.NotFound, "signer: no member holds a secret key labelled %q", label)
	}
	if err := first.generateSecret(label); err != nil {
		return err
	}
	p.log.Info("generated secret key in token", "label", label, "member", first.cfg.String())
	return first.withSecret(ctx, p.cfg.SessionWait, label, f)
}

// withSecret runs f with the member's secret keys labelled label, or
// answers errs.NotFound if it has none.
func (m *member) withSecret(ctx context.Context, wait time.Duration, label string, f func([]cipher.AEAD) error) error {
	if err := m.acquire(ctx, wait); err != nil {
		return err
	}
	defer m.release()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.getState() != stateUp || m.tok == nil {
		return errs.New(errs.Unavailable, "%s is down", m.cfg)
	}
	aeads, err := m.tok.SecretAEADs(label)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "signer: find secret key %q in %s", label, m.cfg)
	}
	if len(aeads) == 0 {
		return errs.New(errs.NotFound, "no secret key labelled %q in %s", label, m.cfg)
	}
	return f(aeads)
}

// generateSecret creates the secret key labelled label in the member's
// token.
func (m *member) generateSecret(label string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getState() != stateUp || m.tok == nil {
		return errs.New(errs.Unavailable, "%s is not up", m.cfg)
	}
	if err := m.tok.GenerateSecret(label); err != nil {
		return errs.Wrap(errs.Internal, err, "signer: generate secret key %q in %s", label, m.cfg)
	}
	return nil
}
