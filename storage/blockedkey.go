package storage

import (
	"context"
	"time"
)

// BlockedKey is a public key the gateway certifies no more: the key of a
// certificate revoked for keyCompromise, or one an operator blocked (a
// key known to have leaked). Issuance refuses a request for it under any
// profile, by any method.
type BlockedKey struct {
	Hash   []byte // SHA-256 of the key's SubjectPublicKeyInfo (DER), 32 bytes
	At     time.Time
	Serial string // the certificate whose revocation blocked it; "" for an operator's block
	By     string // who blocked it (the revoker, or the operator)
	Reason string // a line of text
}

// BlockedKeyStore keeps the blocked keys.
type BlockedKeyStore interface {
	// BlockKey records k (Hash of 32 bytes, At set; anything else is
	// errs.Malformed) with its audit event, in one commit. A key already
	// blocked keeps its first record and nothing is audited: blocked is
	// false then.
	BlockKey(ctx context.Context, k BlockedKey, audit AuditEvent) (blocked bool, err error)
	// BlockedKeys lists every blocked key, oldest first (by At, then Hash).
	BlockedKeys(ctx context.Context) ([]BlockedKey, error)
}
