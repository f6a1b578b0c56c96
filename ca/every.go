package ca

import (
	"context"
	"time"
)

// every calls fn at each tick of interval and at each receive from now (a
// nil channel: never), until ctx ends. The loops of the package that
// follow the store or the clock (Follow, FollowKEKs, the watches) run on
// it; those that act at once as well call fn before.
func every(ctx context.Context, interval time.Duration, now <-chan struct{}, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-now:
		}
		fn()
	}
}
