package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/certgw/gateway/errs"
)

// problemTypePrefix starts the type URI of every problem document; the
// errs.Kind name ends it ("urn:certgw:problem:rejectedIdentifier"). The
// URIs identify a kind of problem (RFC 9457 section 3.1.1) and are stable,
// but they are not links: there is nothing to fetch.
const problemTypePrefix = "urn:certgw:problem:"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// problem writes err as a problem document. It is the one place where an
// error of this package becomes an HTTP status: the kind decides the status
// and whether the message may be shown. The messages of Internal, Config
// and Unavailable errors can name files, hosts or lint findings; they are
// logged at Error, and the client gets a generic detail, or the message
// of a public error in the chain (errs.Publicf: a CA that has expired or
// was revoked).
func (a *API) problem(w http.ResponseWriter, r *http.Request, err error) {
	kind := errs.KindOf(err)
	logKind := kind
	var status int
	var title, detail string
	switch kind {
	case errs.Malformed:
		status, title = http.StatusBadRequest, "Malformed request"
	case errs.BadCSR:
		status, title = http.StatusBadRequest, "Bad certificate request"
	case errs.RejectedIdentifier:
		status, title = http.StatusBadRequest, "Identifier rejected by the profile"
	case errs.Unauthorized:
		status, title = http.StatusUnauthorized, "Unauthorized"
	case errs.Forbidden:
		status, title = http.StatusForbidden, "Forbidden"
	case errs.NotFound:
		status, title = http.StatusNotFound, "Not found"
	case errs.Conflict:
		status, title = http.StatusConflict, "Conflict"
	case errs.Unavailable:
		status, title = http.StatusServiceUnavailable, "Service unavailable"
		detail = "a dependency of the gateway is unavailable; retry later"
	default: // Internal, Config: to a client both are our fault, nothing more.
		kind = errs.Internal
		status, title = http.StatusInternalServerError, "Internal error"
		detail = "the gateway failed to process the request; the operator can find the cause in its log"
	}
	if msg, ok := errs.PublicMessage(err); ok {
		detail = msg
	}
	if errs.ClientFault(err) {
		// A client's mistake is explained in full: the message names the
		// field, rule and value (and wraps, at most, a parser's reason).
		detail = err.Error()
		// The server logs every request with its status; the reason is
		// detail for debugging (issuance decisions log at Info in issue).
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "request refused",
			slog.String("path", r.URL.Path), slog.String("kind", kind.String()), slog.String("detail", detail))
	} else {
		a.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("kind", logKind.String()), slog.Any("err", err))
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		// RFC 9110 section 15.5.2: a 401 carries a challenge.
		w.Header().Set("WWW-Authenticate", `Bearer realm="gateway"`)
	}
	writeProblem(w, Problem{Type: problemTypePrefix + kind.String(), Title: title, Status: status, Detail: detail})
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
