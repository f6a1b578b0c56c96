package api

import (
	"encoding/pem"
	"time"

	"github.com/certgw/gateway/storage"
)

// timeFormat is how times appear in messages; in JSON, time.Time writes
// the same RFC 3339 form.
const timeFormat = time.RFC3339Nano

// Status names of a certificate as the API shows it. Expired is not a
// stored state: it is an active certificate whose notAfter has passed at
// the API's clock, as the store's "expired" filter selects it.
const (
	statusActive  = string(storage.StatusActive)
	statusExpired = "expired"
	statusRevoked = string(storage.StatusRevoked)
	statusPending = string(storage.StatusPending)
)

// Certificate is a certificate of the inventory as the API shows it. It
// never carries the key: key_held says whether the gateway has one.
type Certificate struct {
	Serial    string    `json:"serial"`
	CA        string    `json:"ca"`
	Profile   string    `json:"profile"`
	Method    string    `json:"method"`
	Requester string    `json:"requester"`
	Status    string    `json:"status"`
	SANs      []string  `json:"sans"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt and RevocationReason (an RFC 5280 section 5.3.1 name) are
	// null unless the certificate is revoked.
	RevokedAt        *time.Time `json:"revoked_at"`
	RevocationReason *string    `json:"revocation_reason"`
	AutoRenew        bool       `json:"auto_renew"`
	KeyHeld          bool       `json:"key_held"`
	// Replaces and RenewedBy link renewals; null when there is none.
	Replaces  *string `json:"replaces"`
	RenewedBy *string `json:"renewed_by"`
}

// certificateJSON shows c as seen at now.
func certificateJSON(c storage.Certificate, now time.Time) Certificate {
	out := Certificate{
		Serial: c.Serial, CA: c.CA, Profile: c.Profile, Method: c.Method, Requester: c.Requester,
		Status: StatusAt(c, now), SANs: c.SANs, Subject: c.Subject,
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), CreatedAt: c.CreatedAt.UTC(),
		AutoRenew: c.AutoRenew, KeyHeld: c.KeyPEM != nil,
		Replaces: optional(c.Replaces), RenewedBy: optional(c.RenewedBy),
	}
	if out.SANs == nil {
		out.SANs = []string{}
	}
	if c.Status == storage.StatusRevoked {
		at := c.RevokedAt.UTC()
		out.RevokedAt = &at
		out.RevocationReason = optional(ReasonName(c.RevocationReason))
	}
	return out
}

// StatusAt is the status of c at now as the inventory shows it: active,
// expired, revoked or pending.
func StatusAt(c storage.Certificate, now time.Time) string {
	if c.Status == storage.StatusActive && !c.NotAfter.After(now) {
		return statusExpired
	}
	return string(c.Status)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pemCertificate encodes one DER certificate as PEM.
func pemCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
