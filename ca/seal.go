package ca

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/errs"
)

// Sealer encrypts the private keys the gateway generates and holds for
// server-driven renewal, with AES-256-GCM under a key-encryption key, so
// that a copy of the database alone does not yield them. The serial is the
// additional data: a sealed key cannot be moved to another certificate.
// The key-encryption keys themselves are kept by KEKFile, wrapped by a key
// in the token where one is configured.
//
// A Sealer holds every key-encryption key of the keystore: it seals under
// the current one (the first) and opens under whichever sealed. A sealed
// key starts with sealMagic and the ID of its key-encryption key (KEKID);
// keys sealed before rotation existed carry neither and open under any.
type Sealer struct {
	set atomic.Pointer[kekSet]
	// Reload, if set, returns the keystore's keys anew (KEKFile.LoadKeys):
	// Open calls it once when a key was sealed under a key-encryption key
	// this Sealer does not hold yet (another process rotated).
	Reload     func(ctx context.Context) ([][]byte, error)
	reloadMu   sync.Mutex
	lastReload time.Time
}

// minReload spaces the reloads of keys a sealed key names but no reload
// found (a key retired for good, a damaged record): each read of such a
// key would otherwise read the file, the store and the token again.
const minReload = 5 * time.Second

// sealMagic starts a sealed key that names its key-encryption key.
var sealMagic = []byte{0xc5, 0x01}

const kekIDLen = 8

type kekSet struct {
	current [kekIDLen]byte
	aeads   map[[kekIDLen]byte]cipher.AEAD
	order   [][kekIDLen]byte // as given, current first
}

// KEKID names a key-encryption key without revealing it: the first bytes
// of a SHA-256 over a label and the key, in hex.
func KEKID(kek []byte) string {
	id := kekID(kek)
	return hex.EncodeToString(id[:])
}

func kekID(kek []byte) [kekIDLen]byte {
	h := sha256.Sum256(append([]byte("certgw key-encryption key id\x00"), kek...))
	return [kekIDLen]byte(h[:kekIDLen])
}

// NewSealer uses 32-byte keys, the first to seal.
func NewSealer(keks ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	if err := s.Set(keks...); err != nil {
		return nil, err
	}
	return s, nil
}

// Set replaces the Sealer's key-encryption keys, the first to seal.
func (s *Sealer) Set(keks ...[]byte) error {
	if len(keks) == 0 {
		return errs.New(errs.Config, "no key-encryption key")
	}
	set := &kekSet{aeads: map[[kekIDLen]byte]cipher.AEAD{}}
	for i, kek := range keks {
		if len(kek) != 32 {
			return errs.New(errs.Config, "key-encryption key must be 32 bytes, got %d", len(kek))
		}
		block, err := aes.NewCipher(kek)
		if err != nil {
			return errs.Wrap(errs.Config, err, "key-encryption key")
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "key-encryption key")
		}
		id := kekID(kek)
		if i == 0 {
			set.current = id
		}
		if _, dup := set.aeads[id]; !dup {
			set.aeads[id] = aead
			set.order = append(set.order, id)
		}
	}
	s.set.Store(set)
	return nil
}

// Current is the ID of the key-encryption key that seals.
func (s *Sealer) Current() string {
	id := s.set.Load().current
	return hex.EncodeToString(id[:])
}

// Seal encrypts plaintext bound to serial, under the current key.
func (s *Sealer) Seal(serial string, plaintext []byte) ([]byte, error) {
	set := s.set.Load()
	aead := set.aeads[set.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append(append([]byte{}, sealMagic...), set.current[:]...), nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(serial)), nil
}

// SealedUnder names the key-encryption key that sealed a key, or "" for a
// key sealed before keys were named.
func SealedUnder(sealed []byte) string {
	if len(sealed) < len(sealMagic)+kekIDLen || !bytes.HasPrefix(sealed, sealMagic) {
		return ""
	}
	return hex.EncodeToString(sealed[len(sealMagic) : len(sealMagic)+kekIDLen])
}

// Open decrypts what Seal returned for serial, under whichever key sealed
// it.
func (s *Sealer) Open(serial string, sealed []byte) ([]byte, error) {
	pt, known, err := s.set.Load().open(serial, sealed)
	if !known && s.Reload != nil && s.reload(s.set.Load()) {
		pt, _, err = s.set.Load().open(serial, sealed)
	}
	return pt, err
}

// reload takes up the keystore's keys anew, once for every caller that
// found seen lacking a key; it reports whether the keys changed.
func (s *Sealer) reload(seen *kekSet) bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.set.Load() != seen { // another caller reloaded meanwhile
		return true
	}
	if time.Since(s.lastReload) < minReload {
		return false
	}
	s.lastReload = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keks, err := s.Reload(ctx)
	if err != nil {
		return false
	}
	return s.Set(keks...) == nil
}

// open opens sealed; known is false when it names a key-encryption key
// the set lacks.
func (set *kekSet) open(serial string, sealed []byte) (pt []byte, known bool, err error) {
	id := SealedUnder(sealed)
	var aead cipher.AEAD
	if id != "" {
		aead = set.aeads[[kekIDLen]byte(sealed[len(sealMagic):len(sealMagic)+kekIDLen])]
		if aead != nil {
			if pt, err := openWith(aead, serial, sealed[len(sealMagic)+kekIDLen:]); err == nil {
				return pt, true, nil
			}
		}
	}
	// A key sealed before keys were named: nonce and ciphertext alone (or,
	// once in 65,536, such a key that happens to start like a named one).
	for _, id := range set.order {
		if pt, err := openWith(set.aeads[id], serial, sealed); err == nil {
			return pt, true, nil
		}
	}
	if id != "" && aead == nil {
		return nil, false, errs.New(errs.Internal, "sealed key of %s: sealed under key-encryption key %s, which this gateway does not hold", serial, id)
	}
	return nil, true, errs.New(errs.Internal, "open sealed key of %s: no key-encryption key of this gateway opens it", serial)
}

func openWith(aead cipher.AEAD, serial string, body []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(body) < n {
		return nil, errs.New(errs.Internal, "sealed key of %s is truncated", serial)
	}
	return aead.Open(nil, body[:n], body[n:], []byte(serial))
}

// Holds reports whether keks are the Sealer's keys, in the same order.
func (s *Sealer) Holds(keks [][]byte) bool {
	set := s.set.Load()
	if len(keks) != len(set.order) {
		return false
	}
	for i, k := range keks {
		if kekID(k) != set.order[i] {
			return false
		}
	}
	return true
}
