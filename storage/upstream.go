package storage

import (
	"context"
	"time"
)

// UpstreamAccount is the gateway's account at an external ACME CA that
// backs profiles (package upstream). The key is a software key (lego signs
// its JWS with it), sealed by the caller like a gateway-held subject key:
// KeyPEM is opaque to the store.
type UpstreamAccount struct {
	Upstream  string // the upstream's name in the config
	Directory string // the ACME directory URL the account lives at
	URL       string // the account URL, the JWS "kid"
	KeyPEM    []byte // sealed account key
	CreatedAt time.Time
}

// UpstreamStore keeps what the gateway needs as an ACME client of external
// CAs. Both stores implement it; it is meant to be embedded into Store.
// Every replica reads the same account, and answers the external CA's
// http-01 validation whichever replica the CA reaches.
type UpstreamStore interface {
	// UpstreamAccount returns the account of an upstream at a directory,
	// or errs.NotFound.
	UpstreamAccount(ctx context.Context, upstream, directory string) (UpstreamAccount, error)
	// InsertUpstreamAccount stores a new account and appends its audit
	// event in the same commit. It returns errs.Conflict, and stores
	// nothing, if the upstream already has an account at that directory
	// (another replica registered first: read that one). An empty
	// Upstream, Directory, URL or KeyPEM is errs.Malformed.
	InsertUpstreamAccount(ctx context.Context, a UpstreamAccount, audit AuditEvent) error
	// PutHTTP01 stores (or replaces) the key authorization an external
	// CA's http-01 challenge expects at
	// /.well-known/acme-challenge/TOKEN (RFC 8555 section 8.3), until
	// expires. An empty token or keyAuth is errs.Malformed.
	PutHTTP01(ctx context.Context, token, keyAuth string, expires time.Time) error
	// HTTP01 returns the key authorization of a token that has not expired
	// at now, or errs.NotFound.
	HTTP01(ctx context.Context, token string, now time.Time) (string, error)
	// DeleteHTTP01 removes a token; a missing one is not an error. It also
	// removes every token that expired before now.
	DeleteHTTP01(ctx context.Context, token string, now time.Time) error
}
