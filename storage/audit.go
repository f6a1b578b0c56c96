package storage

import (
	"context"
	"time"
)

// AuditEvent is one entry of the audit trail: who did what to which
// certificate or profile. Issuance events carry the certificate DER, so the
// trail alone is enough to know everything that was ever signed.
type AuditEvent struct {
	ID      int64 // assigned by the store
	At      time.Time
	Actor   string
	Action  string // "issue", "revoke", "init-ca", "token-create", ...
	Profile string
	Serial  string
	Detail  string // free text or JSON
	DER     []byte // certificate DER where an issuance is audited
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	Serial  string    // exact serial
	Profile string    // exact profile name
	Action  string    // exact action (issue, revoke, export-key...)
	Actor   string    // exact actor (a token's name, cli:LOGIN, gateway...)
	Since   time.Time // events at or after Since
	Until   time.Time // events strictly before Until
	Limit   int       // at most this many; see EffectiveLimit
	// AfterAt and AfterID, if AfterID is set, page: the events listed
	// after the one at AfterAt with ID AfterID (the last of the previous
	// page), that is at before it, or at the same time with a smaller ID.
	AfterAt time.Time
	AfterID int64
}

const (
	// DefaultAuditLimit is the number of events ListAudit returns when the
	// filter does not say.
	DefaultAuditLimit = 100
	// MaxAuditLimit bounds one ListAudit call so that a single request
	// cannot read the whole trail into memory; page with Until instead.
	MaxAuditLimit = 1000
)

// EffectiveLimit is the number of events a store returns at most for f:
// DefaultAuditLimit when f.Limit is zero or negative, MaxAuditLimit when it
// is larger than that, f.Limit otherwise.
func (f AuditFilter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultAuditLimit
	case f.Limit > MaxAuditLimit:
		return MaxAuditLimit
	default:
		return f.Limit
	}
}

// AuditCheckpoint seals the audit trail up to an event: a hash chained
// over every event since the checkpoint before (in ID order), signed by a
// key in the token, so that an event changed, added or removed afterwards
// is found out (ca.Checkpointer).
type AuditCheckpoint struct {
	Seq    int64 // 1, 2, ... with no gap
	LastID int64 // the newest event it seals; it seals those after the previous checkpoint's LastID
	Events int   // how many events it seals
	// Hash chains the previous checkpoint's Hash with the digest of each
	// event sealed (SHA-256).
	Hash      []byte
	Signature []byte // by KeyURI's key, over ca.CheckpointMessage
	KeyURI    string
	At        time.Time
}

// MaxAuditCheckpoints caps one ListAuditCheckpoints.
const MaxAuditCheckpoints = 1000

// AuditCheckpointStore keeps the audit trail's checkpoints.
type AuditCheckpointStore interface {
	// AuditEventsAfter returns up to limit events with an ID above
	// afterID, in ID order (limit 1 to MaxAuditLimit, else
	// errs.Malformed).
	AuditEventsAfter(ctx context.Context, afterID int64, limit int) ([]AuditEvent, error)
	// LastAuditCheckpoint returns the checkpoint with the highest Seq, or
	// errs.NotFound when there is none.
	LastAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error)
	// InsertAuditCheckpoint stores cp; errs.Conflict if its Seq is taken
	// (another replica sealed first).
	InsertAuditCheckpoint(ctx context.Context, cp AuditCheckpoint) error
	// ListAuditCheckpoints returns up to limit checkpoints with a Seq
	// above afterSeq, in Seq order (limit 1 to MaxAuditCheckpoints, else
	// errs.Malformed).
	ListAuditCheckpoints(ctx context.Context, afterSeq int64, limit int) ([]AuditCheckpoint, error)
}

// AuditForwardStore keeps how far the audit trail was forwarded to each
// target (notify.AuditForwarder), for every replica to go on from.
type AuditForwardStore interface {
	// AuditForwarded returns the ID of the last event forwarded to
	// target; 0 before the first.
	AuditForwarded(ctx context.Context, target string) (int64, error)
	// AdvanceAuditForward moves target's position from from to to, if it
	// is still from (0: no position yet), and reports whether it did:
	// false when another replica moved it first.
	AdvanceAuditForward(ctx context.Context, target string, from, to int64, at time.Time) (bool, error)
}
