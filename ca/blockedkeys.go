package ca

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Blocked keys: once a certificate is revoked for keyCompromise, its key
// is certified no more, under any profile, by any method, as Let's
// Encrypt does; an operator may block a key that leaked before anything
// was issued for it (Core.BlockKey). A request for a blocked key is
// refused (errs.BadCSR) before anything is stored or signed.
//
// Every replica keeps the blocked keys in memory and reads them from the
// store again after blockedKeysTTL, so that issuance costs no store call
// for them: a key blocked on another replica is refused here within that
// time, one blocked here at once.

// blockedKeysTTL is how long the blocked keys read from the store are
// trusted before they are read again.
const blockedKeysTTL = 10 * time.Second

// blockedKeys is a replica's copy of the store's blocked keys.
type blockedKeys struct {
	mu     sync.Mutex
	keys   map[[sha256.Size]byte]storage.BlockedKey
	loaded time.Time
}

// KeyHash is how the store names a public key: the SHA-256 of its
// SubjectPublicKeyInfo.
func KeyHash(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, errs.Wrap(errs.BadCSR, err, "public key")
	}
	h := sha256.Sum256(spki)
	return h[:], nil
}

// CheckKeyBlocked refuses pub (errs.BadCSR) if it is blocked, or weak by
// how it was made (CheckWeakKey): issuance asks it of every request, and
// the ACME server of account keys.
func (c *Core) CheckKeyBlocked(ctx context.Context, pub crypto.PublicKey) error {
	if err := CheckWeakKey(pub); err != nil {
		return err
	}
	h, err := KeyHash(pub)
	if err != nil {
		return err
	}
	keys, err := c.blocked.current(ctx, c.Store, c.Now())
	if err != nil {
		return err
	}
	if k, ok := keys[[sha256.Size]byte(h)]; ok {
		return errs.New(errs.BadCSR, "the public key (SHA-256 of its SubjectPublicKeyInfo %s) is blocked since %s: %s; make a new key",
			hex.EncodeToString(h), k.At.UTC().Format(time.RFC3339), k.Reason)
	}
	return nil
}

// current returns the blocked keys, read again from st when the copy is
// older than blockedKeysTTL. If the store does not answer, an older copy
// serves; without one, issuance waits (errs.Unavailable from the store).
func (b *blockedKeys) current(ctx context.Context, st CoreStore, now time.Time) (map[[sha256.Size]byte]storage.BlockedKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys != nil && now.Sub(b.loaded) < blockedKeysTTL && !now.Before(b.loaded) {
		return b.keys, nil
	}
	list, err := st.BlockedKeys(ctx)
	if err != nil {
		if b.keys != nil {
			return b.keys, nil
		}
		return nil, err
	}
	keys := make(map[[sha256.Size]byte]storage.BlockedKey, len(list))
	for _, k := range list {
		if len(k.Hash) == sha256.Size {
			keys[[sha256.Size]byte(k.Hash)] = k
		}
	}
	b.keys, b.loaded = keys, now
	return keys, nil
}

// add puts k in the copy at once (a key this replica blocked).
func (b *blockedKeys) add(k storage.BlockedKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys != nil {
		b.keys[[sha256.Size]byte(k.Hash)] = k
	}
}

// BlockKey blocks pub, for reason, on behalf of by: nothing is issued for
// it any more. blocked is false when it was blocked already (the first
// record stays).
func (c *Core) BlockKey(ctx context.Context, pub crypto.PublicKey, by, reason string) (k storage.BlockedKey, blocked bool, err error) {
	h, err := KeyHash(pub)
	if err != nil {
		return k, false, errs.Wrap(errs.Malformed, err, "block key")
	}
	return c.blockKey(ctx, storage.BlockedKey{Hash: h, At: c.Now(), By: by, Reason: reason})
}

func (c *Core) blockKey(ctx context.Context, k storage.BlockedKey) (storage.BlockedKey, bool, error) {
	blocked, err := c.Store.BlockKey(ctx, k, blockAudit(k))
	if err != nil {
		return k, false, err
	}
	if blocked {
		c.keyBlocked(k)
	}
	return k, blocked, nil
}

// blockAudit is the audit event of blocking k.
func blockAudit(k storage.BlockedKey) storage.AuditEvent {
	return storage.AuditEvent{At: k.At, Actor: k.By, Action: "block-key", Serial: k.Serial,
		Detail: fmt.Sprintf("key %s: %s", hex.EncodeToString(k.Hash), k.Reason)}
}

// BlockedKeys lists the blocked keys, oldest first.
func (c *Core) BlockedKeys(ctx context.Context) ([]storage.BlockedKey, error) {
	return c.Store.BlockedKeys(ctx)
}

// compromisedKey is the block of the key of rec, revoked for
// keyCompromise at at by by: the store makes it in the revocation's
// commit (storage.Store.RevokeCertificates),
// so a revocation that stands always blocks the key.
func compromisedKey(rec storage.Certificate, at time.Time, by string) (storage.BlockedKey, error) {
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return storage.BlockedKey{}, errs.Wrap(errs.Internal, err, "certificate %s: stored DER", rec.Serial)
	}
	h, err := KeyHash(cert.PublicKey)
	if err != nil {
		return storage.BlockedKey{}, errs.Wrap(errs.Internal, err, "certificate %s: its key", rec.Serial)
	}
	return storage.BlockedKey{Hash: h, At: at, Serial: rec.Serial, By: by, Reason: "certificate " + rec.Serial + " was revoked for keyCompromise"}, nil
}

// keyBlocked takes up a key the store just blocked.
func (c *Core) keyBlocked(k storage.BlockedKey) {
	c.blocked.add(k)
	c.Log.Warn("key blocked", "key", hex.EncodeToString(k.Hash), "by", k.By, "serial", k.Serial, "reason", k.Reason)
}
