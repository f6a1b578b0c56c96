package textanswer

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certgw/gateway/errs"
)

func TestFail(t *testing.T) {
	expired := errs.Publicf(errs.Unavailable, "CA issuing cannot issue: its certificate expired at 2026-01-01T00:00:00Z")
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		body       string
	}{
		{"client mistake", errs.New(errs.Malformed, "body is not base64"), http.StatusBadRequest, "", "body is not base64"},
		{"oversized", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge, "", "read: http: request body too large"},
		{"fault of ours", errs.Wrap(errs.Internal, errors.New("open /var/lib/x"), "store"), http.StatusInternalServerError, "",
			"the gateway failed to process the request; the operator can find the cause in its log"},
		// A dependency that may come back: the device retries in 30 s, and
		// learns nothing of the dependency.
		{"unavailable", errs.Wrap(errs.Unavailable, errors.New("dial db.internal:5432"), "store"), http.StatusServiceUnavailable, "30",
			"a dependency of the gateway is unavailable; retry later"},
		// A CA that has expired stays so until an operator renews it: the
		// reason, and no timer to retry on.
		{"expired CA", fmt.Errorf("issue: %w", expired), http.StatusServiceUnavailable, "",
			"CA issuing cannot issue: its certificate expired at 2026-01-01T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Fail(w, httptest.NewRequest(http.MethodPost, "/.well-known/est/simpleenroll", nil), slog.New(slog.DiscardHandler), "EST", tc.err)
			if w.Code != tc.status || w.Header().Get("Retry-After") != tc.retryAfter || strings.TrimSpace(w.Body.String()) != tc.body {
				t.Errorf("got %d Retry-After %q %q, want %d %q %q", w.Code, w.Header().Get("Retry-After"), w.Body.String(), tc.status, tc.retryAfter, tc.body)
			}
			if strings.Contains(w.Body.String(), "db.internal") || strings.Contains(w.Body.String(), "/var/lib") {
				t.Errorf("the answer leaks a cause: %q", w.Body.String())
			}
		})
	}
}
