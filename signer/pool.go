package signer

import (
	"context"
	"crypto"
	crand "crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/errs"
)

// PoolConfig configures a Pool.
type PoolConfig struct {
	Members []Member
	PIN     string
	// MaxSessions is the number of sessions per member (at least 2:
	// crypto11 keeps one for the login).
	MaxSessions int
	// SessionWait bounds the wait for a free session.
	SessionWait time.Duration
	// HealthInterval is how often each member is checked.
	HealthInterval time.Duration
	// ReconnectInterval is the least time between two attempts to bring a
	// member back.
	ReconnectInterval time.Duration
	Logger            *slog.Logger
}

// Pool signs with keys held by one or more PKCS#11 tokens.
type Pool struct {
	cfg     PoolConfig
	members []*member
	next    atomic.Uint32
	log     *slog.Logger

	keysMu sync.Mutex
	keys   map[string]*poolKey // by label

	stop chan struct{}
	kick chan struct{}
	done sync.WaitGroup

	observer atomic.Pointer[OperationObserver]
}

var _ Signer = (*Pool)(nil)

// OperationObserver hears of every operation a member ran or tried: the
// member (as Status names it), the operation (sign, decrypt), how long it
// took from asking for a session to the token's answer, and its error.
// It runs on the caller's goroutine, so it must be quick.
type OperationObserver func(member, op string, took time.Duration, err error)

// Observe has o hear of every operation from now on (nil: none).
func (p *Pool) Observe(o OperationObserver) {
	if o == nil {
		p.observer.Store(nil)
		return
	}
	p.observer.Store(&o)
}

// NewPool logs in to every member. A wrong PIN fails at once with a clear
// error and is never retried; any other failure leaves that member down
// for the reconnect loop to bring back, so the gateway can start while a
// token is away and report itself unready.
func NewPool(cfg PoolConfig) (*Pool, error) {
	return newPool(cfg, openCrypto11)
}

func newPool(cfg PoolConfig, open opener) (*Pool, error) {
	if len(cfg.Members) == 0 {
		return nil, errs.New(errs.Config, "signer: no PKCS#11 member configured")
	}
	if cfg.MaxSessions < 2 {
		cfg.MaxSessions = 2
	}
	if cfg.SessionWait <= 0 {
		cfg.SessionWait = 5 * time.Second
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 30 * time.Second
	}
	if cfg.ReconnectInterval <= 0 {
		cfg.ReconnectInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		cfg:  cfg,
		log:  cfg.Logger,
		keys: map[string]*poolKey{},
		stop: make(chan struct{}),
		kick: make(chan struct{}, 1),
	}
	now := time.Now()
	for _, mc := range cfg.Members {
		m := newMember(mc, cfg.PIN, cfg.MaxSessions, open, cfg.Logger)
		m.mu.Lock()
		err := m.connectLocked(now)
		m.mu.Unlock()
		if err != nil {
			if m.getState() == stateFailed {
				p.closeMembers()
				return nil, err
			}
			m.log.Error("signer member down at start", "err", err)
		}
		p.members = append(p.members, m)
	}
	p.done.Add(1)
	go p.maintain()
	return p, nil
}

// URI implements Signer.
func (p *Pool) URI(label string) string { return keyURI(label) }

// Key implements Signer: the key is looked up in every member that is up,
// and must exist in at least one.
func (p *Pool) Key(ctx context.Context, uri string) (Key, error) {
	label, err := parseKeyURI(uri)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "signer")
	}
	p.keysMu.Lock()
	k, ok := p.keys[label]
	p.keysMu.Unlock()
	if ok {
		return k, nil
	}
	var pub crypto.PublicKey
	var problems []string
	for _, m := range p.members {
		if m.getState() != stateUp {
			continue
		}
		s, err := m.key(label)
		if err != nil {
			problems = append(problems, err.Error())
			if isDeviceFault(err) {
				m.markDown(err)
				p.kickReconnect()
			}
			continue
		}
		if pub == nil {
			pub = s.Public()
		} else if !sameKey(pub, s.Public()) {
			return nil, errs.New(errs.Config, "signer: key %q differs between tokens (%s)", label, m.cfg)
		}
	}
	if pub == nil {
		if len(problems) == 0 {
			return nil, errs.New(errs.Unavailable, "signer: no member is up to look up key %q", label)
		}
		if allNotFound(problems) {
			return nil, errs.New(errs.NotFound, "signer: no key labelled %q", label)
		}
		return nil, errs.New(errs.Unavailable, "signer: key %q: %s", label, strings.Join(problems, "; "))
	}
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	if k, ok := p.keys[label]; ok {
		return k, nil
	}
	nk := &poolKey{pool: p, label: label, pub: pub}
	p.keys[label] = nk
	return nk, nil
}

func allNotFound(problems []string) bool {
	for _, s := range problems {
		if !strings.HasPrefix(s, "no key labelled") {
			return false
		}
	}
	return true
}

func sameKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// Generate implements Signer. The key is created in the first member that
// is up. A pool of several tokens needs its keys on every token: copy them
// with the HSM's own replication or backup tools (they are not
// extractable); Key reports a token that holds a different key under the
// same label.
func (p *Pool) Generate(ctx context.Context, label string, kt KeyType) (Key, error) {
	if _, err := ParseKeyType(string(kt)); err != nil {
		return nil, errs.Wrap(errs.Config, err, "signer")
	}
	for _, m := range p.members {
		if m.getState() != stateUp {
			continue
		}
		m.mu.Lock()
		tok := m.tok
		existing, err := tok.FindKey(label)
		if err == nil && existing != nil {
			m.mu.Unlock()
			return nil, errs.New(errs.Conflict, "signer: a key labelled %q already exists in %s", label, m.cfg)
		}
		var s crypto.Signer
		if err == nil {
			s, err = tok.Generate(label, kt)
		}
		if err == nil {
			m.keys[label] = s
		}
		m.mu.Unlock()
		if err != nil {
			if isDeviceFault(err) {
				m.markDown(err)
				p.kickReconnect()
				continue
			}
			return nil, errs.Wrap(errs.Internal, err, "signer: generate %s key %q in %s", kt, label, m.cfg)
		}
		p.log.Info("generated key in token", "label", label, "type", kt, "member", m.cfg.String())
		return p.Key(ctx, keyURI(label))
	}
	return nil, errs.New(errs.Unavailable, "signer: no member is up to generate key %q", label)
}

// Destroy implements Signer: the key pairs labelled so are destroyed in
// every member, and the label leaves the pool's and the members' caches.
// A member that is down keeps its copy; Destroy then answers
// errs.Unavailable, so that the caller keeps its record of the key and
// destroys it again once every member is up (on the members that already
// destroyed it, that finds nothing and succeeds).
func (p *Pool) Destroy(ctx context.Context, uri string) error {
	label, err := parseKeyURI(uri)
	if err != nil {
		return errs.Wrap(errs.Config, err, "signer")
	}
	var problems []string
	for _, m := range p.members {
		n, err := m.destroy(label)
		if err != nil {
			if isDeviceFault(err) {
				m.markDown(err)
				p.kickReconnect()
			}
			problems = append(problems, fmt.Sprintf("%s: %v", m.cfg, err))
			continue
		}
		if n > 0 {
			p.log.Info("destroyed key in token", "label", label, "pairs", n, "member", m.cfg.String())
		}
	}
	// After the members: a Key lookup that raced with the loop above must
	// not leave a handle to a destroyed key in the cache.
	p.keysMu.Lock()
	delete(p.keys, label)
	p.keysMu.Unlock()
	if len(problems) > 0 {
		return errs.New(errs.Unavailable, "signer: key %q not destroyed in every member: %s", label, strings.Join(problems, "; "))
	}
	return nil
}

// Check implements Signer: nil if at least one member is up.
func (p *Pool) Check(ctx context.Context) error {
	var problems []string
	for _, m := range p.members {
		if m.getState() == stateUp {
			return nil
		}
		m.mu.RLock()
		if m.lastErr != nil {
			problems = append(problems, m.lastErr.Error())
		}
		m.mu.RUnlock()
	}
	return errs.New(errs.Unavailable, "signer: no member is up: %s", strings.Join(problems, "; "))
}

// MemberStatus describes one member for operators and tests.
type MemberStatus struct {
	Member string
	State  string // up, down or failed
	Signs  uint64 // signatures made since start
	Opens  uint64 // log-in attempts since start
	Err    string // why it is not up
}

// Status describes each member, in configuration order.
func (p *Pool) Status() []MemberStatus {
	st := make([]MemberStatus, len(p.members))
	for i, m := range p.members {
		m.mu.RLock()
		st[i] = MemberStatus{Member: m.cfg.String(), State: m.getState().String(), Signs: m.uses.Load(), Opens: m.opens.Load()}
		if m.lastErr != nil {
			st[i].Err = m.lastErr.Error()
		}
		m.mu.RUnlock()
	}
	return st
}

// Close implements Signer.
func (p *Pool) Close() error {
	select {
	case <-p.stop:
		return nil
	default:
	}
	close(p.stop)
	p.done.Wait()
	return p.closeMembers()
}

func (p *Pool) closeMembers() error {
	var errList []error
	for _, m := range p.members {
		m.mu.Lock()
		if m.tok != nil {
			if err := m.tok.Close(); err != nil {
				errList = append(errList, err)
			}
			m.tok = nil
		}
		m.state.Store(int32(stateDown))
		m.mu.Unlock()
	}
	return errors.Join(errList...)
}

// sign signs digest with the key labelled label (use).
func (p *Pool) sign(ctx context.Context, label string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return p.use(ctx, label, "sign", func(k crypto.Signer) ([]byte, error) {
		return k.Sign(crand.Reader, digest, opts)
	})
}

// decrypt decrypts ciphertext with the RSA key labelled label (use). The
// ciphertext comes from outside (a device's SCEP envelope), and tokens
// answer a bad padding with the same codes as a failing device (SoftHSM:
// CKR_GENERAL_ERROR), so only the codes that name the device, session or
// key take the member down: anyone could otherwise take the tokens out of
// service one garbled envelope at a time. Any other failure is an
// errs.Malformed that says nothing about why (no padding oracle).
func (p *Pool) decrypt(ctx context.Context, label string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return p.use(ctx, label, "decrypt", func(k crypto.Signer) ([]byte, error) {
		d, ok := k.(crypto.Decrypter)
		if !ok {
			return nil, errs.New(errs.Internal, "key %q cannot decrypt", label)
		}
		if _, ok := d.Public().(*rsa.PublicKey); !ok {
			return nil, errs.New(errs.Internal, "key %q is not an RSA key and cannot decrypt", label)
		}
		out, err := d.Decrypt(crand.Reader, ciphertext, opts)
		if err != nil && !isDecryptDeviceFault(err) {
			return nil, errs.New(errs.Malformed, "key %q could not decrypt the ciphertext", label)
		}
		return out, err
	})
}

// use runs op (what names it in errors) with the key labelled label,
// trying the members in turn, starting from the next one in round-robin
// order, and moves on when a member reports a device fault. An op whose
// failures are the caller's (decrypt) returns them as errs.Malformed,
// which ends the attempt as it is.
func (p *Pool) use(ctx context.Context, label, what string, op func(crypto.Signer) ([]byte, error)) ([]byte, error) {
	n := len(p.members)
	start := int(p.next.Add(1))
	var lastErr error
	for i := range n {
		m := p.members[(start+i)%n]
		if m.getState() != stateUp {
			continue
		}
		start := time.Now()
		out, err := m.use(ctx, p.cfg.SessionWait, label, op)
		if o := p.observer.Load(); o != nil {
			(*o)(m.cfg.String(), what, time.Since(start), err)
		}
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "signer: %s with %q", what, label)
		}
		if isDeviceFault(err) {
			m.markDown(err)
			p.kickReconnect()
			lastErr = err
			continue
		}
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.Malformed {
			return nil, err
		}
		if errors.As(err, &e) && e.Kind == errs.Unavailable {
			// No free session or the member went down meanwhile: try the next.
			lastErr = err
			continue
		}
		return nil, errs.Wrap(errs.Internal, err, "signer: %s with %q on %s", what, label, m.cfg)
	}
	if lastErr == nil {
		return nil, errs.Wrap(errs.Unavailable, p.Check(ctx), "signer: %s with %q", what, label)
	}
	return nil, errs.Wrap(errs.Unavailable, lastErr, "signer: %s with %q: no member could %s", what, label, what)
}

func (p *Pool) kickReconnect() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// maintain brings members that are down back, at most once per
// ReconnectInterval each, and checks members that are up every
// HealthInterval.
func (p *Pool) maintain() {
	defer p.done.Done()
	tick := min(p.cfg.ReconnectInterval, p.cfg.HealthInterval)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastHealth := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		case <-t.C:
		}
		now := time.Now()
		health := now.Sub(lastHealth) >= p.cfg.HealthInterval
		if health {
			lastHealth = now
		}
		for _, m := range p.members {
			switch m.getState() {
			case stateDown:
				last := time.Unix(0, m.lastAttempt.Load())
				if now.Sub(last) < p.cfg.ReconnectInterval {
					continue
				}
				m.mu.Lock()
				err := m.connectLocked(now)
				m.mu.Unlock()
				if err != nil {
					if m.getState() == stateFailed {
						m.log.Error("signer member disabled", "err", err)
					} else {
						m.log.Warn("signer member still down", "err", err)
					}
				} else {
					m.log.Info("signer member back up")
				}
			case stateUp:
				if health {
					p.probe(m)
				}
			}
		}
	}
}

// probe looks up one cached key again: it opens a session, searches the
// token and so notices a token that is gone or a login that was lost.
//
// A key that is not found while another cached key still is was destroyed
// (another replica destroys the keys of expired OCSP responders, see
// Destroy), not lost with the token: the member forgets it and stays up.
// Were it taken for a device fault, the member would go down, and every
// reconnect would look for the destroyed key again.
func (p *Pool) probe(m *member) {
	m.mu.RLock()
	tok := m.tok
	labels := make([]string, 0, len(m.keys))
	for l := range m.keys {
		labels = append(labels, l)
	}
	m.mu.RUnlock()
	if tok == nil || len(labels) == 0 {
		return
	}
	label := labels[rand.IntN(len(labels))]
	k, err := tok.FindKey(label)
	if err == nil && k == nil {
		err = fmt.Errorf("key %q is gone", label)
		for _, other := range labels {
			if other == label {
				continue
			}
			if ok, oerr := tok.FindKey(other); oerr == nil && ok != nil {
				m.mu.Lock()
				if m.tok == tok {
					delete(m.keys, label)
				}
				m.mu.Unlock()
				m.log.Warn("key no longer in the token, forgotten", "label", label)
				return
			}
		}
	}
	if err != nil {
		m.markDown(err)
		p.kickReconnect()
	}
}

// poolKey is a key of the pool, addressed by label in every member.
type poolKey struct {
	pool  *Pool
	label string
	pub   crypto.PublicKey
}

func (k *poolKey) Public() crypto.PublicKey { return k.pub }
func (k *poolKey) URI() string              { return keyURI(k.label) }

func (k *poolKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.pool.sign(context.Background(), k.label, digest, opts)
}

func (k *poolKey) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.pool.sign(ctx, k.label, digest, opts)
}

func (k *poolKey) WithContext(ctx context.Context) crypto.Signer { return ctxSigner{ctx, k} }

// Decrypt decrypts with an RSA key inside the token (crypto.Decrypter:
// PKCS #1 v1.5 or OAEP as opts says), as the SCEP registration authority
// opens the envelopes devices send it.
func (k *poolKey) Decrypt(_ io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return k.pool.decrypt(context.Background(), k.label, ciphertext, opts)
}
