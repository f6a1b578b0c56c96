package acme

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Challenges: RFC 8555 section 7.5.1. A POST with a payload ({}) asks the
// server to validate; validation runs in the background, bounded by
// Settings.ValidationTimeout. The answer waits for it up to
// Settings.ValidationHeadStart: most validations finish by then, and the
// challenge goes pending→valid|invalid in one commit. Only a validation
// still running when the head start ends makes the challenge processing.

func (s *Server) challenge(ctx context.Context, req *request) (*response, error) {
	c, err := s.store.GetACMEChallenge(ctx, chi.URLParam(req.r, "id"))
	if errs.Is(err, errs.NotFound) {
		return nil, probNotFound("no such challenge")
	}
	if err != nil {
		return nil, err
	}
	a, err := s.ownAuthz(ctx, req, c.AuthzID)
	if err != nil {
		return nil, probNotFound("no such challenge")
	}
	up := `<` + req.base + `/authz/` + a.ID + `>;rel="up"`
	if req.postAsGet {
		return &response{status: http.StatusOK, body: challengeBody(req.base, c), links: []string{up}, retryAfter: c.Status == storage.ACMEProcessing}, nil
	}
	if st := s.authzStatus(a); st != storage.ACMEPending {
		// Answering with the current state lets a client that retried a
		// POST see the outcome (Boulder does the same).
		if c.Status != storage.ACMEPending {
			return &response{status: http.StatusOK, body: challengeBody(req.base, c), links: []string{up}}, nil
		}
		return nil, malformed("authorization is %s: its challenges cannot be attempted", st)
	}
	if c.Status == storage.ACMEPending {
		tp, err := thumbprint(req.jwk)
		if err != nil {
			return nil, err
		}
		keyAuth := c.Token + "." + tp
		// The validation outlives this request, not the process: a replica
		// that dies mid-validation leaves the challenge pending (the
		// client may try again), or processing if the validation outlived
		// the head start, until a replica's sweeper fails it
		// (RunSweeper).
		vctx, ch := context.WithoutCancel(ctx), c      // c is re-read below
		account := s.accountURL(req.base, a.AccountID) // as CAA's accounturi names it (RFC 8657)
		done := s.validating.start(c.ID, func() { s.runValidation(vctx, a, ch, keyAuth, account) })
		// Give the validation a head start: a client that sees the
		// outcome in this answer does not poll (x/crypto/acme would wait
		// a second before its first look).
		t := time.NewTimer(s.set.ValidationHeadStart)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			// A slow validation goes on in the background, as RFC 8555
			// 7.5.1 describes. If its outcome lands first, this write
			// changes nothing; if after, the outcome replaces it.
			if _, err := s.store.StartACMEValidation(ctx, c.ID, s.now()); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			// The client is gone; the validation goes on. Answer with
			// what is known rather than log its departure as a failure.
			return &response{status: http.StatusOK, body: challengeBody(req.base, c), links: []string{up}}, nil
		}
		if c, err = s.store.GetACMEChallenge(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	return &response{status: http.StatusOK, body: challengeBody(req.base, c), links: []string{up}, retryAfter: c.Status == storage.ACMEProcessing}, nil
}

// jobs are background operations running in this process (challenge
// validations, issuances by external CAs), by the ID of what they work on,
// each with a channel that closes once its outcome is recorded. A second
// POST to a challenge waits on the running validation instead of starting
// another. Replicas do not share this set: each may validate a challenge
// once, and the compare-and-set in RecordACMEValidation keeps the first
// outcome. The zero value is ready to use.
type jobs struct {
	mu      sync.Mutex
	running map[string]chan struct{}
	wg      sync.WaitGroup
}

// start runs validate in the background unless a validation of challenge
// id already runs, and returns the channel of the one that runs.
func (v *jobs) start(id string, validate func()) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if done, ok := v.running[id]; ok {
		return done
	}
	if v.running == nil {
		v.running = make(map[string]chan struct{})
	}
	done := make(chan struct{})
	v.running[id] = done
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		validate()
		v.mu.Lock()
		delete(v.running, id)
		v.mu.Unlock()
		close(done)
	}()
	return done
}

// wait waits until every job has ended, or ctx has; it reports whether
// they all ended.
func (v *jobs) wait(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { v.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// Drain waits, after the listeners closed, for the validations and the
// issuances by external CAs that run in the background, until ctx ends,
// so that a restart does not cut them off (what it does cut off, the
// sweeper of another replica fails later).
func (s *Server) Drain(ctx context.Context) {
	if !s.validating.wait(ctx) || !s.finalizing.wait(ctx) {
		s.log.Warn("acme: stopped before background validations or issuances ended")
	}
}

// runValidation validates and records the outcome on the challenge, the
// authorization and, when every authorization is valid, the order.
func (s *Server) runValidation(ctx context.Context, a storage.ACMEAuthz, c storage.ACMEChallenge, keyAuth, account string) {
	ctx, cancel := context.WithTimeout(ctx, s.set.ValidationTimeout)
	defer cancel()
	verr := s.val.validate(ctx, c.Type, a.Identifier, c.Token, keyAuth)
	if verr == nil && s.caa != nil && a.Identifier.Type == "dns" && s.signsItself(ctx, a) {
		verr = s.caa.check(ctx, a.Identifier.Value, a.Wildcard, account, c.Type)
	}
	if verr != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		verr = prob(probConnection, http.StatusBadRequest, "validation of %s timed out after %s", a.Identifier.Value, s.set.ValidationTimeout)
	}
	// Record with a fresh context: the validation's may have run out.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	now := s.now()
	log := s.log.With("authz", a.ID, "challenge", c.ID, "type", c.Type, "identifier", a.Identifier.Value)
	// One transaction records the outcome on the challenge, the
	// authorization and the order; its compare-and-sets let one of two
	// validations finishing together move the order.
	if verr != nil {
		p, _ := toProblem(verr)
		log.Info("acme validation failed", "problem", p.Type, "detail", p.Detail)
		if _, err := s.store.RecordACMEValidation(rctx, c.ID, a.ID, a.OrderID, false, now, p.json()); err != nil {
			log.Error("acme: record failed validation", "err", err)
		}
		return
	}
	log.Info("acme validation succeeded")
	if _, err := s.store.RecordACMEValidation(rctx, c.ID, a.ID, a.OrderID, true, now, nil); err != nil {
		log.Error("acme: record validation", "err", err)
	}
}

// sweepGrace is how long past Settings.ValidationTimeout a challenge may
// stay processing before the sweeper takes its validation for dead: the
// timeout bounds the validation, not the writing of its outcome.
const sweepGrace = time.Minute

// RunSweeper fails, every interval until ctx ends, what a stopped replica
// left processing: the challenges whose validation started longer ago
// than the validation timeout allows (plus sweepGrace) and never recorded
// an outcome, and the orders whose issuance by an external CA was claimed
// longer ago than Settings.UpstreamTimeout allows (plus sweepGrace). Each
// is recorded as failed, so the authorization and the order turn invalid,
// and the client, which would otherwise poll until the order expires,
// learns to start again. Every replica may run one; the compare-and-set
// of the record lets one of them win.
func (s *Server) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.sweep(ctx); err != nil {
			s.log.Error("acme: sweep stale validations", "err", err)
		} else if n > 0 {
			s.log.Warn("acme: failed validations interrupted by a stopped replica", "count", n)
		}
		if n, err := s.sweepOrders(ctx); err != nil {
			s.log.Error("acme: sweep stale orders", "err", err)
		} else if n > 0 {
			s.log.Warn("acme: failed orders whose issuance a stopped replica interrupted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOrders fails the stale orders once and returns how many it failed.
func (s *Server) sweepOrders(ctx context.Context) (int, error) {
	stale, err := s.store.StaleACMEOrders(ctx, s.now().Add(-s.set.UpstreamTimeout-sweepGrace), 100)
	if err != nil {
		return 0, err
	}
	p, _ := toProblem(prob(probServerInternal, http.StatusInternalServerError,
		"the issuance was interrupted: the gateway replica running it stopped; create a new order"))
	n := 0
	for _, id := range stale {
		won, err := s.store.SetACMEOrderStatus(ctx, id, storage.ACMEProcessing, storage.ACMEInvalid, p.json(), "")
		if err != nil {
			return n, err
		}
		if won {
			n++
		}
	}
	return n, nil
}

// sweep fails the stale challenges once and returns how many it failed.
func (s *Server) sweep(ctx context.Context) (int, error) {
	stale, err := s.store.StaleACMEChallenges(ctx, s.now().Add(-s.set.ValidationTimeout-sweepGrace), 100)
	if err != nil {
		return 0, err
	}
	p, _ := toProblem(prob(probServerInternal, http.StatusInternalServerError,
		"the validation was interrupted: the gateway replica running it stopped; create a new order"))
	n := 0
	for _, c := range stale {
		if _, err := s.store.RecordACMEValidation(ctx, c.ChallengeID, c.AuthzID, c.OrderID, false, s.now(), p.json()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
