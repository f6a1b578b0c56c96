package certquery

import (
	"errors"

	"github.com/certgw/gateway/storage"
)

// CheckNotification is what both stores check of a notification to
// enqueue.
func CheckNotification(n storage.Notification) error {
	switch {
	case n.Target == "":
		return errors.New("notification without a target")
	case n.Event == "":
		return errors.New("notification without an event")
	case len(n.Body) == 0:
		return errors.New("notification without a body")
	}
	return nil
}
