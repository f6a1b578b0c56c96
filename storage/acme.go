package storage

import (
	"context"
	"errors"
	"time"
)

// ErrACMEOrderNotReady is in the error (of kind errs.Conflict) of an
// InsertPendingCertificate whose Certificate.ACMEOrder is not ready: it
// is being or has been finalized, or it failed. Test with errors.Is.
var ErrACMEOrderNotReady = errors.New("the ACME order is not ready")

// ACME state (RFC 8555): nonces, accounts, External Account Binding keys,
// orders, authorizations and challenges. All of it lives in the store so
// that several gateway replicas behind one address serve one client.
//
// IDs are chosen by the caller (random, URL-safe). Objects move between
// statuses only through compare-and-set methods (the Set...Status ones):
// the store is the arbiter when two replicas or two requests race, for
// example two finalize calls on one order.

// ACME account statuses (RFC 8555 section 7.1.6).
const (
	ACMEValid       = "valid"
	ACMEPending     = "pending"
	ACMEReady       = "ready"
	ACMEProcessing  = "processing"
	ACMEInvalid     = "invalid"
	ACMEDeactivated = "deactivated"
	ACMERevoked     = "revoked"
)

// ACMEAccount is an ACME account of one profile's directory.
type ACMEAccount struct {
	ID      string
	Profile string
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of the key,
	// base64url; unique within a profile.
	Thumbprint  string
	JWK         []byte // the public key as a JSON Web Key
	Status      string // valid | deactivated | revoked
	Contact     []string
	TermsAgreed bool
	EABKeyID    string // the External Account Binding key that created it, or ""
	CreatedAt   time.Time
}

// ACMEEABKey is an External Account Binding key (RFC 8555 section 7.3.4):
// a key ID and MAC key handed out of band. It can create one account.
type ACMEEABKey struct {
	KeyID     string
	Profile   string
	HMACKey   []byte
	CreatedAt time.Time
	AccountID string // the account it created, "" while unused
	// Names, if set, are the only identifiers the account it creates may
	// order, in the rules of a profile's names: a DNS name, a .suffix, or
	// an IP range (CIDR); nil is whatever the profile allows.
	Names []string
}

// ACMEIdentifier is an RFC 8555 identifier (type dns or ip).
type ACMEIdentifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ACMEOrder is an order; its authorizations belong to it alone.
type ACMEOrder struct {
	ID          string
	AccountID   string
	Profile     string
	Status      string // pending | ready | processing | valid | invalid
	Identifiers []ACMEIdentifier
	Expires     time.Time
	Error       []byte // a problem document (JSON) when invalid
	CertSerial  string // set when valid
	Replaces    string // RFC 9773 certificate ID this order replaces, or ""
	CreatedAt   time.Time
}

// ACMEAuthz is an authorization of one identifier for one order.
type ACMEAuthz struct {
	ID         string
	OrderID    string
	AccountID  string
	Position   int            // index in the order's list of authorizations
	Identifier ACMEIdentifier // value without "*." for a wildcard
	Wildcard   bool
	Status     string // pending | valid | invalid | deactivated | expired | revoked
	Expires    time.Time
	Challenges []ACMEChallenge
}

// ACMEChallenge is one challenge of an authorization.
type ACMEChallenge struct {
	ID        string
	AuthzID   string
	Type      string // http-01 | dns-01 | tls-alpn-01
	Token     string
	Status    string // pending | processing | valid | invalid
	Validated time.Time
	Error     []byte // a problem document (JSON) when invalid
}

// ACMEStore keeps the ACME server's state. Both stores implement it; it is
// meant to be embedded into Store. storagetest.RunACME pins it down.
type ACMEStore interface {
	// InsertACMENonce stores a nonce valid until expires.
	InsertACMENonce(ctx context.Context, nonce string, expires time.Time) error
	// ConsumeACMENonce deletes the nonce and reports whether it existed and
	// was unexpired at now. Of concurrent callers with one nonce at most
	// one gets true. It also drops some expired nonces.
	ConsumeACMENonce(ctx context.Context, nonce string, now time.Time) (bool, error)

	// InsertACMEAccount stores a new account. It returns errs.Conflict if
	// the profile has an account with that key thumbprint. If a.EABKeyID is
	// set, the EAB key is bound to the account in the same transaction:
	// errs.NotFound if the key does not exist in a.Profile, errs.Conflict
	// if it already created an account (nothing is stored then).
	InsertACMEAccount(ctx context.Context, a ACMEAccount) error
	// GetACMEAccount returns the account or errs.NotFound.
	GetACMEAccount(ctx context.Context, id string) (ACMEAccount, error)
	// ACMEAccountByThumbprint returns the profile's account with that key
	// or errs.NotFound.
	ACMEAccountByThumbprint(ctx context.Context, profile, thumbprint string) (ACMEAccount, error)
	// UpdateACMEAccount replaces Status, Contact, Thumbprint and JWK. It
	// returns errs.NotFound for an unknown ID and errs.Conflict if the new
	// thumbprint belongs to another account of the profile.
	UpdateACMEAccount(ctx context.Context, a ACMEAccount) error

	// InsertACMEEABKey stores an EAB key and appends audit to the trail in
	// the same commit; errs.Conflict on a duplicate ID, and then nothing is
	// appended.
	InsertACMEEABKey(ctx context.Context, k ACMEEABKey, audit AuditEvent) error
	// GetACMEEABKey returns the key or errs.NotFound.
	GetACMEEABKey(ctx context.Context, keyID string) (ACMEEABKey, error)

	// InsertACMEOrder stores an order with its authorizations and their
	// challenges in one transaction.
	InsertACMEOrder(ctx context.Context, o ACMEOrder, authzs []ACMEAuthz) error
	// GetACMEOrder returns the order or errs.NotFound.
	GetACMEOrder(ctx context.Context, id string) (ACMEOrder, error)
	// CountACMEOrders counts the orders an account created at or after
	// since (the new-order rate limit).
	CountACMEOrders(ctx context.Context, accountID string, since time.Time) (int, error)
	// CountIssuedACMEOrders counts the orders of profile, of any account,
	// for exactly the set of identifiers ids (in any order) created at or
	// after since that got their certificate (valid), and returns the
	// creation time of the oldest of them (the duplicate-certificate
	// limit).
	CountIssuedACMEOrders(ctx context.Context, profile string, ids []ACMEIdentifier, since time.Time) (n int, oldest time.Time, err error)
	// CountFailedACMEValidations counts the challenges of the account's
	// authorizations for id (a wildcard's by its base name) that failed
	// validation at or after since, and returns when the oldest of them
	// failed (the failed-validation limit).
	CountFailedACMEValidations(ctx context.Context, accountID string, id ACMEIdentifier, since time.Time) (n int, oldest time.Time, err error)
	// ListACMEOrders returns the IDs of an account's orders that are not
	// invalid (stored so, or pending or ready with expires at or before
	// now), newest first, at most limit: from the newest if after is
	// empty, else from the one after the account's order after (none if
	// the account has no such order).
	ListACMEOrders(ctx context.Context, accountID, after string, now time.Time, limit int) ([]string, error)
	// SetACMEOrderStatus moves an order from status from to to, setting
	// Error and CertSerial from o when they are non-empty. It returns false
	// (and changes nothing) if the order is not in status from; of
	// concurrent callers with the same from exactly one gets true. Unknown
	// ID: errs.NotFound.
	SetACMEOrderStatus(ctx context.Context, id, from, to string, errDoc []byte, certSerial string) (bool, error)
	// ClaimACMEOrder moves an order ready→processing, as SetACMEOrderStatus
	// does, and records now as the start of its background issuance (see
	// StaleACMEOrders).
	ClaimACMEOrder(ctx context.Context, id string, now time.Time) (bool, error)
	// StaleACMEOrders returns the IDs of up to limit orders processing
	// since before before, oldest first: issuances whose replica stopped
	// before it could record an outcome. An order claimed by a
	// certificate's pending record (Certificate.ACMEOrder) has no start
	// and is never listed: the reconcile step finishes it.
	StaleACMEOrders(ctx context.Context, before time.Time, limit int) ([]string, error)

	// GetACMEAuthz returns the authorization with its challenges (in the
	// order stored) or errs.NotFound.
	GetACMEAuthz(ctx context.Context, id string) (ACMEAuthz, error)
	// ACMEOrderAuthzs returns an order's authorizations with their
	// challenges, by Position.
	ACMEOrderAuthzs(ctx context.Context, orderID string) ([]ACMEAuthz, error)
	// SetACMEAuthzStatus is the compare-and-set of SetACMEOrderStatus for an
	// authorization.
	SetACMEAuthzStatus(ctx context.Context, id, from, to string) (bool, error)

	// GetACMEChallenge returns the challenge or errs.NotFound.
	GetACMEChallenge(ctx context.Context, id string) (ACMEChallenge, error)
	// SetACMEChallengeStatus is the compare-and-set for a challenge; it
	// also sets Validated (if non-zero) and Error (if non-empty).
	SetACMEChallengeStatus(ctx context.Context, id, from, to string, validated time.Time, errDoc []byte) (bool, error)

	// StartACMEValidation moves a challenge pending→processing, as
	// SetACMEChallengeStatus does, and records at as the start of its
	// validation (see StaleACMEChallenges).
	StartACMEValidation(ctx context.Context, id string, at time.Time) (bool, error)
	// StaleACMEChallenges returns up to limit challenges processing since
	// before before (or since an unknown time), with their authorization
	// and order: validations whose replica stopped before it could record
	// an outcome.
	StaleACMEChallenges(ctx context.Context, before time.Time, limit int) ([]ACMEChallengeRef, error)

	// RecordACMEValidation records the outcome of a challenge validation
	// in one transaction. It moves the challenge pending|processing→valid
	// (or invalid, setting Validated and, if non-empty, Error from
	// problem); if the challenge was in any other state it changes nothing
	// and returns false. Otherwise it moves the authorization
	// pending→valid|invalid and then the order: pending→invalid on
	// failure; pending→ready on success when every authorization of the
	// order is valid. Each move is a compare-and-set as in the
	// Set...Status methods. orderReady reports whether this call moved the
	// order to ready (of concurrent callers at most one does). Unknown
	// challenge ID: errs.NotFound.
	RecordACMEValidation(ctx context.Context, challengeID, authzID, orderID string, valid bool, validated time.Time, problem []byte) (orderReady bool, err error)
}

// ACMEChallengeRef names a challenge with its authorization and order.
type ACMEChallengeRef struct {
	ChallengeID, AuthzID, OrderID string
}

// NamesOf is the "type:value" form of identifiers, as the stores key an
// order's set of names (CountIssuedACMEOrders).
func NamesOf(ids []ACMEIdentifier) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Type + ":" + id.Value
	}
	return out
}
