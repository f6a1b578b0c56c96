// Package storage defines what the gateway keeps in its database: CA
// certificates, the certificates it issues, REST API tokens and the audit
// trail. It holds only the record types and the Store interface; the two
// implementations live in their own packages:
//
//   - storage/sqlite: the embedded store (modernc.org/sqlite, no cgo), for one
//     process on one machine.
//   - storage/postgres: PostgreSQL through pgx, for several gateway replicas
//     sharing one database.
//
// storage/open picks one of them from configuration. It is a separate package
// because the implementations import this one for the record types, so this
// package cannot import them back.
//
// Store is the full set of methods both implementations provide. Consumers
// should not depend on it: following Boulder's sa/proto/subsets.go, each
// consumer declares the few methods it calls, for example
//
//	type certStore interface {
//		InsertPendingCertificate(ctx context.Context, c storage.Certificate) error
//		ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error
//	}
//
// and checks at compile time that both stores satisfy it.
//
// storage/storagetest is the one conformance suite both stores must pass;
// behaviour not pinned down there is not part of the contract.
//
// # Conventions shared by both stores
//
// Errors carry an errs.Kind: errs.NotFound for a missing row, errs.Conflict
// for a clash with a unique key or with the row's state, errs.Unavailable when
// the database cannot be reached or is busy (retrying later may work), and
// errs.Internal for everything else. Messages never contain a DSN or a
// password.
//
// Times are stored in UTC with microsecond precision and returned in UTC;
// anything finer than a microsecond is truncated on the way in. The store
// never reads the wall clock for a record: callers set CreatedAt and At from
// their injected clock.
//
// Empty lists (SANs, Scopes) and empty byte slices (DER) come back as nil.
package storage

import (
	"context"
	"time"
)

// Store is everything the gateway persists. Both storage/sqlite.Store and
// storage/postgres.Store implement it and are safe for concurrent use.
type Store interface {
	// Ping reports whether the database answers; it backs /readyz.
	Ping(ctx context.Context) error
	// Close releases the connections. The Store must not be used afterwards.
	Close() error

	// InsertCA stores a CA certificate. It returns errs.Conflict if a CA with
	// that name exists and errs.NotFound if ca.Parent names no stored CA.
	InsertCA(ctx context.Context, ca CA) error
	// GetCA returns the named CA or errs.NotFound.
	GetCA(ctx context.Context, name string) (CA, error)
	// ListCAs returns every CA ordered by CreatedAt, then Name.
	ListCAs(ctx context.Context) ([]CA, error)

	// InsertPendingCertificate records a certificate before it is signed
	// ("persist, then sign"): the row is stored with StatusPending and no
	// DER whatever c.Status and c.DER say. It returns errs.Conflict on a
	// duplicate serial and errs.NotFound if c.CA names no stored CA.
	InsertPendingCertificate(ctx context.Context, c Certificate) error
	// ActivateCertificate stores the signed DER of a pending certificate and
	// marks it active. It returns errs.NotFound if no certificate has that
	// serial and errs.Conflict if the certificate is not pending.
	ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error
	// GetCertificate returns the certificate with that serial or
	// errs.NotFound.
	GetCertificate(ctx context.Context, serial string) (Certificate, error)

	// InsertToken stores an API token. It returns errs.Conflict if the ID or
	// the hash is taken.
	InsertToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose secret hashes to hash, or
	// errs.NotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)

	// AppendAudit adds an event to the audit trail and returns the ID the
	// store assigned (e.ID is ignored). IDs increase with every append.
	AppendAudit(ctx context.Context, e AuditEvent) (int64, error)
	// ListAudit returns the events matching f, newest first (by At, then
	// by ID).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}
