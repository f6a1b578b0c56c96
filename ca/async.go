package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/storage"
)

// An external CA's issuance takes as long as its validation: seconds for
// http-01, minutes for a dns-01 record that propagates slowly. A requester
// that cannot hold a connection that long (a pipeline behind a load
// balancer that cuts requests at a minute) asks for it asynchronously
// (IssueRequest.Async): the issuance is recorded as a request, decided by
// AsyncActor rather than an operator, and carried out in the background;
// the requester is answered at once, or after IssueRequest.AsyncWait, with
// the certificate if it came in time, else a PendingError for the request.
// Repeating the request (the same key and names) answers from that
// request, as a request held for approval does: pending while the CA
// works, the certificate once issued; after a failure (which the request
// records with the CA's words) it starts another. A replica that stops
// mid-issuance leaves the request approved; it is settled, issued or
// failed, from the audit trail after settleAfter (settle).

// AsyncActor decides the requests of asynchronous issuances: they wait for
// an external CA, not for an operator.
const AsyncActor = "gateway (asynchronous issuance)"

// AsyncRetryAfter is when a requester told to wait for an external CA is
// told to ask again.
const AsyncRetryAfter = 5 * time.Second

type asyncResult struct {
	issued *Issued
	err    error
}

// issueAsync is Issue for req, asynchronous (IssueRequest.Async), under
// p, backed by an external CA; csr passed p's rules. key is the key the
// gateway generated for it, nil for a requester's CSR.
func (c *Core) issueAsync(ctx context.Context, p *Profile, req IssueRequest, csr *x509.CertificateRequest, key crypto.Signer, names Names) (*Issued, error) {
	hash := requestHash(csr)
	if issued, err, done := c.repeated(ctx, p, hash); done {
		if pe, ok := AsPending(err); ok && pe.Request.DecidedBy == AsyncActor {
			pe.RetryAfter = AsyncRetryAfter
		}
		return issued, err
	}
	r, err := c.insertRequest(ctx, p, req, csr, hash, names, fmt.Sprintf(" issued asynchronously by %s", p.Upstream))
	if err != nil {
		return nil, err
	}
	now := c.Now()
	if err := c.Store.DecideRequest(ctx, r.ID, storage.RequestApproved, AsyncActor, "", now, storage.AuditEvent{
		At: now, Actor: AsyncActor, Action: "approve-request", Profile: p.Name, Detail: "request " + r.ID + ", for " + p.Upstream,
	}); err != nil {
		return nil, err
	}
	r.Status, r.DecidedBy, r.DecidedAt = storage.RequestApproved, AsyncActor, now
	c.Log.Info("asynchronous issuance started", "request", r.ID, "profile", p.Name, "upstream", p.Upstream, "requester", req.Requester, "names", r.Names)

	// Whoever claims first, the requester still waiting or the issuance
	// when it ends, decides who tells of the outcome: the requester's
	// Issue, or the issuance itself once nobody waits.
	var claimed atomic.Bool
	done := make(chan asyncResult, 1)
	next := req
	next.Async, next.CSR, next.CheckedCSR, next.Generate, next.generated, next.approval = false, nil, csr, nil, key, &r
	go func() {
		bg := context.WithoutCancel(ctx)
		issued, err := c.issue(bg, next)
		c.complete(bg, r.ID, issued, err)
		if err == nil && req.Replaces != "" {
			// A renewal is linked to what it renews now, whether or not
			// its requester comes back for it; what else the renewal
			// does (EST's revoke_on_renewal) is the repeat's.
			c.Renewed(bg, req.Replaces, issued.Serial, req.Requester, false)
		}
		if claimed.CompareAndSwap(false, true) {
			done <- asyncResult{issued, err}
			return
		}
		c.tell(bg, req, issued, err)
	}()
	wait := time.NewTimer(req.AsyncWait)
	defer wait.Stop()
	select {
	case res := <-done:
		return res.issued, res.err
	case <-wait.C:
	case <-ctx.Done():
	}
	if claimed.CompareAndSwap(false, true) {
		return nil, &PendingError{Request: r, RetryAfter: AsyncRetryAfter}
	}
	res := <-done
	return res.issued, res.err
}
