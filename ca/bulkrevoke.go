package ca

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Revoking many certificates at once answers an incident: a leaked API
// token (everything its requester got), a decommissioned site (everything
// under a name), a profile retired in a hurry. The certificates are
// chosen as the inventory lists them, active ones only, and each is
// revoked, audited and told as Revoke does it, the gateway's own a batch
// to a commit; the run itself is audited too (bulk-revoke), with its
// filter and outcome.
//
// The filter must name something (a profile, CA, requester, method, SAN
// or subject): an empty one would revoke the whole inventory. CA
// certificates, which the inventory lists under "ca:NAME" profiles, are
// never chosen: a CA is revoked with its own command, which also stops
// it issuing. Nothing is revoked when more certificates match than the
// caller allows (limit): a filter broader than meant is refused whole,
// not carried out in part.

// bulkBatch is how many of the gateway's own certificates a bulk
// revocation revokes in one commit; bulkRevokers how many revocations at
// external CAs run at once.
const (
	bulkBatch    = 200
	bulkRevokers = 8
)

// MaxBulkRevocation bounds BulkRevokeRequest.Limit.
const MaxBulkRevocation = 10000

// BulkRevokeRequest chooses certificates to revoke.
type BulkRevokeRequest struct {
	// Filter selects among the inventory's active certificates (its
	// Status, Now, Limit and Cursor are the core's to set).
	Filter storage.CertificateFilter
	Reason int // RFC 5280 CRLReason
	// Limit is the most certificates the request may revoke (1 to
	// MaxBulkRevocation); more matching is errs.Conflict and revokes
	// nothing.
	Limit int
	// DryRun lists what would be revoked and revokes nothing.
	DryRun    bool
	Requester string
}

// BulkRevocation is what a bulk revocation did, or would do (DryRun).
type BulkRevocation struct {
	Matched []string        // serials of the active certificates the filter chose
	Revoked []string        // those revoked now
	Failed  []RevokeFailure // those that could not be (revoked meanwhile, an external CA that refused)
}

// RevokeFailure is a certificate a bulk revocation could not revoke.
type RevokeFailure struct {
	Serial string
	Err    error
}

// RevokeMatching revokes the active certificates req.Filter selects.
func (c *Core) RevokeMatching(ctx context.Context, req BulkRevokeRequest) (BulkRevocation, error) {
	var out BulkRevocation
	f := req.Filter
	if f.Profile == "" && f.CA == "" && f.Requester == "" && f.Method == "" && f.SAN == "" && f.Subject == "" {
		return out, errs.New(errs.Malformed, "a bulk revocation names what it revokes: a profile, CA, requester, method, SAN or subject")
	}
	if strings.HasPrefix(f.Profile, CAProfilePrefix) {
		return out, errs.New(errs.Malformed, "profile %s holds a CA's certificates: revoke a CA with `gateway ca revoke` (or POST /api/v1/cas/NAME/revoke)", f.Profile)
	}
	if req.Limit < 1 || req.Limit > MaxBulkRevocation {
		return out, errs.New(errs.Malformed, "limit: 1 to %d certificates, got %d", MaxBulkRevocation, req.Limit)
	}
	if err := storage.CheckReason(req.Reason); err != nil {
		return out, errs.Wrap(errs.Malformed, err, "bulk revocation")
	}
	f.Status, f.Now, f.Limit, f.Cursor = "active", c.Now(), storage.MaxCertificateLimit, ""
	var recs []storage.Certificate // of out.Matched
	for {
		page, next, err := c.Store.ListCertificates(ctx, f)
		if err != nil {
			return BulkRevocation{}, err
		}
		for _, rec := range page {
			if strings.HasPrefix(rec.Profile, CAProfilePrefix) {
				continue
			}
			if len(out.Matched) == req.Limit {
				return BulkRevocation{}, errs.New(errs.Conflict, "more than %d active certificates match; nothing was revoked: narrow the filter or raise the limit (at most %d)", req.Limit, MaxBulkRevocation)
			}
			out.Matched = append(out.Matched, rec.Serial)
			rec.Chain, rec.KeyPEM = nil, nil // not needed; up to 10000 are held
			recs = append(recs, rec)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if req.DryRun {
		return out, nil
	}
	// The gateway's own certificates are revoked bulkBatch to a commit
	// (storage.Store.RevokeCertificates); those of external CAs one by
	// one, bulkRevokers at a time, as each waits for its CA.
	results := make([]error, len(out.Matched))
	tried := make([]bool, len(out.Matched))
	var own, upstream []int
	for i, rec := range recs {
		if c.Upstreams[rec.CA] != nil {
			upstream = append(upstream, i)
		} else {
			own = append(own, i)
		}
	}
	for start := 0; start < len(own) && ctx.Err() == nil; start += bulkBatch {
		c.revokeBatch(ctx, recs, own[start:min(start+bulkBatch, len(own))], req.Reason, req.Requester, results, tried)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(bulkRevokers, len(upstream)) {
		wg.Go(func() {
			for i := range next {
				results[i], tried[i] = c.Revoke(ctx, out.Matched[i], req.Reason, req.Requester), true
			}
		})
	}
feed:
	for _, i := range upstream {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i, serial := range out.Matched {
		switch err := results[i]; {
		case !tried[i]: // not reached before ctx ended
		case err == nil:
			out.Revoked = append(out.Revoked, serial)
		case ctx.Err() == nil:
			out.Failed = append(out.Failed, RevokeFailure{Serial: serial, Err: err})
		}
	}
	if err := ctx.Err(); err != nil {
		return out, err // what was revoked stays revoked, and audited
	}
	now := c.Now()
	if _, err := c.Store.AppendAudit(ctx, storage.AuditEvent{
		At: now, Actor: req.Requester, Action: "bulk-revoke", Profile: f.Profile,
		Detail: fmt.Sprintf("reason=%d filter=%s matched=%d revoked=%d failed=%d", req.Reason, describeFilter(req.Filter), len(out.Matched), len(out.Revoked), len(out.Failed)),
	}); err != nil {
		c.Log.Error("audit a bulk revocation", "err", err, "revoked", len(out.Revoked))
	}
	c.Log.Info("bulk revocation", "by", req.Requester, "filter", describeFilter(req.Filter), "reason", req.Reason,
		"matched", len(out.Matched), "revoked", len(out.Revoked), "failed", len(out.Failed))
	return out, nil
}

// describeFilter writes the fields of f that are set, for the audit trail.
func describeFilter(f storage.CertificateFilter) string {
	var parts []string
	for _, kv := range [][2]string{{"profile", f.Profile}, {"ca", f.CA}, {"requester", f.Requester}, {"method", f.Method}, {"san", f.SAN}, {"subject", f.Subject}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", kv[0], kv[1]))
		}
	}
	if !f.ExpiringBefore.IsZero() {
		parts = append(parts, "expiring_before="+f.ExpiringBefore.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ",")
}

// revokeBatch revokes recs[i] for each i of batch, certificates of the
// gateway's own CAs, in one commit, then tells of each revocation as
// Revoke does; results[i] is the outcome, tried[i] set. A failed commit
// fails the whole batch.
func (c *Core) revokeBatch(ctx context.Context, recs []storage.Certificate, batch []int, reason int, requester string, results []error, tried []bool) {
	now := c.Now()
	revs := make([]storage.Revocation, 0, len(batch))
	idx := make([]int, 0, len(batch)) // revs[j] is recs[idx[j]]
	for _, i := range batch {
		tried[i] = true
		r, err := c.revocation(recs[i], reason, now, requester)
		if err != nil {
			results[i] = err
			continue
		}
		revs, idx = append(revs, r), append(idx, i)
	}
	outcomes, blocked, err := c.Store.RevokeCertificates(ctx, revs)
	for j, i := range idx {
		switch {
		case err != nil:
			results[i] = err
		case outcomes[j] != nil:
			results[i] = outcomes[j]
		default:
			if blocked[j] {
				c.keyBlocked(*revs[j].Block)
			}
			c.revoked(ctx, recs[i], reason, now, requester, false)
		}
	}
}
