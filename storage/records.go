package storage

import (
	"strings"
	"time"
)

// CA is a certification authority whose certificate the gateway holds. The
// key stays in the signer; KeyURI tells the signer where to find it.
type CA struct {
	Name    string // "root", "issuing"
	Parent  string // name of the issuing CA; "" for a root
	KeyURI  string // RFC 7512 pkcs11: URI, or a file path for the software signer
	CertDER []byte
	// Chain is set for a CA certified by a CA outside the gateway (an
	// offline root: cas[].external): the certificates above it, nearest
	// first, up to and including that root, DER one after the other (read
	// them with x509.ParseCertificates). Nil for the gateway's own CAs,
	// whose chain is their parents'.
	Chain     []byte
	CreatedAt time.Time
}

// UpstreamKeyPrefix starts the KeyURI of an upstream (an external ACME CA),
// stored as a CA without a certificate so that its certificates have a CA
// to name; the directory URL follows it.
const UpstreamKeyPrefix = "acme:"

// Upstream returns the directory URL of an upstream's row and true, or
// false for a CA of the gateway.
func (c CA) Upstream() (directory string, ok bool) {
	return strings.CutPrefix(c.KeyURI, UpstreamKeyPrefix)
}

// CertStatus is the life-cycle state of an issued certificate.
type CertStatus string

const (
	// StatusPending is a certificate recorded before the HSM signed it. A
	// pending row that never becomes active marks an issuance that failed
	// between persisting and signing.
	StatusPending CertStatus = "pending"
	// StatusActive is a signed certificate that has not been revoked.
	StatusActive CertStatus = "active"
	// StatusRevoked is a signed certificate that has been revoked.
	StatusRevoked CertStatus = "revoked"
)

// Certificate is one certificate issued by the gateway, keyed by serial.
type Certificate struct {
	Serial    string // lowercase hex, no separators
	CA        string // name of the issuing CA, or of the upstream (external ACME CA) that issued it
	Profile   string
	Method    string // "api", "acme", "est", "scep", "internal"
	Requester string
	Status    CertStatus
	SANs      []string // DNS names, IP addresses and e-mail addresses as text
	NotBefore time.Time
	NotAfter  time.Time
	DER       []byte // nil while pending
	CreatedAt time.Time
	RevokedAt time.Time // zero unless revoked
	// RevocationReason is the RFC 5280 section 5.3.1 CRLReason code; it is
	// meaningful only when Status is StatusRevoked.
	RevocationReason int
	// KeyPEM is a private key the gateway generated and holds for the
	// requester (sealed by the caller; opaque bytes to the store). nil when
	// the requester holds its own key.
	KeyPEM    []byte
	AutoRenew bool
	// RenewAt is when server-driven renewal should replace this certificate
	// (zero: never). Computed by the caller from the profile at issuance.
	RenewAt   time.Time
	Replaces  string // serial of the certificate this one renewed or re-issued; "" if none
	RenewedBy string // serial of the certificate that replaced this one; "" if none
	Subject   string // subject DN as text (RFC 4514), "" if empty
	// ACMEOrder is the ACME order this certificate finalizes, "" if none.
	// InsertPendingCertificate claims the order: it moves it
	// ready→processing in the transaction that stores the pending record,
	// or fails with ErrACMEOrderNotReady and stores nothing, so of
	// concurrent finalizations exactly one goes on to be signed. When the
	// certificate becomes active (CompleteIssuance or
	// ActivateCertificate), the store moves the order processing→valid
	// with this serial, again in the same transaction.
	ACMEOrder string
	// Chain is the PEM issuer chain (issuer first) of a certificate an
	// external ACME CA issued (CA names the upstream); nil for the
	// gateway's own CAs, whose chain the CA hierarchy holds. Stored by
	// InsertPendingCertificate.
	Chain []byte
}

// Token is a REST API bearer token. Only the SHA-256 hash of the secret is
// stored, so a copy of the database does not yield usable tokens.
type Token struct {
	ID     string
	Name   string
	Hash   []byte // SHA-256 of the secret; unique
	Scopes []string
	// Profiles, if any, are the only certificate profiles the token may
	// use; none means every profile.
	Profiles  []string
	CreatedAt time.Time
	// ExpiresAt, if set, is when the token stops working.
	ExpiresAt time.Time
}
