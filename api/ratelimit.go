package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/certgw/gateway/internal/ratelimit"
)

// Issuance rate limits (api.issuances_per_minute, see package
// ratelimit): each token (each OpenID Connect subject, each client
// certificate) may issue that many certificates a minute. Every issuing
// request counts (a first issuance, a renewal on request, a repeat
// polling for a held or asynchronous request), except an idempotent
// replay, which issues nothing. A request beyond it is a 429 with
// Retry-After.

// limitIssuance answers 429 to a requester past api.issuances_per_minute.
func (a *API) limitIssuance(next http.Handler) http.Handler {
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := requester(r)
		var ex *ratelimit.Exceeded
		if err := a.limiter.Take(who, a.now()); errors.As(err, &ex) {
			w.Header().Set("Retry-After", strconv.Itoa(ex.RetryAfter))
			a.log.Info("issuance rate limited", "requester", who, "retry_after", ex.RetryAfter)
			writeProblem(w, Problem{Type: problemTypePrefix + "rateLimited", Title: "Too many issuances", Status: http.StatusTooManyRequests,
				Detail: ex.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}
