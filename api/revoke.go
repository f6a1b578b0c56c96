package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// reasonCodes are the CRLReason names and codes of RFC 5280 section
// 5.3.1. Code 7 is not assigned.
var reasonCodes = []struct {
	name string
	code int
}{
	{"unspecified", 0},
	{"keyCompromise", 1},
	{"cACompromise", 2},
	{"affiliationChanged", 3},
	{"superseded", 4},
	{"cessationOfOperation", 5},
	{"certificateHold", 6},
	{"removeFromCRL", 8},
	{"privilegeWithdrawn", 9},
	{"aACompromise", 10},
}

// ReasonCode reads an RFC 5280 CRLReason name (as the REST API and
// `gateway ca revoke` take it); empty is unspecified. The names are
// matched exactly, as RFC 5280 spells them.
func ReasonCode(name string) (int, error) {
	if name == "" {
		return 0, nil
	}
	var names []string
	for _, r := range reasonCodes {
		if r.code == storage.ReasonRemoveFromCRL {
			if r.name == name {
				return 0, errs.New(errs.Malformed, "field \"reason\": removeFromCRL is not a reason to revoke; RFC 5280 5.3.1 reserves it for delta CRLs")
			}
			continue
		}
		if r.name == name {
			return r.code, nil
		}
		names = append(names, r.name)
	}
	return 0, errs.New(errs.Malformed, "field \"reason\": %q is not an RFC 5280 CRLReason (one of: %s)", name, strings.Join(names, ", "))
}

// ReasonName names a reason code as RFC 5280 spells it, or shows an
// unknown one as a number.
func ReasonName(code int) string {
	for _, r := range reasonCodes {
		if r.code == code {
			return r.name
		}
	}
	return fmt.Sprintf("reason%d", code)
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

// revoke revokes a certificate: POST /certificates/{serial}/revoke with an
// optional {"reason": name}. It answers the revoked certificate. Revoking a
// revoked certificate is a 409 that leaves the first revocation as it was.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var req revokeRequest
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	code, err := ReasonCode(req.Reason)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.changeStatus(w, r, serial, notRevocable, func(ctx context.Context) error {
		return a.core.Revoke(ctx, serial, code, requester(r))
	})
}

// notRevocable says why c cannot be revoked, or returns nil.
func notRevocable(c storage.Certificate) error {
	switch c.Status {
	case storage.StatusRevoked:
		return errs.New(errs.Conflict, "certificate %s is already revoked (at %s, reason %s)",
			c.Serial, c.RevokedAt.UTC().Format(timeFormat), ReasonName(c.RevocationReason))
	case storage.StatusPending:
		return errs.New(errs.Conflict, "certificate %s is pending: it was never signed, so there is nothing to revoke", c.Serial)
	}
	return nil
}

// releaseHold makes a certificate on hold active again: POST
// /certificates/{serial}/release-hold, with no body. It answers the
// certificate. One that is not on hold is a 409 that says what it is.
func (a *API) releaseHold(w http.ResponseWriter, r *http.Request) {
	serial, err := serialParam(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var req struct{}
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	a.changeStatus(w, r, serial, notOnHold, func(ctx context.Context) error {
		return a.core.ReleaseHold(ctx, serial, requester(r))
	})
}

// changeStatus answers a request that revokes a certificate or releases
// it: it looks at the certificate first, so that a refusal says precisely
// why (refuse), then has change do it; when another request changed the
// certificate since the look (the store refuses the second of two), it
// says what the certificate is now. It answers the certificate.
func (a *API) changeStatus(w http.ResponseWriter, r *http.Request, serial string, refuse func(storage.Certificate) error, change func(context.Context) error) {
	ctx := r.Context()
	cur, err := a.store.GetCertificate(ctx, serial)
	if err == nil {
		err = sees(r, cur)
	}
	if err != nil {
		a.problem(w, r, certError(serial, err))
		return
	}
	if err := refuse(cur); err != nil {
		a.problem(w, r, err)
		return
	}
	if err := change(ctx); err != nil {
		if errs.Is(err, errs.Conflict) {
			if now, gerr := a.store.GetCertificate(ctx, serial); gerr == nil && refuse(now) != nil {
				err = refuse(now)
			}
		}
		a.problem(w, r, err)
		return
	}
	c, err := a.store.GetCertificate(ctx, serial)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, certificateJSON(c, a.now()))
}

// notOnHold says why c cannot be released from hold, or nil if it can.
func notOnHold(c storage.Certificate) error {
	switch {
	case c.Status != storage.StatusRevoked:
		return errs.New(errs.Conflict, "certificate %s is %s, not on hold", c.Serial, c.Status)
	case c.RevocationReason != storage.ReasonCertificateHold:
		return errs.New(errs.Conflict, "certificate %s is revoked for good (reason %s); only certificateHold can be released", c.Serial, ReasonName(c.RevocationReason))
	}
	return nil
}
