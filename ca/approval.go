package ca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Approvals. A profile may hold the first enrollments of some methods
// (Profile.Held) until an operator approves them, as EJBCA's approval
// profiles do. A held request passes the profile's rules first, so an
// operator only ever sees requests the gateway could issue; it is stored
// with its CSR (storage.Request) and answered pending. Approving it issues
// the certificate at once, through the same core, as if the requester had
// asked again; the requester gets it by repeating its request (EST,
// RFC 7030 section 4.2.3; SCEP clients resend their PKCSReq or poll) or by
// reading the request (REST API). A repeat is recognized by its key and
// names (requestHash), so a client needs no state but its key.

// ApprovalStore is what approvals need of the store.
type ApprovalStore interface {
	InsertRequest(ctx context.Context, r storage.Request, audit storage.AuditEvent) error
	GetRequest(ctx context.Context, id string) (storage.Request, error)
	FindRequest(ctx context.Context, profile string, csrHash []byte) (storage.Request, error)
	FindSCEPRequest(ctx context.Context, profile, transactionID string) (storage.Request, error)
	DecideRequest(ctx context.Context, id, status, by, reason string, at time.Time, audit storage.AuditEvent) error
	AddApproval(ctx context.Context, id, by string, at time.Time, audit storage.AuditEvent) ([]storage.Approval, error)
	CompleteRequest(ctx context.Context, id, status, serial, reason string) error
	ExpireRequests(ctx context.Context, profile string, cutoff, at time.Time, reason string) (int, error)
	ListRequests(ctx context.Context, f storage.RequestFilter) ([]storage.Request, error) // the sweep of unsettled approvals
}

// SettleAfter is how long a request may stay approved. The issuance that
// follows an approval takes seconds (an external CA's order, up to
// Core.UpstreamTimeout, whichever is longer), and ends the request issued
// or failed. A request still approved after that lost its outcome: the
// replica that approved it stopped mid-issuance, or could not record the
// outcome. It is then settled from the audit trail (Core.settle), so that
// its client is neither told "pending" forever nor left without a way to
// ask again.
const SettleAfter = 15 * time.Minute

// settleAfter is SettleAfter, or an external CA's longest issuance and a
// minute where that is longer.
func (c *Core) settleAfter() time.Duration {
	return max(SettleAfter, c.UpstreamTimeout+time.Minute)
}

// PendingError is the answer to a request held for approval: the protocols
// turn it into their "pending" (REST API and EST 202 with Retry-After,
// SCEP PENDING). It unwraps to an errs.Conflict, which is what an edge
// that does not know it says.
type PendingError struct {
	Request    storage.Request
	RetryAfter time.Duration
}

func (e *PendingError) Error() string {
	if e.Request.DecidedBy == AsyncActor {
		return fmt.Sprintf("request %s waits for its certificate from the external CA", e.Request.ID)
	}
	return fmt.Sprintf("request %s waits for an operator's approval", e.Request.ID)
}

func (e *PendingError) Unwrap() error { return errs.New(errs.Conflict, "%s", e.Error()) }

// RetryAfterHeader is RetryAfter as a Retry-After value: whole seconds,
// rounded up (RFC 9110 section 10.2.3).
func (e *PendingError) RetryAfterHeader() string {
	return strconv.Itoa(int((e.RetryAfter + time.Second - 1) / time.Second))
}

// AsPending returns the PendingError in err's chain, if any.
func AsPending(err error) (*PendingError, bool) {
	var p *PendingError
	ok := errors.As(err, &p)
	return p, ok
}

// requestHash identifies what a CSR asks for: its public key and the
// names it requests (subject common name and SANs, in a canonical order).
// A client that repeats its request with a CSR signed anew (ECDSA
// signatures differ each time, as does an EST channel binding) is
// recognized by it; one that asks for other names with the same key makes
// another request.
func requestHash(csr *x509.CertificateRequest) []byte {
	names := Names{DNS: csr.DNSNames, IPs: csr.IPAddresses, Emails: csr.EmailAddresses, URIs: csr.URIs}.strings()
	slices.Sort(names)
	h := sha256.New()
	h.Write(csr.RawSubjectPublicKeyInfo)
	fmt.Fprintf(h, "\x00CN=%s", csr.Subject.CommonName)
	for _, n := range names {
		fmt.Fprintf(h, "\x00%s", n)
	}
	return h.Sum(nil)
}

// requestNames lists what a request asks for, for whoever decides: the
// subject's common name where it is not one of the SANs, then the SANs.
func requestNames(n Names) []string {
	list := n.strings()
	if n.CommonName != "" && !slices.Contains(list, n.CommonName) {
		list = append([]string{"CN=" + n.CommonName}, list...)
	}
	return list
}

// held answers a request the profile holds for approval (the CSR passed
// its rules): the certificate if an earlier identical request was
// approved and issued, pending while one waits, a refusal if one was
// rejected; otherwise it stores a new request and answers pending.
func (c *Core) held(ctx context.Context, p *Profile, req IssueRequest, csr *x509.CertificateRequest, names Names) (*Issued, error) {
	hash := requestHash(csr)
	for attempt := 0; ; attempt++ {
		if issued, err, done := c.repeated(ctx, p, hash); done {
			return issued, err
		}
		r, err := c.newRequest(ctx, p, req, csr, hash, names)
		if errs.Is(err, errs.Conflict) && attempt == 0 {
			continue // an identical request was stored meanwhile: answer from it
		}
		if err != nil {
			return nil, err
		}
		return nil, &PendingError{Request: r, RetryAfter: p.RetryAfter}
	}
}

// repeated is what a request for hash under p gets from the request
// stored before it for the same key and names, if there is one and it
// still counts (answer); done is false when a new request is due.
func (c *Core) repeated(ctx context.Context, p *Profile, hash []byte) (issued *Issued, err error, done bool) {
	prev, err := c.Store.FindRequest(ctx, p.Name, hash)
	if err == nil {
		prev, err = c.current(ctx, p, prev)
	}
	switch {
	case err == nil:
		return c.answer(ctx, p, prev)
	case !errs.Is(err, errs.NotFound):
		return nil, err, true
	}
	return nil, nil, false
}

// answer is what a repeated request gets from the request stored before
// it; done is false when that one no longer counts (its issuance failed,
// or its certificate is no longer active) and a new request is due.
func (c *Core) answer(ctx context.Context, p *Profile, r storage.Request) (issued *Issued, err error, done bool) {
	switch r.Status {
	case storage.RequestPending, storage.RequestApproved: // approved: being issued now
		return nil, &PendingError{Request: r, RetryAfter: p.RetryAfter}, true
	case storage.RequestRejected:
		msg := fmt.Sprintf("profile %s: rule approval: request %s was rejected", p.Name, r.ID)
		if r.Reason != "" {
			msg += ": " + r.Reason
		}
		return nil, errs.New(errs.Forbidden, "%s", msg), true
	case storage.RequestIssued:
		b, err := c.Certificate(ctx, r.Serial)
		if errs.Is(err, errs.NotFound) {
			return nil, nil, false // expired and tidied away (storage.tidy)
		}
		if err != nil {
			return nil, err, true
		}
		if b.Record.Status != storage.StatusActive || !c.Now().Before(b.Cert.NotAfter) {
			return nil, nil, false
		}
		return &Issued{Serial: r.Serial, Issuer: b.Record.CA, Cert: b.Cert, Chain: b.Chain, Earlier: true}, nil, true
	}
	return nil, nil, false // failed or expired
}

// AnswerRequest is what a repeat of the request id gets when the repeat
// names the request rather than its key and names (an Idempotency-Key
// replayed after a 202, where the gateway generated the key): the
// certificate once issued, a *PendingError while it waits, the refusal
// once rejected. A request that failed or expired, or whose certificate
// is no longer active, is errs.Conflict: the requester asks anew.
func (c *Core) AnswerRequest(ctx context.Context, id string) (*Issued, error) {
	r, err := c.Store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	p := c.Profiles[r.Profile]
	if p == nil {
		return nil, errs.New(errs.NotFound, "request %s: profile %s is not configured any more", id, r.Profile)
	}
	if r, err = c.current(ctx, p, r); err != nil {
		return nil, err
	}
	issued, err, done := c.answer(ctx, p, r)
	if !done {
		why := r.Status
		if r.Reason != "" {
			why += ": " + r.Reason
		}
		if r.Status == storage.RequestIssued {
			why = "issued, but certificate " + r.Serial + " is no longer active"
		}
		return nil, errs.New(errs.Conflict, "request %s %s; send a new request (with a new Idempotency-Key)", id, why)
	}
	return issued, err
}

// current returns r, a request of profile p, as it stands now: if it is
// pending past p's expire_after (created before now - expire_after, as
// ExpireRequests counts), the profile's stale requests are ended first
// and r is read again: expired, or what a decision that came first made
// of it. A request approved longer than SettleAfter ago is settled
// (settle). p nil (a profile no longer configured) leaves a pending
// request as it is.
func (c *Core) current(ctx context.Context, p *Profile, r storage.Request) (storage.Request, error) {
	if r.Status == storage.RequestApproved {
		return c.settle(ctx, r)
	}
	if p == nil || r.Status != storage.RequestPending || p.ExpireAfter <= 0 || !r.CreatedAt.Before(c.Now().Add(-p.ExpireAfter)) {
		return r, nil
	}
	if _, err := c.expireProfile(ctx, p); err != nil {
		return r, err
	}
	return c.Store.GetRequest(ctx, r.ID)
}

// settle ends r, an approved request, if it was approved longer than
// settleAfter ago: issued, with the serial of the certificate whose
// audit record names it (the issuance's record of the request is what was
// lost), or failed, so that its client's next attempt makes a new
// request. It returns r as the store then has it (another replica may
// have settled it first).
func (c *Core) settle(ctx context.Context, r storage.Request) (storage.Request, error) {
	if r.Status != storage.RequestApproved || c.Now().Sub(r.DecidedAt) < c.settleAfter() {
		return r, nil
	}
	serial, err := c.approvedIssuance(ctx, r)
	if err != nil {
		return r, err
	}
	status, reason := storage.RequestIssued, ""
	if serial == "" {
		status, reason = storage.RequestFailed, fmt.Sprintf("approved, but no certificate was issued for it within %s", config.Duration(c.settleAfter()))
	}
	switch err := c.Store.CompleteRequest(ctx, r.ID, status, serial, reason); {
	case errs.Is(err, errs.Conflict): // settled elsewhere first
		return c.Store.GetRequest(ctx, r.ID)
	case err != nil:
		return r, err
	}
	c.Log.Warn("settled an approved request whose outcome was not recorded", "request", r.ID, "profile", r.Profile, "status", status, "serial", serial)
	return c.decided(ctx, r.ID)
}

// approvedIssuance returns the serial of the certificate issued for r, an
// approved request, from the audit trail: its "issue" event, of r's
// profile, between the approval and settleAfter later, names the request
// (Request.Approval). "" if there is none.
func (c *Core) approvedIssuance(ctx context.Context, r storage.Request) (string, error) {
	mark := fmt.Sprintf("(request %s approved by ", r.ID)
	f := storage.AuditFilter{Profile: r.Profile, Since: r.DecidedAt, Until: r.DecidedAt.Add(c.settleAfter()), Limit: storage.MaxAuditLimit}
	for {
		events, err := c.Store.ListAudit(ctx, f) // newest first
		if err != nil {
			return "", err
		}
		for _, e := range events {
			if e.Action == "issue" && e.Serial != "" && strings.Contains(e.Detail, mark) {
				return e.Serial, nil
			}
		}
		if len(events) < f.Limit {
			return "", nil
		}
		f.Until = events[len(events)-1].At
	}
}

// settleProfile settles the requests of p approved longer than
// settleAfter ago, for the sweep.
func (c *Core) settleProfile(ctx context.Context, p *Profile) error {
	approved, err := c.Store.ListRequests(ctx, storage.RequestFilter{Profile: p.Name, Status: storage.RequestApproved, Limit: 100})
	if err != nil {
		return err
	}
	for _, r := range approved {
		if _, err := c.settle(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// expireProfile ends p's stale requests. With OnDecided set, it lists them
// first (up to maxToldExpiries a round, page by page) and tells of each that
// this call ended (another replica's sweep tells of its own).
func (c *Core) expireProfile(ctx context.Context, p *Profile) (int, error) {
	now := c.Now()
	cutoff := now.Add(-p.ExpireAfter)
	var stale []storage.Request
	if c.OnDecided != nil {
		f := storage.RequestFilter{Profile: p.Name, Status: storage.RequestPending, Before: cutoff, Limit: expiryPage}
		for len(stale) < maxToldExpiries {
			page, err := c.Store.ListRequests(ctx, f)
			if err != nil {
				return 0, err
			}
			stale = append(stale, page...)
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1]
			f.Before, f.BeforeID = last.CreatedAt, last.ID
		}
	}
	n, err := c.Store.ExpireRequests(ctx, p.Name, cutoff, now, fmt.Sprintf("not decided within %s", config.Duration(p.ExpireAfter)))
	if n > 0 {
		c.Log.Info("requests expired undecided", "profile", p.Name, "count", n, "expire_after", config.Duration(p.ExpireAfter))
	}
	if untold := n - len(stale); c.OnDecided != nil && untold > 0 {
		c.Log.Warn("expired requests not told of", "profile", p.Name, "count", untold, "told_at_most", maxToldExpiries)
	}
	for _, r := range stale {
		// Ours if it ended at now (the stores keep microseconds).
		if r, gerr := c.Store.GetRequest(ctx, r.ID); gerr == nil && r.Status == storage.RequestExpired && r.DecidedAt.Sub(now).Abs() < time.Microsecond {
			c.OnDecided(ctx, r)
		}
	}
	return n, err
}

// maxToldExpiries bounds the expired requests OnDecided hears of in one
// round of one profile; the others expire all the same, and the log says
// how many went untold.
const maxToldExpiries = 10000

// expiryPage is how many stale requests expireProfile lists at a time.
const expiryPage = 500

// ExpireRequests ends the requests of every profile that nobody decided
// within its approval.expire_after, and settles those approved longer
// than settleAfter ago (settle). A request is also ended when its
// client asks again or an operator decides on it too late; this sweep
// (gateway serve runs it hourly) keeps the list and
// gateway_requests_pending to the requests that can still be decided.
// It returns how many requests expired.
func (c *Core) ExpireRequests(ctx context.Context) (int, error) {
	total := 0
	for _, p := range c.Profiles {
		if len(p.Approval) == 0 {
			continue
		}
		if err := c.settleProfile(ctx, p); err != nil {
			return total, err
		}
		if p.ExpireAfter <= 0 {
			continue
		}
		n, err := c.expireProfile(ctx, p)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (c *Core) newRequest(ctx context.Context, p *Profile, req IssueRequest, csr *x509.CertificateRequest, hash []byte, names Names) (storage.Request, error) {
	r, err := c.insertRequest(ctx, p, req, csr, hash, names, "")
	if err != nil {
		return storage.Request{}, err
	}
	c.Log.Info("request held for approval", "request", r.ID, "profile", p.Name, "method", r.Method, "requester", r.Requester, "names", r.Names)
	if c.OnHeld != nil {
		c.OnHeld(ctx, r)
	}
	return r, nil
}

// insertRequest stores a new pending request for csr, audited with note
// after its names.
func (c *Core) insertRequest(ctx context.Context, p *Profile, req IssueRequest, csr *x509.CertificateRequest, hash []byte, names Names, note string) (storage.Request, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return storage.Request{}, errs.Wrap(errs.Internal, err, "request ID")
	}
	now := c.Now()
	r := storage.Request{
		ID: hex.EncodeToString(id[:]), Profile: p.Name, Method: req.Method, Requester: req.Requester,
		CSR: csr.Raw, CSRHash: hash, TransactionID: req.TransactionID, Names: requestNames(names),
		Status: storage.RequestPending, CreatedAt: now,
	}
	err := c.Store.InsertRequest(ctx, r, storage.AuditEvent{
		At: now, Actor: req.Requester, Action: "request", Profile: p.Name,
		Detail: fmt.Sprintf("request %s method=%s names=%s%s", r.ID, r.Method, strings.Join(r.Names, ","), note),
	})
	return r, err
}

// Approve approves a pending request and issues its certificate, as the
// requester asked for it; the issuance's audit record names the request.
// Whoever asked may not approve (four eyes): approver must differ from the
// request's requester. A request no longer pending is an errs.Conflict.
// If the issuance fails (the CA expired meanwhile, a lint finding), the
// request ends failed, and the requester's next repeat makes a new one.
//
// A profile that wants several approvals (Profile.Approvals) records each
// (storage.RequestStore.AddApproval, audited request-approval), one per
// approver, and issues with the last: until then Approve returns nil, nil
// and the request waits, its approvals with it.
func (c *Core) Approve(ctx context.Context, id, approver string) (*Issued, error) {
	r, err := c.Store.GetRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Requester == approver {
		return nil, errs.New(errs.Forbidden, "request %s: whoever asked may not approve it (%s)", id, approver)
	}
	// A stale request ends expired here, and the decision below finds it
	// decided.
	p := c.Profiles[r.Profile]
	if _, err := c.current(ctx, p, r); err != nil {
		return nil, err
	}
	now := c.Now()
	if need := approvalsNeeded(p); need > 1 && !approvedEnough(r.Approvals, approver, need) {
		if slices.Contains(storage.Approvers(r.Approvals), approver) {
			return nil, errs.New(errs.Conflict, "request %s: %s approved it already; it has %d of the %d approvals it needs, each by another operator",
				id, approver, len(r.Approvals), need)
		}
		list, err := c.Store.AddApproval(ctx, id, approver, now, storage.AuditEvent{
			At: now, Actor: approver, Action: "request-approval", Profile: r.Profile,
			Detail: fmt.Sprintf("request %s: one of %d approvals", id, need),
		})
		if err != nil {
			return nil, c.undecidable(ctx, id, err)
		}
		if len(list) < need {
			c.Log.Info("request approval recorded", "request", id, "profile", r.Profile, "by", approver, "approvals", len(list), "needed", need)
			if c.OnApproval != nil {
				r.Approvals = list
				c.OnApproval(ctx, r, need)
			}
			return nil, nil
		}
	}
	if err := c.Store.DecideRequest(ctx, id, storage.RequestApproved, approver, "", now, storage.AuditEvent{
		At: now, Actor: approver, Action: "approve-request", Profile: r.Profile, Detail: "request " + id,
	}); err != nil {
		return nil, c.undecidable(ctx, id, err)
	}
	r.Status, r.DecidedBy, r.DecidedAt = storage.RequestApproved, approver, now
	c.Log.Info("request approved", "request", id, "profile", r.Profile, "by", approver)
	// The decision is stored: what follows must not be cut short by a
	// client that hangs up, or the request would stay approved.
	ctx = context.WithoutCancel(ctx)
	issued, err := c.Issue(ctx, IssueRequest{
		Profile: r.Profile, Method: r.Method, Requester: r.Requester, CSR: r.CSR, approval: &r,
	})
	c.complete(ctx, id, issued, err)
	return issued, err
}

// complete ends request id, approved, with the outcome of its issuance:
// issued, or failed with err, and tells OnDecided. A failure to record it
// is logged: the request is settled later (settle).
func (c *Core) complete(ctx context.Context, id string, issued *Issued, err error) {
	if err != nil {
		if cerr := c.Store.CompleteRequest(ctx, id, storage.RequestFailed, "", err.Error()); cerr != nil {
			c.Log.Error("record a failed approved request", "request", id, "err", cerr)
		} else if _, rerr := c.decided(ctx, id); rerr != nil {
			c.Log.Error("read a decided request to tell of it", "request", id, "err", rerr)
		}
		return
	}
	if err := c.Store.CompleteRequest(ctx, id, storage.RequestIssued, issued.Serial, ""); err != nil {
		// The certificate is issued and audited with the request's ID;
		// the requester's repeats hear "pending" until the request is
		// settled from that record (settle).
		c.Log.Error("record the certificate of an approved request", "request", id, "serial", issued.Serial, "err", err)
	} else if _, err := c.decided(ctx, id); err != nil {
		c.Log.Error("read a decided request to tell of it", "request", id, "err", err)
	}
}

// decided reads request id, which has just ended (issued, failed,
// rejected), and tells OnDecided, if set, of it.
func (c *Core) decided(ctx context.Context, id string) (storage.Request, error) {
	r, err := c.Store.GetRequest(ctx, id)
	if err == nil && c.OnDecided != nil {
		c.OnDecided(ctx, r)
	}
	return r, err
}

// Reject rejects a pending request with the operator's reason, which the
// requester's repeats are told. A request no longer pending is an
// errs.Conflict.
func (c *Core) Reject(ctx context.Context, id, approver, reason string) (storage.Request, error) {
	r, err := c.Store.GetRequest(ctx, id)
	if err != nil {
		return r, err
	}
	if _, err := c.current(ctx, c.Profiles[r.Profile], r); err != nil {
		return r, err
	}
	now := c.Now()
	if err := c.Store.DecideRequest(ctx, id, storage.RequestRejected, approver, reason, now, storage.AuditEvent{
		At: now, Actor: approver, Action: "reject-request", Profile: r.Profile, Detail: fmt.Sprintf("request %s reason=%q", id, reason),
	}); err != nil {
		return r, c.undecidable(ctx, id, err)
	}
	c.Log.Info("request rejected", "request", id, "profile", r.Profile, "by", approver, "reason", reason)
	return c.decided(ctx, id)
}

// undecidable says why a decision on request id was refused: in the
// core's words where another decision came first (the store's words
// name the store).
func (c *Core) undecidable(ctx context.Context, id string, err error) error {
	if !errs.Is(err, errs.Conflict) {
		return err
	}
	if r, gerr := c.Store.GetRequest(ctx, id); gerr == nil && r.Status == storage.RequestPending {
		return errs.New(errs.Conflict, "request %s still waits; approved by %s", id, approvers(r.Approvals))
	} else if gerr == nil {
		return errs.New(errs.Conflict, "request %s was decided already: it is %s", id, r.Status)
	}
	return errs.New(errs.Conflict, "request %s was decided already", id)
}

// WatchRequests runs ExpireRequests every interval until ctx ends, and
// logs a failure (the next round tries again).
func (c *Core) WatchRequests(ctx context.Context, interval time.Duration) {
	round := func() {
		if _, err := c.ExpireRequests(ctx); err != nil && ctx.Err() == nil {
			c.Log.Error("expire undecided requests", "err", err)
		}
	}
	round()
	every(ctx, interval, nil, round)
}

// TransactionRequest returns the request a client made under profile with
// this transactionID (IssueRequest.TransactionID: a SCEP CertPoll, RFC
// 8894 section 3.3.2, or a CMP pollReq), or errs.NotFound.
func (c *Core) TransactionRequest(ctx context.Context, profile, transactionID string) (storage.Request, error) {
	return c.Store.FindSCEPRequest(ctx, profile, transactionID)
}

// HeldRequest returns the request stored for what csr asks for under
// profile (requestHash), expired if it waited too long, or errs.NotFound:
// a protocol that authenticates a first enrollment with a one-time secret
// (a SCEP challenge) lets a repeat of a held request through without it,
// as the secret was spent on the request, but not a repeat of an expired
// one.
func (c *Core) HeldRequest(ctx context.Context, profile string, csr *x509.CertificateRequest) (storage.Request, error) {
	r, err := c.Store.FindRequest(ctx, profile, requestHash(csr))
	if err != nil {
		return r, err
	}
	return c.current(ctx, c.Profiles[profile], r)
}

// Answer is what a request (a CertPoll names one) gets now: the
// certificate, a PendingError, or a refusal; errs.NotFound when the
// request no longer counts (failed, or its certificate is gone) and the
// client must ask anew.
func (c *Core) Answer(ctx context.Context, r storage.Request) (*Issued, error) {
	p, ok := c.Profiles[r.Profile]
	if !ok {
		return nil, errs.New(errs.NotFound, "no profile %q", r.Profile)
	}
	r, err := c.current(ctx, p, r)
	if err != nil {
		return nil, err
	}
	issued, err, done := c.answer(ctx, p, r)
	if !done {
		return nil, errs.New(errs.NotFound, "request %s is %s; ask anew", r.ID, r.Status)
	}
	return issued, err
}

// approvalsNeeded is how many approvals a request of p needs (1 for a
// profile no longer configured).
func approvalsNeeded(p *Profile) int {
	if p == nil {
		return 1
	}
	return max(p.Approvals, 1)
}

// approvedEnough reports whether approvals, by approver among them, are
// enough: a decision that failed after the last approval was recorded
// (the process stopped) is made by its approver's next try.
func approvedEnough(approvals []storage.Approval, approver string, need int) bool {
	return len(approvals) >= need && slices.Contains(storage.Approvers(approvals), approver)
}

// approvers lists who approved, for messages.
func approvers(approvals []storage.Approval) string {
	if len(approvals) == 0 {
		return "none yet"
	}
	return strings.Join(storage.Approvers(approvals), ", ")
}
