package storage

import (
	"context"
	"time"
)

// SCEPChallenge is a one-time challengePassword for one first enrollment
// (PKCSReq, RFC 8894 section 3.3.1) under a profile, as an MDM or a
// provisioning pipeline hands one to each device. The store keeps only its
// SHA-256 hash, so a copy of the database yields no usable challenge.
type SCEPChallenge struct {
	Profile   string
	Hash      []byte // SHA-256 of the challenge
	Expires   time.Time
	CreatedAt time.Time
}

// SCEPStore keeps one-time SCEP challenges. Both stores implement it; it
// is meant to be embedded into Store.
type SCEPStore interface {
	// InsertSCEPChallenge stores a new challenge and appends its audit
	// event in the same commit. An empty Profile or a Hash that is not 32
	// bytes is errs.Malformed; a Hash already stored is errs.Conflict.
	InsertSCEPChallenge(ctx context.Context, c SCEPChallenge, audit AuditEvent) error
	// UseSCEPChallenge consumes the challenge with this hash under
	// profile: it is deleted, and of concurrent calls exactly one
	// succeeds. An unknown or used challenge, one of another profile
	// (which is left as it is) or one expired at now (Expires <= now) is
	// errs.NotFound. Every challenge expired at now is deleted along the
	// way, in the same write, whether or not this one is found.
	UseSCEPChallenge(ctx context.Context, profile string, hash []byte, now time.Time) error
}
