// Package textanswer writes errors the way EST does (RFC 7030 section
// 4.2.3): an HTTP status and a line of plain text. SCEP answers the same
// way what it cannot answer with a CertRep.
package textanswer

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
)

// Fail writes err and logs it under protocol ("EST", "SCEP"). It maps an
// errs.Kind to the status: a client's mistake names the problem; a fault
// of ours is a 500, or a 503 with Retry-After, whose cause goes only to
// the log; a requester past its issuance rate limit (ratelimit.Exceeded)
// is a 429 with Retry-After; a public error (errs.Publicf) shows its
// message, and its 503 carries no Retry-After. A 401 carries no challenge here: a protocol that has one sets
// WWW-Authenticate before it calls Fail.
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, protocol string, err error) {
	kind := errs.KindOf(err)
	var status int
	msg := err.Error()
	var tooLarge *http.MaxBytesError
	var limited *ratelimit.Exceeded
	switch {
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.As(err, &limited):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(limited.RetryAfter))
	case kind == errs.Malformed, kind == errs.BadCSR, kind == errs.RejectedIdentifier:
		status = http.StatusBadRequest
	case kind == errs.Unauthorized:
		status = http.StatusUnauthorized
	case kind == errs.Forbidden:
		status = http.StatusForbidden
	case kind == errs.NotFound:
		status = http.StatusNotFound
	case kind == errs.Conflict:
		status = http.StatusConflict
	case kind == errs.Unavailable:
		status = http.StatusServiceUnavailable
		msg = "a dependency of the gateway is unavailable; retry later"
	default: // Internal, Config: to a client both are our fault, nothing more.
		status = http.StatusInternalServerError
		msg = "the gateway failed to process the request; the operator can find the cause in its log"
	}
	public, isPublic := errs.PublicMessage(err)
	if isPublic {
		msg = public
	}
	// RFC 7030 section 4.2.3: a 503 may say when to retry. A public reason
	// (a CA that has expired or was revoked) lasts until an operator acts,
	// so it promises no time: a device would retry on that timer forever.
	if status == http.StatusServiceUnavailable && !isPublic {
		w.Header().Set("Retry-After", "30")
	}
	if status < 500 {
		// Info, not Debug as in the REST API: a device cannot show its
		// operator why it was refused, so the gateway's log is where the
		// reason is found (and failed logins are worth seeing anyway).
		log.LogAttrs(r.Context(), slog.LevelInfo, protocol+" request refused", slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.String("reason", msg))
	} else {
		log.LogAttrs(r.Context(), slog.LevelError, protocol+" request failed", slog.String("path", r.URL.Path),
			slog.String("kind", kind.String()), slog.Any("err", err))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}
