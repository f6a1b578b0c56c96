package signer

import (
	"crypto"
	"crypto/cipher"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// Member names one PKCS#11 module and one token in it.
type Member struct {
	Module      string
	TokenLabel  string
	TokenSerial string
	Slot        *int
}

func (m Member) String() string {
	switch {
	case m.TokenLabel != "":
		return fmt.Sprintf("%s token %q", m.Module, m.TokenLabel)
	case m.TokenSerial != "":
		return fmt.Sprintf("%s token serial %q", m.Module, m.TokenSerial)
	case m.Slot != nil:
		return fmt.Sprintf("%s slot %d", m.Module, *m.Slot)
	}
	return m.Module
}

// token is one logged-in PKCS#11 token. In production it is a crypto11
// Context; unit tests replace it to inject faults that SoftHSM cannot
// produce on demand.
type token interface {
	// FindKey returns the key pair with the label, or nil if there is none.
	FindKey(label string) (crypto.Signer, error)
	Generate(label string, kt KeyType) (crypto.Signer, error)
	// DeleteKey destroys every key pair with the label and returns how
	// many there were (0 when there is none).
	DeleteKey(label string) (int, error)
	// SecretAEADs returns AES-GCM under each secret key with the label
	// (none if there is none); GenerateSecret creates such a key (wrap.go).
	SecretAEADs(label string) ([]cipher.AEAD, error)
	GenerateSecret(label string) error
	Close() error
}

// opener logs in to a member's token.
type opener func(m Member, pin string, maxSessions int) (token, error)

// openCrypto11 opens a token with crypto11. If the module is already loaded
// by another member of this process, crypto11 shares it (and its
// C_Initialize) and finalizes it when the last user closes.
func openCrypto11(m Member, pin string, maxSessions int) (token, error) {
	c, err := crypto11.Configure(&crypto11.Config{
		Path:        m.Module,
		TokenLabel:  m.TokenLabel,
		TokenSerial: m.TokenSerial,
		SlotNumber:  m.Slot,
		Pin:         pin,
		MaxSessions: maxSessions,
		// The pool bounds the wait itself; this only guards against a
		// caller that slips past it.
		PoolWaitTimeout: time.Minute,
		GCMIVLength:     gcmIVLength,
	})
	if err != nil {
		return nil, err
	}
	return c11Token{c}, nil
}

type c11Token struct{ c *crypto11.Context }

func (t c11Token) FindKey(label string) (crypto.Signer, error) {
	s, err := t.c.FindKeyPair(nil, []byte(label))
	if err != nil || s == nil {
		return nil, err
	}
	return s, nil
}

// keyAttributes are the templates of a new key labelled label, with a
// random ID: pub for a public key, secret for a private or secret key.
// crypto11's templates make private and secret keys CKA_TOKEN,
// CKA_SENSITIVE and not CKA_EXTRACTABLE; secret sets the last two again so
// that the guarantee does not rest on a library default.
func keyAttributes(label string) (pub, secret crypto11.AttributeSet, err error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, nil, err
	}
	pub, err = crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return nil, nil, err
	}
	secret = pub.Copy()
	if err := secret.Set(crypto11.CkaSensitive, true); err != nil {
		return nil, nil, err
	}
	if err := secret.Set(crypto11.CkaExtractable, false); err != nil {
		return nil, nil, err
	}
	return pub, secret, nil
}

// Generate creates a key pair inside the token (keyAttributes).
func (t c11Token) Generate(label string, kt KeyType) (crypto.Signer, error) {
	pub, priv, err := keyAttributes(label)
	if err != nil {
		return nil, err
	}
	switch kt {
	case ECDSAP256:
		return t.c.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
	case ECDSAP384:
		return t.c.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P384())
	case RSA2048:
		return t.c.GenerateRSAKeyPairWithAttributes(pub, priv, 2048)
	case RSA3072:
		return t.c.GenerateRSAKeyPairWithAttributes(pub, priv, 3072)
	case RSA4096:
		return t.c.GenerateRSAKeyPairWithAttributes(pub, priv, 4096)
	}
	return nil, fmt.Errorf("unsupported key type %q", kt)
}

// DeleteKey destroys the key pairs found as FindKey finds them, each with
// crypto11's Delete: the private object, then the public one. Should the
// second C_DestroyObject fail, the public key stays behind with no private
// half; it holds nothing secret, but FindKeyPairs no longer sees it, so
// only the HSM's own tools can remove it.
func (t c11Token) DeleteKey(label string) (int, error) {
	pairs, err := t.c.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return 0, err
	}
	for i, s := range pairs {
		if err := s.Delete(); err != nil {
			return i, err
		}
	}
	return len(pairs), nil
}

func (t c11Token) Close() error { return t.c.Close() }

// deviceFaults are the return values after which a member cannot be trusted
// to sign until it has been re-initialised: the token or its sessions are
// gone. CKR_OBJECT_HANDLE_INVALID and CKR_KEY_HANDLE_INVALID are here too
// because the pool caches key handles: SoftHSM answers them when its token
// directory disappears, and an HSM answers them after a failover that
// renumbered objects; either way the handles must be looked up again.
var deviceFaults = map[pkcs11.Error]bool{
	pkcs11.CKR_DEVICE_ERROR:             true,
	pkcs11.CKR_DEVICE_REMOVED:           true,
	pkcs11.CKR_DEVICE_MEMORY:            true,
	pkcs11.CKR_TOKEN_NOT_PRESENT:        true,
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED:     true,
	pkcs11.CKR_SESSION_HANDLE_INVALID:   true,
	pkcs11.CKR_SESSION_CLOSED:           true,
	pkcs11.CKR_OBJECT_HANDLE_INVALID:    true,
	pkcs11.CKR_KEY_HANDLE_INVALID:       true,
	pkcs11.CKR_USER_NOT_LOGGED_IN:       true,
	pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED: true,
	pkcs11.CKR_GENERAL_ERROR:            true,
	pkcs11.CKR_FUNCTION_FAILED:          true,
	pkcs11.CKR_SLOT_ID_INVALID:          true,
}

// isDeviceFault reports whether err means the member must be re-initialised.
func isDeviceFault(err error) bool {
	var p11 pkcs11.Error
	if errors.As(err, &p11) {
		return deviceFaults[p11]
	}
	// crypto11 answers a closed context with a plain error.
	return err != nil && (err.Error() == "context is closed" || err.Error() == "cannot used closed Context")
}

// isDecryptDeviceFault is isDeviceFault without the codes a token also
// gives for a ciphertext it cannot decrypt.
func isDecryptDeviceFault(err error) bool {
	var p11 pkcs11.Error
	if errors.As(err, &p11) && (p11 == pkcs11.CKR_GENERAL_ERROR || p11 == pkcs11.CKR_FUNCTION_FAILED) {
		return false
	}
	return isDeviceFault(err)
}

// pinFaults are login results that retrying cannot fix; a member that gets
// one stays down until an operator fixes the PIN and restarts the gateway,
// so that a wrong PIN never locks the token through repeated attempts.
var pinFaults = map[pkcs11.Error]string{
	pkcs11.CKR_PIN_INCORRECT: "PIN incorrect",
	pkcs11.CKR_PIN_INVALID:   "PIN invalid",
	pkcs11.CKR_PIN_LEN_RANGE: "PIN length out of range",
	pkcs11.CKR_PIN_LOCKED:    "PIN locked",
	pkcs11.CKR_PIN_EXPIRED:   "PIN expired",
}

// pinFault returns a description if err is a PIN failure.
func pinFault(err error) (string, bool) {
	var p11 pkcs11.Error
	if errors.As(err, &p11) {
		s, ok := pinFaults[p11]
		return s, ok
	}
	return "", false
}
