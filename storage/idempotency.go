package storage

import (
	"context"
	"time"
)

// IdempotencyKey is an Idempotency-Key (the IETF httpapi draft) that an
// API token sent with a request that issues a certificate: a retry with
// the same key and request gets the certificate the first one issued
// instead of a second certificate.
type IdempotencyKey struct {
	// TokenID is the API token that sent it: keys of different tokens
	// never meet.
	TokenID string
	Key     string
	// Fingerprint identifies the request (SHA-256 of its method, path and
	// body): a key sent again with another request is refused.
	Fingerprint []byte
	// ClaimedAt is when the request that holds the key began; ExpiresAt is
	// when the key is forgotten. Stores keep them to the microsecond.
	ClaimedAt time.Time
	ExpiresAt time.Time
	// Serial and Status are the certificate issued and the HTTP status
	// answered; RequestID is the request answered instead (202: held for
	// approval, or issued asynchronously). Serial and RequestID are both
	// "" while the request is under way.
	Serial    string
	RequestID string
	Status    int
}

// IdempotencyStore keeps the idempotency keys of the REST API, so that
// every replica sharing the store knows them.
type IdempotencyStore interface {
	// ClaimIdempotencyKey claims k (by TokenID and Key) for a request. It
	// stores k and returns it with true when no request holds the key, or
	// when the one that does never completed and was claimed before
	// staleBefore (it died). Otherwise it returns the holder, unchanged,
	// and false. Keys of any token that expired at k.ClaimedAt are
	// forgotten in the same commit.
	ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey, staleBefore time.Time) (IdempotencyKey, bool, error)
	// CompleteIdempotencyKey records the certificate (serial) or the
	// request (requestID) and the status answered for the key claimed at
	// claimedAt; a key claimed since by another request (this one was
	// taken for dead) is left to it.
	CompleteIdempotencyKey(ctx context.Context, tokenID, key string, claimedAt time.Time, serial, requestID string, status int) error
	// ReleaseIdempotencyKey forgets the key claimed at claimedAt, for a
	// request that issued nothing: the key may be used again.
	ReleaseIdempotencyKey(ctx context.Context, tokenID, key string, claimedAt time.Time) error
}
