package storage

import (
	"context"
	"time"
)

// TidyStore forgets records that have outlived their use (ca.Core.Tidy,
// configuration storage.tidy). Each call deletes at most limit of them,
// oldest first, with the rows that belong to them, in one commit, and
// returns how many it deleted; a caller repeats it until fewer come back,
// so that no call holds the store's writes for long. limit < 1 is
// errs.Malformed.
type TidyStore interface {
	// TidyACMEOrders deletes the ACME orders that expired before before
	// (an order expires acme.order_lifetime after it was created, whatever
	// became of it), with their authorizations and challenges.
	TidyACMEOrders(ctx context.Context, before time.Time, limit int) (int, error)
	// TidyCertificates deletes the certificates that expired (NotAfter)
	// before before, revoked or not, with any key the gateway held for
	// them; pending ones are left to the reconcile step. The audit trail
	// keeps their DER.
	TidyCertificates(ctx context.Context, before time.Time, limit int) (int, error)
	// TidyRequests deletes the enrollment requests decided (issued,
	// rejected, failed, expired) before before.
	TidyRequests(ctx context.Context, before time.Time, limit int) (int, error)
	// TidyNotifications deletes the notifications given up before before,
	// at most limit of them, and returns how many it deleted.
	TidyNotifications(ctx context.Context, before time.Time, limit int) (int, error)
}
