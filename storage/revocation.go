package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/certgw/gateway/errs"
)

// This file holds what the revocation service (packages crl and ocsp)
// keeps in the store: the CRL numbers each CA has handed out, the latest
// CRL each CA published, a per-CA revocation counter with the serials
// behind it, and the delegated OCSP responders. Everything a second
// replica needs lives here, so that replicas sharing PostgreSQL serve the
// same CRL and learn of each other's revocations.
//
// The revocation counter ("generation") is kept by the database itself: a
// trigger on certificates (migration 0003) bumps it and records the serial
// in the same transaction as RevokeCertificate's UPDATE, so no revocation,
// through whichever code path, can be missed by a replica that polls it.

// RevocationState is the cheap summary a replica polls to notice what
// another replica did: one row per CA, no CRL bytes.
type RevocationState struct {
	CA string
	// Generation counts the revocations of the CA's certificates, and the
	// releases from hold (ReleaseHold): it grows by exactly one with each,
	// in commit order, and never shrinks.
	Generation int64
	// CRLNumber is the last number NextCRLNumber handed out (0: none).
	CRLNumber int64
	// Published describes the latest published CRL; its Number is 0 and
	// its DER nil when the CA has published none.
	Published PublishedCRL
}

// RevocationEvent is one revocation, or one release from hold, in
// Generation order: the certificate's status changed, and what it is now
// is in the certificates table.
type RevocationEvent struct {
	CA         string
	Generation int64 // the CA's Generation right after this revocation
	Serial     string
}

// PublishedCRL is a signed CRL as a CA publishes it.
type PublishedCRL struct {
	CA         string
	Number     int64 // the CRLNumber extension (RFC 5280 section 5.2.3)
	ThisUpdate time.Time
	NextUpdate time.Time
	// Generation is the CA's revocation Generation read before the
	// revoked certificates were listed: the CRL holds at least every
	// revocation up to it.
	Generation int64
	DER        []byte // nil from RevocationState
	// Shards are the DER of the CA's partitioned CRLs, shard 0 first (nil
	// for a CA that does not shard, and from RevocationState). They come
	// from the rebuild that made DER and share its number and times;
	// PublishCRL stores them with it, replacing the CA's previous shards,
	// in one transaction.
	Shards [][]byte
	// Delta, for a CA that publishes delta CRLs, is the delta CRL built
	// with this one (nil otherwise, and from RevocationState). PublishCRL
	// stores it with the CRL, replacing the CA's previous one, in one
	// transaction.
	Delta *DeltaCRL
}

// DeltaCRL is a delta CRL (RFC 5280 section 5.2.4): the revocations since
// a complete CRL, its base, for validators that hold that CRL or a later
// one. It shares its thisUpdate with the complete CRL built with it.
type DeltaCRL struct {
	// Number is its CRLNumber, from the sequence of the complete CRLs:
	// above that of the CRL built with it.
	Number int64
	// Base is the BaseCRLNumber of its deltaCRLIndicator, BaseThisUpdate
	// that complete CRL's thisUpdate, and BaseGeneration its Generation:
	// the delta lists the changes of the revocation events since.
	Base           int64
	BaseThisUpdate time.Time
	BaseGeneration int64
	NextUpdate     time.Time
	DER            []byte
}

// Revocation is one revocation of Store.RevokeCertificates.
type Revocation struct {
	Serial string
	Reason int
	At     time.Time
	Audit  AuditEvent
	// Block, if set (a keyCompromise revocation), blocks the certificate's
	// key in the same commit, with BlockAudit, if it is not blocked yet.
	Block      *BlockedKey
	BlockAudit AuditEvent
}

// CheckRevocation refuses (errs.Malformed) a revocation a store would not
// make: an unknown reason, no time, or a block without a 32-byte hash
// and a time.
func CheckRevocation(r Revocation) error {
	if err := CheckReason(r.Reason); err != nil {
		return errs.Wrap(errs.Malformed, err, "revoke certificate %s", r.Serial)
	}
	if r.At.IsZero() {
		return errs.New(errs.Malformed, "revoke certificate %s: no revocation time", r.Serial)
	}
	if r.Block != nil && (len(r.Block.Hash) != 32 || r.Block.At.IsZero()) {
		return errs.New(errs.Malformed, "revoke certificate %s: a blocked key needs a 32-byte hash and a time", r.Serial)
	}
	return nil
}

// CRLReason codes (RFC 5280 section 5.3.1) that the gateway treats apart
// from the others.
const (
	// ReasonKeyCompromise blocks the certificate's key as well
	// (Revocation.Block).
	ReasonKeyCompromise = 1
	// ReasonCertificateHold suspends a certificate: the one revocation
	// that ReleaseHold undoes.
	ReasonCertificateHold = 6
	// ReasonRemoveFromCRL marks, in a delta CRL, an entry that left the
	// CRL. It is not a reason to revoke a certificate, and a full CRL or
	// an OCSP response gives no reason for it.
	ReasonRemoveFromCRL = 8
)

// CheckReason reports whether reason is a CRLReason code a certificate can
// be revoked with (RFC 5280 section 5.3.1): 0 to 10, where 7 is not used.
// The stores refuse any other (RevokeCertificate); the core checks it
// before it reads the store.
func CheckReason(reason int) error {
	if reason < 0 || reason > 10 || reason == 7 {
		return fmt.Errorf("revocation reason %d is not an RFC 5280 CRLReason (0-6, 8-10)", reason)
	}
	return nil
}

// RevokedEntry is one revoked certificate as a CRL lists it.
type RevokedEntry struct {
	Serial    string // lowercase hex
	NotAfter  time.Time
	RevokedAt time.Time
	Reason    int // RFC 5280 section 5.3.1 CRLReason
}

// CertificateStatus is what an OCSP responder needs to know of one
// certificate: no DER, no key.
type CertificateStatus struct {
	Serial    string
	CA        string
	Status    CertStatus
	NotAfter  time.Time
	RevokedAt time.Time // zero unless revoked
	Reason    int       // meaningful only when revoked
}

// OCSPResponder is a delegated OCSP responder certificate (RFC 6960
// section 4.2.2.2) whose key is in the signer.
type OCSPResponder struct {
	CA        string
	KeyURI    string // unique: one key, one responder certificate
	CertDER   []byte
	NotAfter  time.Time
	CreatedAt time.Time
}

// MaxRevokedLimit bounds one page of ListRevoked.
const MaxRevokedLimit = 10000

// RevocationStore is what the revocation service keeps in the store. Both
// stores implement it; storagetest.RunRevocation is its conformance suite.
type RevocationStore interface {
	// NextCRLNumber hands out the CA's next CRL number: 1 the first time,
	// then one more than the last, atomically, so that no two callers in
	// any process sharing the database ever get the same number and the
	// numbers strictly increase across restarts. It returns errs.NotFound
	// for a CA the store does not hold.
	//
	// The increment also waits for revocations of the CA that are being
	// committed (they lock the same row), so a CRL whose entries are
	// listed after its number was handed out holds every revocation
	// committed before that.
	NextCRLNumber(ctx context.Context, ca string) (int64, error)
	// PublishCRL stores c as the CA's latest CRL if its Number is greater
	// than that of the stored one (or none is stored) and reports whether
	// it did; an older or equal number changes nothing and is not an error.
	// Number < 1, empty DER or NextUpdate before ThisUpdate is
	// errs.Malformed; an unknown CA is errs.NotFound.
	PublishCRL(ctx context.Context, c PublishedCRL) (bool, error)
	// LatestCRL returns the CA's latest published CRL with its DER, or
	// errs.NotFound if it published none.
	LatestCRL(ctx context.Context, ca string) (PublishedCRL, error)
	// RevocationState returns the CA's revocation summary. A CA with no
	// revocation and no CRL yet has zero counters; a CA the store does not
	// hold is errs.NotFound.
	RevocationState(ctx context.Context, ca string) (RevocationState, error)
	// RevocationEvents lists the CA's revocations with Generation greater
	// than after, in Generation order, at most limit (capped at
	// MaxRevokedLimit; limit < 1 is errs.Malformed).
	//
	// The events kept are contiguous: every generation from the oldest
	// event kept to the CA's Generation has its event. Only the oldest go,
	// through PruneRevocationEvents (and migration 0003 counted earlier
	// revocations without events). So a caller whose after is older than
	// the log gets a first event with a Generation greater than after+1,
	// or none though RevocationState's Generation is greater than after:
	// it missed revocations and must find them some other way.
	RevocationEvents(ctx context.Context, ca string, after int64, limit int) ([]RevocationEvent, error)
	// PruneRevocationEvents deletes the CA's events with Generation up to
	// through, oldest first and at most MaxRevokedLimit of them in one call
	// (a long backlog goes over several calls, none holding a long write),
	// and returns how many it deleted. Events already gone, or a CA the
	// store does not hold, are not an error: replicas prune concurrently.
	PruneRevocationEvents(ctx context.Context, ca string, through int64) (int, error)

	// CountRevoked counts the CA's revoked certificates with NotAfter not
	// before since: the entries ListRevoked would return.
	CountRevoked(ctx context.Context, ca string, since time.Time) (int, error)
	// ListRevoked returns one page of the CA's revoked certificates with
	// NotAfter not before since (expired ones drop out, never unexpired
	// ones), ordered by NotAfter, then Serial (bytewise), starting after
	// the entry after (the zero value: from the start), at most limit
	// (capped at MaxRevokedLimit; limit < 1 is errs.Malformed). Paging is
	// by keyset on an index that covers the answer.
	ListRevoked(ctx context.Context, ca string, since time.Time, after RevokedEntry, limit int) ([]RevokedEntry, error)

	// CertificateStatus returns the status of the certificate with that
	// serial, whichever CA issued it, or errs.NotFound.
	CertificateStatus(ctx context.Context, serial string) (CertificateStatus, error)

	// InsertOCSPResponder records a responder certificate. A KeyURI that
	// is already recorded is errs.Conflict, an unknown CA errs.NotFound.
	InsertOCSPResponder(ctx context.Context, r OCSPResponder) error
	// LatestOCSPResponder returns the CA's responder with the latest
	// NotAfter (then the latest CreatedAt, then the greatest KeyURI), or
	// errs.NotFound if it has none.
	LatestOCSPResponder(ctx context.Context, ca string) (OCSPResponder, error)
	// ExpiredOCSPResponders returns the CA's responders whose NotAfter is
	// before before, oldest first (by NotAfter, then KeyURI), or none.
	ExpiredOCSPResponders(ctx context.Context, ca string, before time.Time) ([]OCSPResponder, error)
	// DeleteOCSPResponder forgets the responder with the key URI. One that
	// is not recorded is not an error: another replica may have deleted it.
	DeleteOCSPResponder(ctx context.Context, keyURI string) error
}
