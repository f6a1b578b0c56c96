package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/certgw/gateway/errs"
)

// RFC 8555 section 6.7 error types (and RFC 8555 section 7.3.4, RFC 8737,
// RFC 9773 section 7.4, draft-ietf-acme-profiles section 5).
const (
	errNS                   = "urn:ietf:params:acme:error:"
	probAccountDoesNotExist = errNS + "accountDoesNotExist"
	probAlreadyReplaced     = errNS + "alreadyReplaced"
	probAlreadyRevoked      = errNS + "alreadyRevoked"
	probBadCSR              = errNS + "badCSR"
	probBadNonce            = errNS + "badNonce"
	probBadPublicKey        = errNS + "badPublicKey"
	probBadRevocationReason = errNS + "badRevocationReason"
	probBadSignatureAlg     = errNS + "badSignatureAlgorithm"
	probCAA                 = errNS + "caa"
	probConnection          = errNS + "connection"
	probDNS                 = errNS + "dns"
	probExternalAccountReq  = errNS + "externalAccountRequired"
	probIncorrectResponse   = errNS + "incorrectResponse"
	probInvalidContact      = errNS + "invalidContact"
	probInvalidProfile      = errNS + "invalidProfile"
	probMalformed           = errNS + "malformed"
	probOrderNotReady       = errNS + "orderNotReady"
	probRateLimited         = errNS + "rateLimited"
	probRejectedIdentifier  = errNS + "rejectedIdentifier"
	probServerInternal      = errNS + "serverInternal"
	probTLS                 = errNS + "tls"
	probUnauthorized        = errNS + "unauthorized"
	probUnsupportedContact  = errNS + "unsupportedContact"
	probUnsupportedIdent    = errNS + "unsupportedIdentifier"
)

// allowedAlgs are the JWS algorithms accepted, as Boulder does.
var allowedAlgs = []string{"ES256", "ES384", "RS256", "EdDSA"}

// Problem is an RFC 8555 section 6.7 problem document (RFC 7807).
type Problem struct {
	Type       string   `json:"type"`
	Detail     string   `json:"detail,omitempty"`
	Status     int      `json:"status,omitempty"`
	Algorithms []string `json:"algorithms,omitempty"`
}

// probError is an error that is already an ACME problem: the protocol's own
// failures (badNonce, orderNotReady...) that no errs.Kind names.
type probError struct {
	Problem
	err error
	// retryAfter, if set, goes into a Retry-After header (RFC 8555
	// section 6.6 for rateLimited).
	retryAfter time.Duration
}

func (e *probError) Error() string {
	if e.err != nil {
		return e.Detail + ": " + e.err.Error()
	}
	return e.Detail
}
func (e *probError) Unwrap() error { return e.err }

func prob(typ string, status int, format string, args ...any) *probError {
	return &probError{Problem: Problem{Type: typ, Status: status, Detail: fmt.Sprintf(format, args...)}}
}

func malformed(format string, args ...any) *probError {
	return prob(probMalformed, http.StatusBadRequest, format, args...)
}

func unauthorized(format string, args ...any) *probError {
	return prob(probUnauthorized, http.StatusForbidden, format, args...)
}

// probNotFound is the answer for an object that does not exist or that
// belongs to another account: the two are indistinguishable on purpose.
func probNotFound(detail string) *probError {
	return prob(probMalformed, http.StatusNotFound, "%s", detail)
}

// toProblem is the one place an error becomes a problem document. A
// probError is shown as is; an errs.Error by its kind (with its message
// only if it is the client's fault); anything else is serverInternal.
func toProblem(err error) (Problem, bool) {
	var pe *probError
	if errors.As(err, &pe) {
		return pe.Problem, pe.Status < 500
	}
	kind := errs.KindOf(err)
	p := Problem{Detail: err.Error()}
	switch kind {
	case errs.Malformed:
		p.Type, p.Status = probMalformed, http.StatusBadRequest
	case errs.BadCSR:
		p.Type, p.Status = probBadCSR, http.StatusBadRequest
	case errs.RejectedIdentifier:
		p.Type, p.Status = probRejectedIdentifier, http.StatusBadRequest
	case errs.Unauthorized, errs.Forbidden:
		p.Type, p.Status = probUnauthorized, http.StatusForbidden
	case errs.NotFound:
		p.Type, p.Status = probMalformed, http.StatusNotFound
	case errs.Conflict:
		p.Type, p.Status = probMalformed, http.StatusConflict
	case errs.Unavailable:
		p.Type, p.Status, p.Detail = probServerInternal, http.StatusServiceUnavailable, "a dependency of the gateway is unavailable; retry later"
	default:
		p.Type, p.Status, p.Detail = probServerInternal, http.StatusInternalServerError,
			"the gateway failed to process the request; the operator can find the cause in its log"
	}
	if msg, ok := errs.PublicMessage(err); ok {
		p.Detail = msg
	}
	return p, errs.ClientFault(err)
}

func (p Problem) json() []byte {
	b, _ := json.Marshal(p)
	return b
}

// writeError answers err as a problem document and logs it: a client's
// mistake at Debug, our fault at Error.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, client := toProblem(err)
	if client {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "acme request refused",
			slog.String("path", r.URL.Path), slog.String("type", p.Type), slog.String("detail", p.Detail))
	} else {
		s.log.LogAttrs(r.Context(), slog.LevelError, "acme request failed",
			slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if pe := (*probError)(nil); errors.As(err, &pe) && pe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((pe.retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(p.Status)
	w.Write(p.json())
}
