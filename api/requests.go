package api

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Enrollment requests held for approval (ca/approval.go): a profile whose
// approval.methods names a method answers that method's first enrollments
// "pending"; an operator lists them, reads one (with its CSR) and approves
// or rejects it.

// Request is an enrollment request as the API shows it.
type Request struct {
	ID        string     `json:"id"`
	Profile   string     `json:"profile"`
	Method    string     `json:"method"`
	Requester string     `json:"requester"`
	Names     []string   `json:"names"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Serial    string     `json:"serial,omitempty"`
	CSR       string     `json:"csr"` // PEM (heldRequestPEM)
	// Approvals are the operators' approvals so far, oldest first, and
	// ApprovalsRequired how many the request's profile wants.
	Approvals         []ApprovalJSON `json:"approvals"`
	ApprovalsRequired int            `json:"approvals_required"`
}

// ApprovalJSON is one operator's approval of a request.
type ApprovalJSON struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// heldRequestPEM is what a held request keeps, as PEM: a PKCS#10
// CERTIFICATE REQUEST, or the CERTIFICATE REQUEST MESSAGES (CRMF, RFC
// 4211) of a CMP ir or cr, which openssl asn1parse reads.
func heldRequestPEM(der []byte) string {
	typ := "CERTIFICATE REQUEST"
	if _, err := x509.ParseCertificateRequest(der); err != nil {
		typ = "CERTIFICATE REQUEST MESSAGES"
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func (a *API) requestJSON(r storage.Request) Request {
	out := Request{
		ID: r.ID, Profile: r.Profile, Method: r.Method, Requester: r.Requester, Names: r.Names,
		Status: r.Status, CreatedAt: r.CreatedAt.UTC(), DecidedBy: r.DecidedBy, Reason: r.Reason, Serial: r.Serial,
		CSR: heldRequestPEM(r.CSR),
	}
	if out.Names == nil {
		out.Names = []string{}
	}
	out.Approvals = []ApprovalJSON{}
	for _, ap := range r.Approvals {
		out.Approvals = append(out.Approvals, ApprovalJSON{By: ap.By, At: ap.At.UTC()})
	}
	out.ApprovalsRequired = 1
	if p := a.core.Profiles[r.Profile]; p != nil {
		out.ApprovalsRequired = max(p.Approvals, 1)
	}
	if !r.DecidedAt.IsZero() {
		t := r.DecidedAt.UTC()
		out.DecidedAt = &t
	}
	return out
}

// pending answers a request held for approval: 202 Accepted with the
// request, its Location and when to ask again (RFC 9110 section 10.2.3).
// Repeating the same POST (the same CSR) answers 202 while the request
// waits, the certificate once it is approved, 403 once it is rejected.
//
// An asynchronous issuance by an external CA (Prefer: respond-async)
// answers the same way, with Preference-Applied (RFC 7240 section 3).
func (a *API) pending(w http.ResponseWriter, p *ca.PendingError) {
	if p.Request.DecidedBy == ca.AsyncActor {
		w.Header().Set("Preference-Applied", "respond-async")
	}
	w.Header().Set("Location", "/api/v1/requests/"+p.Request.ID)
	w.Header().Set("Retry-After", p.RetryAfterHeader())
	writeJSON(w, http.StatusAccepted, a.requestJSON(p.Request))
}

type requestList struct {
	Requests []Request `json:"requests"`
	// NextCursor, when there may be more, is the cursor parameter of the
	// next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// requestCursor is the opaque cursor of a page of requests: where the
// previous page ended (storage.RequestFilter.Before and BeforeID).
func requestCursor(r storage.Request) string {
	return base64.RawURLEncoding.EncodeToString([]byte(r.CreatedAt.UTC().Format(time.RFC3339Nano) + "/" + r.ID))
}

func parseRequestCursor(s string, f *storage.RequestFilter) error {
	bad := errs.New(errs.Malformed, "query parameter cursor: not a next_cursor from an earlier answer")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad
	}
	at, id, ok := strings.Cut(string(b), "/")
	if !ok || id == "" {
		return bad
	}
	if f.Before, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return bad
	}
	f.BeforeID = id
	return nil
}

// listRequests answers GET /requests?profile=&status=&limit=&cursor=,
// newest first. A token limited to profiles sees theirs.
func (a *API) listRequests(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "profile", "status", "limit", "cursor")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	f := storage.RequestFilter{Profile: q.str("profile"), Status: q.str("status")}
	if f.Profile != "" {
		if err := mayUse(r, f.Profile); err != nil {
			a.problem(w, r, err)
			return
		}
	} else if tok := tokenOf(r); len(tok.Profiles) > 0 {
		f.Profiles = tok.Profiles
	}
	if f.Status != "" && !storage.KnownRequestStatus(f.Status) {
		a.problem(w, r, errs.New(errs.Malformed, "query parameter status: %q is not one of pending, approved, rejected, issued, failed, expired", f.Status))
		return
	}
	if c := q.str("cursor"); c != "" {
		if err := parseRequestCursor(c, &f); err != nil {
			a.problem(w, r, err)
			return
		}
	}
	if f.Limit, err = q.limit(); err != nil {
		a.problem(w, r, err)
		return
	}
	if f.Limit == 0 || f.Limit > maxRequestLimit {
		f.Limit = min(max(f.Limit, defaultRequestLimit), maxRequestLimit)
	}
	list, err := a.store.ListRequests(r.Context(), f)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	resp := requestList{Requests: make([]Request, 0, len(list))}
	for _, req := range list {
		resp.Requests = append(resp.Requests, a.requestJSON(req))
	}
	if len(list) == f.Limit {
		resp.NextCursor = requestCursor(list[len(list)-1])
	}
	writeJSON(w, http.StatusOK, resp)
}

const (
	defaultRequestLimit = 100
	maxRequestLimit     = 1000
)

// request reads the {id} request that the token may see; one of a profile
// it may not use does not exist for it.
func (a *API) request(r *http.Request) (storage.Request, error) {
	id := chi.URLParam(r, "id")
	req, err := a.store.GetRequest(r.Context(), id)
	if err == nil {
		if tok := tokenOf(r); len(tok.Profiles) > 0 && !slices.Contains(tok.Profiles, req.Profile) {
			err = errs.New(errs.NotFound, "no request %s", id)
		}
	}
	if errs.Is(err, errs.NotFound) {
		err = errs.New(errs.NotFound, "no request %s", id)
	}
	return req, err
}

// getRequest answers GET /requests/{id}.
func (a *API) getRequest(w http.ResponseWriter, r *http.Request) {
	req, err := a.request(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.requestJSON(req))
}

// approveRequest serves POST /requests/{id}/approve: the certificate is
// issued at once, and the answer is the request, issued, with its serial.
// The token that asked may not approve (403); a request already decided
// is a 409.
func (a *API) approveRequest(w http.ResponseWriter, r *http.Request) {
	req, err := a.request(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	issued, err := a.core.Approve(r.Context(), req.ID, requester(r))
	if err != nil {
		a.problem(w, r, err)
		return
	}
	if req, err = a.store.GetRequest(r.Context(), req.ID); err != nil {
		a.problem(w, r, err)
		return
	}
	if issued != nil {
		a.log.Info("request approved", "request", req.ID, "by", requester(r), "serial", issued.Serial)
	}
	writeJSON(w, http.StatusOK, a.requestJSON(req))
}

// rejectBody is the body of POST /requests/{id}/reject.
type rejectBody struct {
	Reason string `json:"reason"`
}

// rejectRequest serves POST /requests/{id}/reject with {"reason": "..."}:
// the requester's repeats are refused with the reason. A request already
// decided is a 409.
func (a *API) rejectRequest(w http.ResponseWriter, r *http.Request) {
	req, err := a.request(r)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var body rejectBody
	if err := decodeJSON(w, r, &body); err != nil {
		a.problem(w, r, err)
		return
	}
	if len(body.Reason) > 1024 {
		a.problem(w, r, errs.New(errs.Malformed, "field \"reason\": at most 1024 bytes"))
		return
	}
	if req, err = a.core.Reject(r.Context(), req.ID, requester(r), body.Reason); err != nil {
		a.problem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.requestJSON(req))
}
