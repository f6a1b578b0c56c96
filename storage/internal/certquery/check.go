package certquery

import (
	"fmt"

	"github.com/certgw/gateway/storage"
)

// Values of CertificateFilter.Status.
const (
	StatusAny     = ""
	StatusPending = string(storage.StatusPending)
	StatusActive  = string(storage.StatusActive)
	StatusExpired = "expired"
	StatusRevoked = string(storage.StatusRevoked)
)

// CheckFilter reports what is wrong with f before any query runs. Stores
// return its error as errs.Malformed.
func CheckFilter(f storage.CertificateFilter) error {
	switch f.Status {
	case StatusAny, StatusPending, StatusRevoked:
	case StatusActive, StatusExpired:
		if f.Now.IsZero() {
			return fmt.Errorf("status %q needs the current time (Now)", f.Status)
		}
	default:
		return fmt.Errorf("unknown status %q (want pending, active, expired or revoked)", f.Status)
	}
	return nil
}

// CheckLimit returns the number of rows DueForRenewal and
// PendingCertificates read at most for limit: limit itself, capped at
// storage.MaxCertificateLimit. A limit below 1 is an error (a caller's bug:
// asking for nothing).
func CheckLimit(limit int) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("limit %d: must be at least 1", limit)
	}
	return min(limit, storage.MaxCertificateLimit), nil
}

// CheckOnHold reports why a certificate with this status and revocation
// reason cannot be released from hold (ReleaseHold), or nil if it can.
func CheckOnHold(serial string, status storage.CertStatus, reason int) error {
	switch {
	case status != storage.StatusRevoked:
		return fmt.Errorf("certificate %s is %s, not on hold", serial, status)
	case reason != storage.ReasonCertificateHold:
		return fmt.Errorf("certificate %s is revoked for good (reason %d), not on hold (certificateHold)", serial, reason)
	}
	return nil
}

// CheckRenewal reports what is wrong with the arguments of MarkRenewed.
func CheckRenewal(oldSerial, newSerial string) error {
	switch {
	case !IsSerial(newSerial):
		return fmt.Errorf("serial %q of the new certificate is not lowercase hex", newSerial)
	case newSerial == oldSerial:
		return fmt.Errorf("certificate %s cannot renew itself", oldSerial)
	}
	return nil
}
