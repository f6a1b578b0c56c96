package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
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

// defaultBulkLimit is the most certificates a bulk revocation revokes
// unless it says otherwise.
const defaultBulkLimit = 1000

// bulkRevokeRequest is the body of POST /certificates/revoke: the
// inventory's filters, the reason, and the guards.
type bulkRevokeRequest struct {
	Profile        string     `json:"profile"`
	CA             string     `json:"ca"`
	Requester      string     `json:"requester"`
	Method         string     `json:"method"`
	SAN            string     `json:"san"`
	Subject        string     `json:"subject"`
	ExpiringBefore *time.Time `json:"expiring_before"`
	Reason         string     `json:"reason"`
	Limit          int        `json:"limit"`
	DryRun         bool       `json:"dry_run"`
}

type bulkRevokeResponse struct {
	Reason  string        `json:"reason"`
	DryRun  bool          `json:"dry_run"`
	Matched []string      `json:"matched"`
	Revoked []string      `json:"revoked"`
	Failed  []revokeError `json:"failed"`
}

type revokeError struct {
	Serial string `json:"serial"`
	Error  string `json:"error"`
}

// bulkRevoke revokes every active certificate a filter selects: POST
// /certificates/revoke (ca.Core.RevokeMatching). The filter must name
// something; more matches than limit (default 1000) is a 409 that revokes
// nothing; dry_run lists what would be revoked. The answer lists the
// serials matched, revoked, and those that could not be, with why.
func (a *API) bulkRevoke(w http.ResponseWriter, r *http.Request) {
	var body bulkRevokeRequest
	if err := decodeJSON(w, r, &body); err != nil {
		a.problem(w, r, err)
		return
	}
	code, err := ReasonCode(body.Reason)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	req := ca.BulkRevokeRequest{
		Filter: storage.CertificateFilter{CA: body.CA, Requester: body.Requester, Method: body.Method, SAN: body.SAN, Subject: body.Subject},
		Reason: code, Limit: body.Limit, DryRun: body.DryRun, Requester: requester(r),
	}
	if req.Limit == 0 {
		req.Limit = defaultBulkLimit
	}
	if body.ExpiringBefore != nil {
		req.Filter.ExpiringBefore = *body.ExpiringBefore
	}
	if req.Filter.Profile, err = limitedProfile(r, body.Profile, "the profile field"); err != nil {
		a.problem(w, r, err)
		return
	}
	// A client that hangs up does not stop a revocation half-way.
	res, err := a.core.RevokeMatching(context.WithoutCancel(r.Context()), req)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	out := bulkRevokeResponse{Reason: ReasonName(code), DryRun: body.DryRun, Matched: res.Matched, Revoked: res.Revoked, Failed: []revokeError{}}
	if out.Matched == nil {
		out.Matched = []string{}
	}
	if out.Revoked == nil {
		out.Revoked = []string{}
	}
	for _, f := range res.Failed {
		msg := f.Err.Error()
		if !errs.ClientFault(f.Err) {
			msg = "the gateway failed to revoke it; the operator can find the cause in its log"
		}
		out.Failed = append(out.Failed, revokeError{Serial: f.Serial, Error: msg})
	}
	writeJSON(w, http.StatusOK, out)
}
