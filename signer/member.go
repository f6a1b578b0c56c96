package signer

import (
	"context"
	"crypto"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/errs"
)

// memberState is the life cycle of a pool member.
type memberState int32

const (
	stateDown   memberState = iota // not logged in; the reconnect loop retries
	stateUp                        // logged in and signing
	stateFailed                    // login refused for a reason retrying cannot fix (a wrong PIN)
)

func (s memberState) String() string {
	return [...]string{"down", "up", "failed"}[s]
}

// member is one token of the pool with its own sessions and cached keys.
type member struct {
	cfg         Member
	pin         string
	maxSessions int
	open        opener
	log         *slog.Logger

	state atomic.Int32
	// sessions bounds concurrent use so that crypto11's own session pool
	// never blocks: a caller waits here, where the wait follows its context.
	sessions chan struct{}

	// mu guards tok, keys and lastErr. Signers hold it shared; reconnect
	// holds it exclusively while it closes and reopens the token.
	mu      sync.RWMutex
	tok     token
	keys    map[string]crypto.Signer // by label
	lastErr error

	// uses counts signatures and decryptions made, opens log-in attempts.
	uses  atomic.Uint64
	opens atomic.Uint64

	// lastAttempt is when the last reconnect started (UnixNano), for the
	// rate limit.
	lastAttempt atomic.Int64
}

func newMember(cfg Member, pin string, maxSessions int, open opener, log *slog.Logger) *member {
	// crypto11 keeps one of its sessions for itself (to hold the login).
	slots := max(maxSessions-1, 1)
	m := &member{
		cfg: cfg, pin: pin, maxSessions: maxSessions, open: open,
		log:      log.With("member", cfg.String()),
		sessions: make(chan struct{}, slots),
		keys:     map[string]crypto.Signer{},
	}
	m.state.Store(int32(stateDown))
	return m
}

func (m *member) getState() memberState { return memberState(m.state.Load()) }

// connect logs in to the token and looks up the labels that were cached
// before. The caller holds m.mu exclusively.
func (m *member) connectLocked(now time.Time) error {
	m.lastAttempt.Store(now.UnixNano())
	m.opens.Add(1)
	if m.tok != nil {
		// C_Finalize happens here when this member is the module's last user.
		if err := m.tok.Close(); err != nil {
			m.log.Debug("closing token", "err", err)
		}
		m.tok = nil
	}
	tok, err := m.open(m.cfg, m.pin, m.maxSessions)
	if err != nil {
		if why, ok := pinFault(err); ok {
			m.state.Store(int32(stateFailed))
			m.lastErr = errs.New(errs.Config, "log in to %s: %s; fix the PIN and restart, the gateway will not retry", m.cfg, why)
			return m.lastErr
		}
		m.state.Store(int32(stateDown))
		m.lastErr = errs.Wrap(errs.Unavailable, err, "open %s", m.cfg)
		return m.lastErr
	}
	keys := make(map[string]crypto.Signer, len(m.keys))
	var missing []string
	for label := range m.keys {
		k, err := tok.FindKey(label)
		if err != nil {
			tok.Close()
			m.state.Store(int32(stateDown))
			m.lastErr = errs.Wrap(errs.Unavailable, err, "open %s", m.cfg)
			return m.lastErr
		}
		if k == nil {
			missing = append(missing, label)
			continue
		}
		keys[label] = k
	}
	if len(missing) > 0 && len(keys) == 0 {
		// Not one of the keys it had: another token under the label, or
		// an emptied one.
		tok.Close()
		m.state.Store(int32(stateDown))
		m.lastErr = errs.New(errs.Unavailable, "open %s: key %q not found", m.cfg, missing[0])
		return m.lastErr
	}
	if len(missing) > 0 {
		// The token holds the others: these were destroyed (an expired
		// OCSP responder's key, by another replica), not lost.
		m.log.Warn("keys no longer in the token, forgotten", "labels", missing)
	}
	m.tok, m.keys, m.lastErr = tok, keys, nil
	m.state.Store(int32(stateUp))
	return nil
}

// markDown takes the member out of rotation after a device fault.
func (m *member) markDown(err error) {
	if m.state.CompareAndSwap(int32(stateUp), int32(stateDown)) {
		m.mu.Lock()
		m.lastErr = errs.Wrap(errs.Unavailable, err, "%s", m.cfg)
		m.mu.Unlock()
		m.log.Error("signer member down, failing over", "err", err)
	}
}

// acquire waits for a free session until ctx ends or wait passes.
func (m *member) acquire(ctx context.Context, wait time.Duration) error {
	select {
	case m.sessions <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case m.sessions <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, ctx.Err(), "waiting for a session on %s", m.cfg)
	case <-t.C:
		return errs.New(errs.Unavailable, "no free session on %s within %s", m.cfg, wait)
	}
}

func (m *member) release() { <-m.sessions }

// key returns the cached key with the label, looking it up on first use.
func (m *member) key(label string) (crypto.Signer, error) {
	m.mu.RLock()
	k, ok := m.keys[label]
	tok := m.tok
	m.mu.RUnlock()
	if ok {
		return k, nil
	}
	if tok == nil {
		return nil, errs.New(errs.Unavailable, "%s is not connected", m.cfg)
	}
	k, err := tok.FindKey(label)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, errs.New(errs.NotFound, "no key labelled %q in %s", label, m.cfg)
	}
	m.mu.Lock()
	if m.tok == tok {
		m.keys[label] = k
	}
	m.mu.Unlock()
	return k, nil
}

// destroy forgets the key labelled label and destroys it in the token.
// It holds m.mu exclusively, so no signature with the key is under way
// while it goes. A member that is down forgets the label too: were it
// remembered, the reconnect would look for it and fail if another replica
// destroyed the key meanwhile.
func (m *member) destroy(label string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, label)
	if m.getState() != stateUp || m.tok == nil {
		return 0, errs.New(errs.Unavailable, "%s is not up", m.cfg)
	}
	return m.tok.DeleteKey(label)
}

// use runs op (a signature or a decryption) with the key labelled label
// on this member, in one of its sessions.
func (m *member) use(ctx context.Context, wait time.Duration, label string, op func(crypto.Signer) ([]byte, error)) ([]byte, error) {
	if err := m.acquire(ctx, wait); err != nil {
		return nil, err
	}
	defer m.release()
	for range 2 {
		m.mu.RLock()
		if m.getState() != stateUp {
			m.mu.RUnlock()
			return nil, errs.New(errs.Unavailable, "%s is down", m.cfg)
		}
		if k, ok := m.keys[label]; ok {
			out, err := op(k)
			m.mu.RUnlock()
			if err == nil {
				m.uses.Add(1)
			}
			return out, err
		}
		m.mu.RUnlock()
		// First use of this label on this member: look it up and cache it.
		if _, err := m.key(label); err != nil {
			return nil, err
		}
	}
	return nil, errs.New(errs.Unavailable, "%s reconnected during the key lookup", m.cfg)
}
