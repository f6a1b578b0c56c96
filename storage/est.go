package storage

import (
	"context"
	"time"
)

// ESTCredential is the HTTP Basic credential of an EST client under one
// profile (RFC 7030 section 3.2.3). The store keeps a password hash, never
// the password: Hash is an opaque string (protocols/est writes argon2id in
// the PHC string format) that only the EST server interprets.
type ESTCredential struct {
	Profile   string
	Username  string
	Hash      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ESTStore keeps EST credentials. Both stores implement it; it is meant to
// be embedded into Store.
//
// A credential is keyed by (Profile, Username), both case-sensitive. An
// empty Profile, Username or Hash is errs.Malformed.
//
// Each change appends its audit event to the trail in the same commit; a
// refused change (an error) appends nothing.
type ESTStore interface {
	// InsertESTCredential stores a new credential. It returns errs.Conflict
	// if the profile already has a user of that name.
	InsertESTCredential(ctx context.Context, c ESTCredential, audit AuditEvent) error
	// UpdateESTCredential replaces the Hash and UpdatedAt of a credential
	// (CreatedAt is kept). It returns errs.NotFound if there is none.
	UpdateESTCredential(ctx context.Context, c ESTCredential, audit AuditEvent) error
	// GetESTCredential returns the credential of a user of a profile, or
	// errs.NotFound.
	GetESTCredential(ctx context.Context, profile, username string) (ESTCredential, error)
	// ListESTCredentials returns the credentials of a profile ("" = every
	// profile), ordered by Profile, then Username.
	ListESTCredentials(ctx context.Context, profile string) ([]ESTCredential, error)
	// DeleteESTCredential removes a credential. It returns errs.NotFound if
	// there is none.
	DeleteESTCredential(ctx context.Context, profile, username string, audit AuditEvent) error
}
