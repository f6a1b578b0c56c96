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
//		CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (int64, error)
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
// for a clash with a unique key or with the row's state, errs.Malformed for
// an argument the store rejects before asking the database (an unknown
// filter status, a cursor it did not make, a reason code RFC 5280 does not
// define), errs.Unavailable when the database cannot be reached or is busy
// (retrying later may work), and errs.Internal for everything else.
// Messages never contain a DSN or a password.
//
// Times are stored in UTC with microsecond precision and returned in UTC;
// anything finer than a microsecond is truncated on the way in. The store
// never reads the wall clock for a record: callers set CreatedAt and At from
// their injected clock.
//
// Empty lists (SANs, Scopes) and empty byte slices (DER, KeyPEM) come back
// as nil.
//
// Stores never read the wall clock for a decision either: every method that
// depends on "now" (expiry, renewal leases) takes it as an argument.
//
// Stores make concurrent writes share transactions (group commit, see
// storage/internal/groupcommit). A write method still returns only once
// the commit that holds its write is durable, or with the error that says
// it is not (a failed commit fails every write it held, with
// errs.Unavailable or errs.Internal). A write whose ctx ends while it waits
// for its turn returns errs.Unavailable and is not written; once its turn
// has come, it is written and its method returns the outcome whatever ctx
// does.
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

	// InsertCA stores a CA certificate and appends audit to the trail in
	// the same commit. It returns errs.Conflict if a CA with that name
	// exists and errs.NotFound if ca.Parent names no stored CA, and then
	// appends nothing.
	InsertCA(ctx context.Context, ca CA, audit AuditEvent) error
	// GetCA returns the named CA or errs.NotFound.
	GetCA(ctx context.Context, name string) (CA, error)
	// ListCAs returns every CA ordered by CreatedAt, then Name.
	ListCAs(ctx context.Context) ([]CA, error)
	// ReplaceCACertificate puts der in place of the named CA's certificate
	// and chain in place of its chain (CA.Chain; nil for a CA the gateway
	// certifies) (a renewal: `gateway ca renew`, or `gateway ca import` of
	// a certificate from an external CA) and appends audit in the same
	// commit, provided the stored certificate is still old. It returns
	// errs.NotFound for an unknown CA, errs.Conflict if the certificate
	// is no longer old (another renewal came first) and errs.Malformed for
	// an empty der, and then changes and appends nothing.
	ReplaceCACertificate(ctx context.Context, name string, old, der, chain []byte, audit AuditEvent) error

	// InsertPendingCertificate records a certificate before it is signed
	// ("persist, then sign"): the row is stored with StatusPending and no
	// DER whatever c.Status and c.DER say. Every other field is stored as
	// given (RevokedAt and RevocationReason aside, which only
	// RevokeCertificate sets). It returns errs.Conflict on a duplicate
	// serial and errs.NotFound if c.CA names no stored CA.
	//
	// It returns once the row is committed: every reader and replica sees
	// it, and it outlives the process. It may return before the row is on
	// disk (groupcommit.DoUnflushed): the next write that waits for the
	// disk carries it there, as both databases flush their log in order,
	// and the completion of the same issuance is such a write. So no
	// certificate is handed out before its pending record is durable;
	// only a crash of the machine (or of the PostgreSQL server) between
	// the two can lose a pending record, and then the certificate signed
	// in between reached no one. This saves each issuance one wait for the
	// disk.
	InsertPendingCertificate(ctx context.Context, c Certificate) error
	// ActivateCertificate stores the signed DER of a pending certificate and
	// marks it active. It returns errs.NotFound if no certificate has that
	// serial and errs.Conflict if the certificate is not pending.
	ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error
	// CompleteIssuance records a signed certificate in one write, and so
	// one commit: it appends e to the audit trail (the issuance event,
	// which carries the DER) and activates the pending certificate serial
	// as ActivateCertificate would, and returns the ID of the event. If
	// the activation fails (errs.NotFound, errs.Conflict, or a database
	// error confined to it) the event is committed all the same:
	// CompleteIssuance returns its ID with the activation's error, and the
	// DER stays in the trail for the reconcile step (see
	// PendingCertificates). If the write fails as a whole (the database
	// cannot be reached, the commit fails, the event itself cannot be
	// stored), nothing is committed and the ID is 0, as when the two
	// writes were made one after the other and the first failed. An empty
	// der is errs.Internal and writes nothing.
	CompleteIssuance(ctx context.Context, e AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (auditID int64, err error)
	// GetCertificate returns the certificate with that serial or
	// errs.NotFound.
	GetCertificate(ctx context.Context, serial string) (Certificate, error)
	// ListCertificates returns one page of the certificates matching f,
	// newest first (by CreatedAt, then Serial, both descending), and the
	// cursor of the next page ("" when there is none). Paging is by keyset,
	// not by offset: a page starts after the last row of the previous one,
	// so rows inserted while a client pages are never returned twice (rows
	// that sort before the cursor are not returned at all, rows after it
	// are). The cursor is opaque and only valid for the store that made it.
	// An invalid cursor, an unknown f.Status, or "active" or "expired"
	// without f.Now is errs.Malformed.
	ListCertificates(ctx context.Context, f CertificateFilter) ([]Certificate, string, error)
	// CountExpiring counts, by profile, the active certificates that end
	// in [now, until) and that no later certificate replaced (RenewedBy
	// empty): the ones about to lapse unless someone renews them. A
	// profile with none is absent from the map.
	CountExpiring(ctx context.Context, now, until time.Time) (map[string]int, error)
	// ExpiringUntold lists the certificates of profile that CountExpiring
	// counts for [now, until) and whose expiry nobody was told of yet
	// (MarkExpiryTold), soonest first (by NotAfter, then Serial), at most
	// limit (at least 1, capped at MaxCertificateLimit).
	ExpiringUntold(ctx context.Context, profile string, now, until time.Time, limit int) ([]Certificate, error)
	// MarkExpiryTold records that the expiry of a certificate was told, at
	// at; false if it was already (another replica told it).
	MarkExpiryTold(ctx context.Context, serial string, at time.Time) (bool, error)
	// LatestCertificate returns the newest active certificate of the
	// profile that is unexpired at now (NotAfter > now): the one with the
	// latest NotBefore, then the latest CreatedAt, then the greatest
	// Serial. It returns errs.NotFound if there is none.
	LatestCertificate(ctx context.Context, profile string, now time.Time) (Certificate, error)
	// PendingCertificates lists pending certificates created before
	// olderThan, oldest first (by CreatedAt, then Serial), at most limit
	// (capped at MaxCertificateLimit; limit < 1 is errs.Malformed). It
	// serves the reconcile step that restores certificates whose signing
	// completed but whose activation failed (see CompleteIssuance): their
	// DER is in the audit trail.
	PendingCertificates(ctx context.Context, olderThan time.Time, limit int) ([]Certificate, error)

	// RevokeCertificate marks an active certificate revoked with the RFC
	// 5280 section 5.3.1 reason code (0-6 or 8-10; anything else is
	// errs.Malformed) at time at (zero is errs.Malformed). It returns
	// errs.NotFound if no certificate has that serial, and errs.Conflict if
	// the certificate is pending or already revoked; the first revocation's
	// time and reason are kept. Of several concurrent revocations of one
	// certificate exactly one succeeds. The revocation and its audit
	// event are committed together: a refused revocation appends nothing,
	// and no revocation goes unaudited.
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, audit AuditEvent) error
	// RevokeCertificates makes each of revs as RevokeCertificate would
	// (with Block set, blocking the key as BlockedKeyStore.BlockKey would,
	// so that a revocation for keyCompromise that stands always blocks its
	// key, and a refused one blocks nothing), all in one commit: a bulk revocation waits for the disk, and on PostgreSQL for
	// its CA's revocation counter, once per batch rather than once per
	// certificate. outcomes[i] is the refusal of revs[i] (errs.NotFound,
	// errs.Conflict, errs.Malformed), which leaves that certificate as it
	// was and the others revoked; blocked[i] tells whether revs[i]
	// blocked a key not blocked before. err is a failure of the commit,
	// which then revokes nothing.
	RevokeCertificates(ctx context.Context, revs []Revocation) (outcomes []error, blocked []bool, err error)
	// ReleaseHold makes a certificate revoked with certificateHold (RFC
	// 5280 section 5.3.1, code 6) active again: its revocation time and
	// reason are cleared, and, as a revocation does, it takes its CA's next
	// revocation generation with an event naming it, so that OCSP
	// responses and CRLs follow. It returns errs.NotFound if no certificate
	// has that serial, and errs.Conflict if the certificate is not on hold
	// (active, pending, or revoked for another reason). Of several
	// concurrent releases of one certificate exactly one succeeds. The
	// release and its audit event are committed together, as for
	// RevokeCertificate.
	ReleaseHold(ctx context.Context, serial string, audit AuditEvent) error

	// SetAutoRenew switches server-driven renewal of one certificate on or
	// off and appends audit to the trail in the same commit. It returns
	// errs.NotFound if no certificate has that serial, and then appends
	// nothing.
	SetAutoRenew(ctx context.Context, serial string, on bool, audit AuditEvent) error
	// DueForRenewal lists the certificates that server-driven renewal
	// should replace at now: active, AutoRenew on, KeyPEM present,
	// RenewedBy empty, RenewAt set and not after now, NotAfter after now,
	// and no live renewal claim (see ClaimRenewal). Oldest RenewAt first
	// (then Serial), at most limit (capped at MaxCertificateLimit; limit < 1
	// is errs.Malformed).
	DueForRenewal(ctx context.Context, now time.Time, limit int) ([]Certificate, error)
	// ClaimRenewal takes a lease on renewing one certificate, so that two
	// gateway replicas never renew it twice. A claim made at t with lease d
	// is live while now < t+d. It returns true if this caller now holds the
	// claim: no claim was live at now (whoever held the last one, the
	// caller included), the certificate is active and it has not been
	// renewed. Otherwise it returns false and changes nothing. Of several
	// concurrent claimers exactly one gets true. It returns errs.NotFound
	// if no certificate has that serial, and errs.Malformed for an empty
	// claimant or a lease that is not positive.
	ClaimRenewal(ctx context.Context, serial, claimant string, now time.Time, lease time.Duration) (bool, error)
	// ReleaseRenewal ends claimant's claim on renewing serial before its
	// lease does, for a renewal that failed without issuing: the next
	// claimer need not wait. A claim that is no longer claimant's (its
	// lease ended and another claimant took it) is left alone. It returns
	// errs.NotFound if no certificate has that serial, and errs.Malformed
	// for an empty claimant.
	ReleaseRenewal(ctx context.Context, serial, claimant string) error
	// MarkRenewed records that newSerial replaced oldSerial (it sets
	// RenewedBy of the old certificate; the claim, if any, is left to
	// expire). It returns errs.NotFound if oldSerial does not exist,
	// errs.Conflict if it was already renewed, and errs.Malformed if
	// newSerial is not a serial (lowercase hex) or is oldSerial. newSerial
	// need not be stored yet.
	MarkRenewed(ctx context.Context, oldSerial, newSerial string) error

	// InsertToken stores an API token and appends audit to the trail in the
	// same commit. It returns errs.Conflict if the ID or the hash is taken,
	// and then appends nothing.
	InsertToken(ctx context.Context, t Token, audit AuditEvent) error
	// TokenByHash returns the token whose secret hashes to hash, or
	// errs.NotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens returns every API token, oldest first (by CreatedAt,
	// then ID).
	ListTokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes the token with that ID, so that its secret stops
	// working, and appends audit to the trail in the same commit. It
	// returns errs.NotFound if there is none, and then appends nothing.
	DeleteToken(ctx context.Context, id string, audit AuditEvent) error

	// AppendAudit adds an event to the audit trail and returns the ID the
	// store assigned (e.ID is ignored). IDs increase with every append.
	AppendAudit(ctx context.Context, e AuditEvent) (int64, error)
	// ListAudit returns the events matching f, newest first (by At, then
	// by ID).
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// The protocols' own records.
	ESTStore
	ACMEStore
	RevocationStore
	UpstreamStore
	SCEPStore
	RequestStore
	KeystoreStore
	SealedKeyStore
	AuthFailureStore
	IdempotencyStore
	NotificationStore
	TidyStore
	AuditCheckpointStore
	AuditForwardStore
	BlockedKeyStore
}
