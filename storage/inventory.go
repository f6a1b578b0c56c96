package storage

import "time"

// CertificateFilter selects certificates for ListCertificates. Zero fields
// do not filter; the set ones combine with AND.
type CertificateFilter struct {
	Profile string // exact; "" = any
	CA      string // exact; "" = any
	// Status: "" (any), "pending", "active" (status active AND not_after >
	// Now), "expired" (status active AND not_after <= Now), "revoked".
	// Anything else is errs.Malformed.
	Status string
	Now    time.Time // required when Status is active or expired
	// SAN is a case-insensitive substring of any one SAN. Case is folded
	// for ASCII letters only, as DNS does (RFC 4343 section 3); SANs are
	// IA5String (RFC 5280 section 4.2.1.6), so nothing else needs folding.
	// LIKE wildcards (% and _) in SAN are literal characters.
	SAN string
	// Subject is a substring of the subject as RFC 4514 text
	// ("SERIALNUMBER=SN-7,CN=dev1,O=Example Corp"), case-sensitive (the
	// attribute values are any Unicode), so a search can name an
	// attribute: "SERIALNUMBER=SN-7", "O=Example Corp".
	Subject        string
	Serial         string    // exact serial
	Requester      string    // exact requester (a token's name, an ACME account, basic:USER...)
	Method         string    // exact enrollment method (acme, est, scep, api)
	ExpiringBefore time.Time // not_after < ExpiringBefore (zero = no bound)
	Limit          int       // see EffectiveLimit
	Cursor         string    // opaque, from the previous page; "" = first page
}

const (
	// DefaultCertificateLimit is the page size of ListCertificates when the
	// filter does not say.
	DefaultCertificateLimit = 50
	// MaxCertificateLimit bounds one page of ListCertificates (and one
	// answer of DueForRenewal and PendingCertificates), so that a single
	// request cannot read the whole inventory into memory.
	MaxCertificateLimit = 500
)

// EffectiveLimit is the page size a store uses for f:
// DefaultCertificateLimit when f.Limit is zero or negative,
// MaxCertificateLimit when it is larger than that, f.Limit otherwise.
func (f CertificateFilter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultCertificateLimit
	case f.Limit > MaxCertificateLimit:
		return MaxCertificateLimit
	default:
		return f.Limit
	}
}
