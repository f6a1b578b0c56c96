package storage

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/certgw/gateway/errs"
)

// The states of an enrollment request held for approval. A request is
// created pending; an operator approves or rejects it, or it expires
// undecided; an approved request ends issued (with the certificate's
// serial) or failed (issuance refused it after all: a CA that expired
// meanwhile, a lint finding).
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestRejected = "rejected"
	RequestIssued   = "issued"
	RequestFailed   = "failed"
	// RequestExpired is a request nobody decided within its profile's
	// approval.expire_after (ExpireRequests).
	RequestExpired = "expired"
)

// KnownRequestStatus reports whether status is one a request can be in.
func KnownRequestStatus(status string) bool {
	switch status {
	case RequestPending, RequestApproved, RequestRejected, RequestIssued, RequestFailed, RequestExpired:
		return true
	}
	return false
}

// Request is an enrollment request under a profile that makes requests of
// its method wait for an operator's approval (EJBCA's approvals, RFC 7030
// section 4.2.3's 202, RFC 8894's PENDING). It holds what the issuance
// needs once approved: the CSR and who asked.
type Request struct {
	ID        string // 32 lowercase hex digits, chosen by the caller
	Profile   string
	Method    string // est | scep | api
	Requester string
	CSR       []byte // DER PKCS#10
	// CSRHash identifies what the CSR asks for (32 bytes: a SHA-256 of
	// its public key and names, see ca.requestHash): a client that repeats
	// its request (EST clients do, SCEP clients resend PKCSReq) is matched
	// by it, even with a CSR signed anew.
	CSRHash []byte
	// TransactionID is the SCEP transactionID of the request, which a
	// CertPoll (RFC 8894 section 3.3.2) names; empty for other methods.
	TransactionID string
	Names         []string // the CSR's subject CN and SANs, for whoever approves
	Status        string
	CreatedAt     time.Time
	// DecidedAt and DecidedBy say when and by whom the request was
	// approved or rejected; zero and empty while pending.
	DecidedAt time.Time
	DecidedBy string
	// Reason is why it was rejected (the operator's words) or why its
	// issuance failed.
	Reason string
	// Serial is the certificate issued for it, once issued.
	Serial string
	// Approvals are the operators' approvals recorded while it waits for
	// more than one (a profile's approval.approvals), oldest first.
	Approvals []Approval
}

// Approval is one operator's approval of a request.
type Approval struct {
	By string
	At time.Time
}

// Approvers names who gave approvals, in their order; none is nil.
func Approvers(approvals []Approval) []string {
	var by []string
	for _, a := range approvals {
		by = append(by, a.By)
	}
	return by
}

// RequestFilter selects requests for ListRequests. Empty fields match
// everything; Limit 0 means 100.
type RequestFilter struct {
	Profile  string
	Profiles []string // any of these (a token limited to profiles); nil: any
	Status   string
	Limit    int
	// Before, if set, returns the requests listed after the one created
	// at Before with ID BeforeID (paging: the last request of the previous
	// page): created before it, or at the same time with a smaller ID.
	// BeforeID empty: every request created at Before is left out too.
	Before   time.Time
	BeforeID string
}

// RequestStore keeps enrollment requests held for approval. Both stores
// implement it; it is meant to be embedded into Store.
type RequestStore interface {
	// InsertRequest stores a new request in status pending (whatever
	// r.Status says) and appends audit in the same commit. An empty ID,
	// Profile or CSR, or a CSRHash that is not 32 bytes, is
	// errs.Malformed. A request with the same ID, or one of the same
	// profile and CSRHash that is pending or approved, is errs.Conflict;
	// then nothing is stored or appended.
	InsertRequest(ctx context.Context, r Request, audit AuditEvent) error
	// GetRequest returns the request with this ID or errs.NotFound.
	GetRequest(ctx context.Context, id string) (Request, error)
	// FindRequest returns the newest request (by CreatedAt, then ID) of
	// profile whose CSRHash is csrHash, or errs.NotFound.
	FindRequest(ctx context.Context, profile string, csrHash []byte) (Request, error)
	// FindSCEPRequest returns the newest request of profile with this
	// SCEP transactionID, or errs.NotFound.
	FindSCEPRequest(ctx context.Context, profile, transactionID string) (Request, error)
	// ListRequests returns the requests matching f, newest first (by
	// CreatedAt, then ID descending).
	ListRequests(ctx context.Context, f RequestFilter) ([]Request, error)
	// CountPendingRequests returns the number of pending requests of each
	// profile that has any.
	CountPendingRequests(ctx context.Context) (map[string]int, error)
	// DecideRequest moves a pending request to status (RequestApproved or
	// RequestRejected), setting DecidedAt, DecidedBy and Reason, and
	// appends audit in the same commit. Of concurrent decisions on one
	// request exactly one succeeds. An unknown request is errs.NotFound,
	// one not pending errs.Conflict, another status errs.Malformed; then
	// nothing changes and nothing is appended.
	DecideRequest(ctx context.Context, id, status, by, reason string, at time.Time, audit AuditEvent) error
	// AddApproval records by's approval of a pending request, at at, and
	// appends audit in the same commit; it returns the request's approvals
	// with it. An unknown request is errs.NotFound; one not pending, or
	// approved by by already, errs.Conflict; then nothing changes.
	AddApproval(ctx context.Context, id, by string, at time.Time, audit AuditEvent) ([]Approval, error)
	// CompleteRequest ends an approved request: RequestIssued with the
	// certificate's serial, or RequestFailed with the reason. An unknown
	// request is errs.NotFound, one not approved errs.Conflict, another
	// status (or issued without a serial) errs.Malformed.
	CompleteRequest(ctx context.Context, id, status, serial, reason string) error
	// ExpireRequests ends every request of profile still pending that was
	// created before cutoff: status RequestExpired, DecidedAt at,
	// DecidedBy "gateway", Reason reason. It returns how many it ended.
	ExpireRequests(ctx context.Context, profile string, cutoff, at time.Time, reason string) (int, error)
}

// approvalJSON is an Approval as the stores keep it, in a JSON array.
type approvalJSON struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// EncodeApprovals is how the stores keep a request's approvals: a JSON
// array, "[]" for none.
func EncodeApprovals(l []Approval) (string, error) {
	out := make([]approvalJSON, 0, len(l))
	for _, a := range l {
		out = append(out, approvalJSON{By: a.By, At: a.At.UTC()})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeApprovals reads what EncodeApprovals wrote; none is nil.
func DecodeApprovals(s string) ([]Approval, error) {
	var in []approvalJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, err
	}
	var out []Approval
	for _, a := range in {
		out = append(out, Approval{By: a.By, At: a.At.UTC()})
	}
	return out, nil
}

// WithApproval is what AddApproval stores: the approvals raw (as
// EncodeApprovals wrote them) of a request in status, with by's at at,
// both as a list and encoded; or why by may not approve it now.
func WithApproval(id, status, raw, by string, at time.Time) ([]Approval, string, error) {
	if status != RequestPending {
		return nil, "", errs.New(errs.Conflict, "request %q is %s, not %s", id, status, RequestPending)
	}
	list, err := DecodeApprovals(raw)
	if err != nil {
		return nil, "", errs.Wrap(errs.Internal, err, "decode approvals of request %q", id)
	}
	if i := slices.Index(Approvers(list), by); i >= 0 {
		return nil, "", errs.New(errs.Conflict, "request %q: %s approved it already, at %s", id, by, list[i].At.Format(time.RFC3339))
	}
	list = append(list, Approval{By: by, At: at.UTC()})
	enc, err := EncodeApprovals(list)
	if err != nil {
		return nil, "", errs.Wrap(errs.Internal, err, "encode approvals of request %q", id)
	}
	return list, enc, nil
}
