package storage

import (
	"context"
	"time"
)

// AuthFailureStore keeps the failed authentications that the throttles of
// EST passwords and SCEP challenges count (package
// protocols/internal/throttle), so that every replica sharing the store
// counts the same failures: N replicas behind a load balancer must not
// give a guesser N times the allowance.
type AuthFailureStore interface {
	// RecordAuthFailure records a failure of key (a client address, with
	// the profile it tried) in scope ("est", "scep") at at, and forgets
	// every failure of any key older than keepSince.
	RecordAuthFailure(ctx context.Context, scope, key string, at, keepSince time.Time) error
	// CountAuthFailures counts the failures of key in scope at or after
	// since.
	CountAuthFailures(ctx context.Context, scope, key string, since time.Time) (int, error)
}
