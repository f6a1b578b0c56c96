package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// ResponderStore is what the responder keeps in and reads from the store
// besides certificate statuses (Source).
type ResponderStore interface {
	RevocationState(ctx context.Context, ca string) (storage.RevocationState, error)
	RevocationEvents(ctx context.Context, ca string, after int64, limit int) ([]storage.RevocationEvent, error)
	// Any replica prunes the events all follow: see follow for why that
	// is safe.
	PruneRevocationEvents(ctx context.Context, ca string, through int64) (int, error)
	InsertOCSPResponder(ctx context.Context, r storage.OCSPResponder) error
	LatestOCSPResponder(ctx context.Context, ca string) (storage.OCSPResponder, error)
	// Expired responders' keys are destroyed, then their records deleted.
	ExpiredOCSPResponders(ctx context.Context, ca string, before time.Time) ([]storage.OCSPResponder, error)
	DeleteOCSPResponder(ctx context.Context, keyURI string) error
	// The audit trail holds the certificates CAs had before a renewal.
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	// A responder certificate is issued like any other: persisted, then
	// signed, then audited with its DER and activated in one commit.
	InsertPendingCertificate(ctx context.Context, c storage.Certificate) error
	CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (int64, error)
	// The destruction of an expired responder's key is audited.
	AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error)
}

// Deps are the responder's collaborators.
type Deps struct {
	Source  Source
	Store   ResponderStore
	Signer  signer.Signer // generates and finds responder keys
	Linter  *ca.Linter    // the lint gate for responder certificates
	Presign *ca.Presigner
	Log     *slog.Logger
	Now     func() time.Time
}

// Responder answers OCSP requests for every CA (RFC 6960), from a cache of
// signed responses.
type Responder struct {
	cfg   Config
	d     Deps
	cas   map[string]*caResponder
	slots chan struct{} // on-demand signatures in progress
	// Header values shared by every response (never modified).
	contentType []string
	noStore     []string
}

// caResponder is the responder of one CA.
type caResponder struct {
	name     string
	a        *ca.Authority
	selfSign bool
	issuer   [numHashes]issuerHashes

	key      atomic.Pointer[signingKey]
	rotateMu sync.Mutex

	mu    sync.RWMutex
	cache [numHashes]map[string]*entry // by Request.Serial
	size  int
	// epoch changes whenever a certificate of the CA is revoked; a
	// response signed from a status read before that is not cached.
	epoch  atomic.Uint64
	flight flightGroup

	presign chan string // serials issued or revoked in this process, to sign at once
	seen    int64       // the store's revocation generation handled (loop only)

	// GET paths already parsed and checked, by their encoded request.
	getPrefix string // "/ocsp/NAME/"
	pathMu    sync.RWMutex
	paths     map[string]pathKey
}

// pathKey is what a GET path asks for: a serial (Request.Serial) under a
// CertID hash algorithm of this CA.
type pathKey struct {
	hi     int
	serial string
}

// knownPath returns what a GET path that was answered before asked for.
func (c *caResponder) knownPath(enc string) (pathKey, bool) {
	c.pathMu.RLock()
	k, ok := c.paths[enc]
	c.pathMu.RUnlock()
	return k, ok
}

// rememberPath records a valid GET path; when full, the record starts
// over (it is only a shortcut past parsing).
func (c *caResponder) rememberPath(enc string, k pathKey, max int) {
	c.pathMu.Lock()
	if len(c.paths) >= max {
		c.paths = map[string]pathKey{}
	}
	c.paths[enc] = k
	c.pathMu.Unlock()
}

// issuerHashes are the CertID hashes of the CA for one algorithm.
type issuerHashes struct{ name, key []byte }

// signingKey is the key that signs a CA's responses: a delegated
// responder's, or the CA's own.
type signingKey struct {
	key      signer.Key
	uri      string
	cert     *x509.Certificate // nil when the CA key signs
	keyHash  []byte            // ResponderID byKey
	algID    []byte
	hash     crypto.Hash
	certs    [][]byte
	notAfter time.Time // responses never outlive it
}

// entry is one signed response, immutable but for lastUsed.
type entry struct {
	der        []byte
	kind       Kind
	withNonce  bool // signed for one request, never cached
	this, next time.Time
	key        *signingKey
	epoch      uint64
	lastUsed   atomic.Int64 // Unix seconds of the last request it answered
	// Header values, computed once.
	etag, lastModified, expires []string
	cc                          atomic.Pointer[cacheControl]
}

// cacheControl is an entry's Cache-Control value for one second.
type cacheControl struct {
	sec   int64
	value []string
}

// New prepares a responder for cas. Start must run before it answers.
func New(cfg Config, d Deps, cas map[string]*ca.Authority) (*Responder, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Responder{cfg: cfg, d: d, cas: map[string]*caResponder{}, slots: make(chan struct{}, cfg.MaxConcurrentSigns),
		contentType: []string{"application/ocsp-response"}, noStore: []string{"no-store"}}
	self := map[string]bool{}
	for _, n := range cfg.SignWithCAKey {
		if _, ok := cas[n]; !ok {
			return nil, errs.New(errs.Config, "ocsp.sign_with_ca_key: no CA %q", n)
		}
		self[n] = true
	}
	for name, a := range cas {
		c := &caResponder{name: name, a: a, selfSign: self[name], presign: make(chan string, 64),
			getPrefix: "/ocsp/" + name + "/", paths: map[string]pathKey{}}
		if err := c.hashIssuer(); err != nil {
			return nil, err
		}
		for i := range c.cache {
			c.cache[i] = map[string]*entry{}
		}
		r.cas[name] = c
	}
	return r, nil
}

// hashIssuer computes the CertID hashes of the CA: of its DER subject
// name and of the BIT STRING of its public key (RFC 6960 4.1.1).
func (c *caResponder) hashIssuer() error {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.a.Cert().RawSubjectPublicKeyInfo, &spki); err != nil {
		return errs.Wrap(errs.Internal, err, "CA %s: public key", c.name)
	}
	for i := range numHashes {
		h := hashAt(i).New()
		h.Write(c.a.Cert().RawSubject)
		c.issuer[i].name = h.Sum(nil)
		h = hashAt(i).New()
		h.Write(spki.PublicKey.RightAlign())
		c.issuer[i].key = h.Sum(nil)
	}
	return nil
}

// Start makes sure every CA has a key to sign with (creating a delegated
// responder where none is usable) and notes the store's revocation
// generation, from which Run follows revocations made elsewhere.
func (r *Responder) Start(ctx context.Context) error {
	for _, c := range r.cas {
		if err := r.ensureKey(ctx, c); err != nil {
			return err
		}
		st, err := r.d.Store.RevocationState(ctx, c.name)
		if err != nil {
			return err
		}
		c.seen = st.Generation
	}
	return nil
}

// Run keeps responses fresh and responders current until ctx ends: it
// follows revocations (this process's through OnRevoke, other replicas'
// through the store), signs cached responses again at half their validity,
// drops the ones nobody asked for, and rotates responder keys.
func (r *Responder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range r.cas {
		wg.Go(func() { r.loop(ctx, c) })
	}
	wg.Wait()
}

// OnRevoke is the ca.Core hook: the certificate's cached responses are
// dropped at once and a new one is signed in the background.
func (r *Responder) OnRevoke(_ context.Context, caName, serial string) {
	c, ok := r.cas[caName]
	if !ok {
		return
	}
	c.invalidate(serialKey(serial))
	select {
	case c.presign <- serial:
	default: // the loop is behind; the next request signs on demand
	}
}

// OnIssue is the ca.Core hook for a new certificate: its response is
// signed in the background (pre-signed), so the first client to ask gets
// it from the cache. When the loop is behind, the first request signs it.
func (r *Responder) OnIssue(_ context.Context, caName, serial string) {
	c, ok := r.cas[caName]
	if !ok {
		return
	}
	select {
	case c.presign <- serial:
	default:
	}
}

// maintenanceEvery is how often the cache is refreshed and the responder
// checked for rotation.
func (r *Responder) maintenanceEvery() time.Duration {
	return max(r.cfg.PollInterval, min(r.cfg.ResponseValidity/20, time.Minute))
}

func (r *Responder) loop(ctx context.Context, c *caResponder) {
	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	maint := time.NewTicker(r.maintenanceEvery())
	defer maint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case serial := <-c.presign:
			r.presignOne(ctx, c, serial)
		case <-poll.C:
			if err := r.follow(ctx, c); err != nil {
				r.d.Log.Warn("OCSP: cannot follow revocations", "ca", c.name, "err", err)
			}
		case <-maint.C:
			r.maintain(ctx, c)
		}
	}
}

// maintain rotates the responder when due, refreshes the cache and
// prunes the revocation events.
func (r *Responder) maintain(ctx context.Context, c *caResponder) {
	if err := r.ensureKey(ctx, c); err != nil {
		level := slog.LevelWarn
		if k := c.key.Load(); k == nil || r.d.Now().Add(r.cfg.RotateBefore/2).After(k.notAfter) {
			level = slog.LevelError
		}
		r.d.Log.Log(ctx, level, "OCSP responder rotation failed", "ca", c.name, "err", err)
	}
	r.refresh(ctx, c)
	r.pruneEvents(ctx, c)
}

// pruneEvents deletes the CA's revocation events older than the last
// KeepRevocationEvents this replica has followed, so that the log does
// not grow forever. Every replica does it (on PostgreSQL they share the
// log): whichever runs, a replica further behind finds out and resyncs
// (see follow), so no prune can make one miss a revocation. A backlog
// (a log that predates pruning) goes storage.MaxRevokedLimit events per
// run.
func (r *Responder) pruneEvents(ctx context.Context, c *caResponder) {
	through := c.seen - r.cfg.KeepRevocationEvents
	if through < 1 {
		return
	}
	n, err := r.d.Store.PruneRevocationEvents(ctx, c.name, through)
	if err != nil {
		r.d.Log.Warn("OCSP: cannot prune revocation events", "ca", c.name, "err", err)
		return
	}
	if n > 0 {
		r.d.Log.Debug("OCSP: pruned revocation events", "ca", c.name, "through", through, "deleted", n)
	}
}

// follow reads the revocations other processes made since the last look
// and refreshes their responses.
//
// The events of a generation may be gone: any replica prunes the oldest
// (pruneEvents), and one that stalled or lost the store for long enough
// can find the log starting past the generation it saw. The store keeps
// the events contiguous (storage.RevocationStore.RevocationEvents), so
// that shows as a first event that is not seen+1, or as no events though
// the generation grew. Then the serials revoked in between are unknown
// and any cached response may be "good" for one of them: dropAll drops
// them all, so that each is signed again from the certificates table
// when asked for. (Generations counted by migration 0003 without events
// look the same, and take the same safe way.) Every revocation up to st.Generation committed before
// st was read, hence before the drop, and those after it still have
// their events (or the next look finds a gap again).
func (r *Responder) follow(ctx context.Context, c *caResponder) error {
	st, err := r.d.Store.RevocationState(ctx, c.name)
	if err != nil {
		return err
	}
	for c.seen < st.Generation {
		events, err := r.d.Store.RevocationEvents(ctx, c.name, c.seen, 1000)
		if err != nil {
			return err
		}
		if len(events) == 0 || events[0].Generation != c.seen+1 {
			r.d.Log.Warn("OCSP: revocation events were pruned past this replica; dropping the cached responses",
				"ca", c.name, "seen", c.seen, "generation", st.Generation)
			c.dropAll()
			c.seen = st.Generation
			return nil
		}
		for _, e := range events {
			c.invalidate(serialKey(e.Serial))
			r.presignOne(ctx, c, e.Serial)
			c.seen = e.Generation
		}
	}
	return nil
}

// presignOne signs the SHA-1 response of a serial (what nearly every
// client asks for) and caches it.
func (r *Responder) presignOne(ctx context.Context, c *caResponder, serial string) {
	key := serialKey(serial)
	id := certID{hash: crypto.SHA1, name: c.issuer[0].name, key: c.issuer[0].key, serial: []byte(key)}
	if _, err := r.signAndCache(ctx, c, 0, id); err != nil {
		r.d.Log.Warn("OCSP: cannot pre-sign a response", "ca", c.name, "serial", serial, "err", err)
	}
}

// serialKey turns a stored serial (unsigned hex) into the content octets
// of its DER INTEGER, the cache key.
func serialKey(serial string) string {
	b, err := hex.DecodeString(serial)
	if err != nil || len(b) == 0 {
		return serial // cannot match any request
	}
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	if b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return string(b)
}

// invalidate drops every cached response for the serial.
func (c *caResponder) invalidate(serial string) {
	c.epoch.Add(1)
	c.mu.Lock()
	for i := range c.cache {
		if _, ok := c.cache[i][serial]; ok {
			delete(c.cache[i], serial)
			c.size--
		}
	}
	c.mu.Unlock()
}

// dropAll empties the cache. The epoch moves first, as in invalidate, so
// that a response being signed from a status read before is not cached.
func (c *caResponder) dropAll() {
	c.epoch.Add(1)
	c.mu.Lock()
	for i := range c.cache {
		c.cache[i] = map[string]*entry{}
	}
	c.size = 0
	c.mu.Unlock()
}

// lookup returns a cached response that is still valid at now.
func (c *caResponder) lookup(hi int, serial []byte, now time.Time) *entry {
	c.mu.RLock()
	e := c.cache[hi][string(serial)] // no copy of serial: a map index
	c.mu.RUnlock()
	return c.fresh(e, now)
}

// lookupKey is lookup by the cache key itself.
func (c *caResponder) lookupKey(hi int, serial string, now time.Time) *entry {
	c.mu.RLock()
	e := c.cache[hi][serial]
	c.mu.RUnlock()
	return c.fresh(e, now)
}

// fresh returns e if it is valid at now, and notes that it was asked for.
func (c *caResponder) fresh(e *entry, now time.Time) *entry {
	if e == nil || !now.Before(e.next) {
		return nil
	}
	if sec := now.Unix(); e.lastUsed.Load() != sec {
		e.lastUsed.Store(sec)
	}
	return e
}

// store caches e unless a revocation happened since its status was read;
// a full cache makes room by dropping an arbitrary entry.
func (c *caResponder) store(hi int, serial string, e *entry, max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != e.epoch {
		return
	}
	if _, ok := c.cache[hi][serial]; !ok {
		if c.size >= max {
			for k := range c.cache[hi] {
				delete(c.cache[hi], k)
				c.size--
				break
			}
			if c.size >= max {
				return
			}
		}
		c.size++
	}
	c.cache[hi][serial] = e
}

// respond answers a parsed request whose issuer hashes match c: from the
// cache when it can (no nonce), else by signing now.
func (r *Responder) respond(ctx context.Context, c *caResponder, hi int, req *Request) (*entry, error) {
	now := r.d.Now()
	id := certID{hash: req.Hash, name: c.issuer[hi].name, key: c.issuer[hi].key, serial: req.Serial}
	if req.Nonce == nil {
		if e := c.lookup(hi, req.Serial, now); e != nil {
			return e, nil
		}
		return c.flight.do(string(rune('0'+hi))+string(req.Serial), func() (*entry, error) {
			if e := c.lookup(hi, req.Serial, now); e != nil {
				return e, nil
			}
			return r.signAndCache(ctx, c, hi, id)
		})
	}
	// A nonce makes the response unique: it is signed for this request.
	// When every signing slot is busy, the cached response (without the
	// nonce, which RFC 8954 lets a responder leave out) is the answer.
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	default:
		if e := c.lookup(hi, req.Serial, now); e != nil {
			return e, nil
		}
		release, err := r.acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	epoch := c.epoch.Load()
	st, err := r.status(ctx, c, req.Serial)
	if err != nil {
		return nil, err
	}
	return r.sign(ctx, c, id, st, req.Nonce, epoch)
}

// acquire waits for a signing slot, at most SignWait.
func (r *Responder) acquire(ctx context.Context) (func(), error) {
	t := time.NewTimer(r.cfg.SignWait)
	defer t.Stop()
	select {
	case r.slots <- struct{}{}:
		return func() { <-r.slots }, nil
	case <-t.C:
		return nil, errs.New(errs.Unavailable, "every OCSP signing slot is busy")
	case <-ctx.Done():
		return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "waiting for an OCSP signing slot")
	}
}

// signAndCache reads the status, signs and caches the response for id.
func (r *Responder) signAndCache(ctx context.Context, c *caResponder, hi int, id certID) (*entry, error) {
	release, err := r.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	epoch := c.epoch.Load()
	st, err := r.status(ctx, c, id.serial)
	if err != nil {
		return nil, err
	}
	e, err := r.sign(ctx, c, id, st, nil, epoch)
	if err != nil {
		return nil, err
	}
	if st.Final {
		c.store(hi, string(id.serial), e, r.cfg.MaxCached)
	}
	return e, nil
}

// status finds out what became of the certificate with the serial whose
// INTEGER content octets are given.
func (r *Responder) status(ctx context.Context, c *caResponder, serial []byte) (Status, error) {
	if serial[0]&0x80 != 0 {
		return Status{Kind: Unknown, Final: true}, nil // negative: never issued
	}
	for len(serial) > 1 && serial[0] == 0 {
		serial = serial[1:]
	}
	h := hex.EncodeToString(serial)
	st, err := r.d.Source.Status(ctx, c.name, h)
	if err != nil || st.Kind != Unknown || !st.Final {
		return st, err // a revoked CA's certificates are in the inventory
	}
	if r.subordinate(c, h) {
		return Status{Kind: Good, Final: true}, nil
	}
	if ok, err := r.formerSubordinate(ctx, c, h); err != nil || ok {
		return Status{Kind: Good, Final: true}, err
	}
	return st, nil
}

// subordinate reports whether serial is the current certificate of a CA
// that c's CA issued. CA certificates are not in the certificate
// inventory (but for a revoked CA's, see ca.Hierarchy.Revoke), and the
// hierarchy knows them: they are good.
func (r *Responder) subordinate(c *caResponder, serial string) bool {
	for _, sub := range r.cas {
		if cur := sub.a.Certified(); len(cur.Chain) > 0 && cur.Chain[0].Equal(c.a.Cert()) && ca.SerialHex(cur.Cert.SerialNumber) == serial {
			return true
		}
	}
	return false
}

// formerSubordinate reports whether serial is a certificate c's CA issued
// to a CA that has been renewed since (gateway ca renew): relying parties
// that hold the old chain still ask about it, and it is still good. The
// audit trail keeps every CA certificate (init-ca, renew-ca, with the DER).
func (r *Responder) formerSubordinate(ctx context.Context, c *caResponder, serial string) (bool, error) {
	cert, err := ca.AuditedCACertificate(ctx, r.d.Store, serial, c.a.Cert())
	return cert != nil, err
}

// sign makes one response: thisUpdate and producedAt now, nextUpdate
// ResponseValidity later but never after the signing key's certificate
// expires.
func (r *Responder) sign(ctx context.Context, c *caResponder, id certID, st Status, nonce []byte, epoch uint64) (*entry, error) {
	k := c.key.Load()
	if k == nil {
		return nil, errs.New(errs.Unavailable, "CA %s has no OCSP signing key yet", c.name)
	}
	this := r.d.Now().UTC().Truncate(time.Second)
	next := this.Add(r.cfg.ResponseValidity)
	if end := k.notAfter.UTC().Truncate(time.Second); end.Before(next) {
		next = end
	}
	if !next.After(this) {
		return nil, errs.New(errs.Unavailable, "the OCSP responder certificate of CA %s has expired", c.name)
	}
	tbs, err := responseData(k.keyHash, this, id, st, this, next, nonce)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode OCSP response")
	}
	h := k.hash.New()
	h.Write(tbs)
	sig, err := k.key.SignContext(ctx, h.Sum(nil), k.hash)
	if err != nil {
		return nil, errs.Wrap(errs.KindOf(err), err, "sign OCSP response")
	}
	der, err := basicResponse(tbs, k.algID, sig, k.certs)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "encode OCSP response")
	}
	sum := sha256.Sum256(der)
	e := &entry{
		der: der, kind: st.Kind, withNonce: nonce != nil, this: this, next: next, key: k, epoch: epoch,
		etag:         []string{`"` + hex.EncodeToString(sum[:12]) + `"`},
		lastModified: []string{this.Format(http.TimeFormat)},
		expires:      []string{next.Format(http.TimeFormat)},
	}
	e.lastUsed.Store(this.Unix())
	return e, nil
}

// refresh signs cached responses again at half their validity (RFC 5019
// 6.2: a response is served well before its nextUpdate), if a client
// asked for them within the last validity period; the others are dropped.
func (r *Responder) refresh(ctx context.Context, c *caResponder) {
	now := r.d.Now()
	half := r.cfg.ResponseValidity / 2
	type item struct {
		hi     int
		serial string
		e      *entry
	}
	var due []item
	c.mu.RLock()
	for hi := range c.cache {
		for serial, e := range c.cache[hi] {
			if now.Sub(e.this) >= half || !now.Before(e.next) {
				due = append(due, item{hi, serial, e})
			}
		}
	}
	c.mu.RUnlock()
	for _, it := range due {
		if ctx.Err() != nil {
			return
		}
		if now.Unix()-it.e.lastUsed.Load() > int64(r.cfg.ResponseValidity/time.Second) {
			c.mu.Lock()
			if c.cache[it.hi][it.serial] == it.e {
				delete(c.cache[it.hi], it.serial)
				c.size--
			}
			c.mu.Unlock()
			continue
		}
		id := certID{hash: hashAt(it.hi), name: c.issuer[it.hi].name, key: c.issuer[it.hi].key, serial: []byte(it.serial)}
		if _, err := r.signAndCache(ctx, c, it.hi, id); err != nil {
			r.d.Log.Warn("OCSP: cannot refresh a response", "ca", c.name, "err", err)
		}
	}
}

// flightGroup makes concurrent misses for one response sign it once.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	e    *entry
	err  error
}

func (g *flightGroup) do(key string, fn func() (*entry, error)) (*entry, error) {
	g.mu.Lock()
	if f, ok := g.m[key]; ok {
		g.mu.Unlock()
		<-f.done
		return f.e, f.err
	}
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	g.m[key] = f
	g.mu.Unlock()
	f.e, f.err = fn()
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	close(f.done)
	return f.e, f.err
}

// matches reports whether a request's CertID names this CA as issuer.
func (c *caResponder) matches(hi int, req *Request) bool {
	return bytes.Equal(req.IssuerNameHash, c.issuer[hi].name) && bytes.Equal(req.IssuerKeyHash, c.issuer[hi].key)
}
