package crl

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Store is what CRL publication needs of the store (both stores implement
// it; see storage.RevocationStore for the guarantees it relies on).
type Store interface {
	NextCRLNumber(ctx context.Context, ca string) (int64, error)
	PublishCRL(ctx context.Context, c storage.PublishedCRL) (bool, error)
	LatestCRL(ctx context.Context, ca string) (storage.PublishedCRL, error)
	RevocationState(ctx context.Context, ca string) (storage.RevocationState, error)
	// Delta CRLs list the certificates of the revocation events since
	// their base.
	RevocationEvents(ctx context.Context, ca string, after int64, limit int) ([]storage.RevocationEvent, error)
	CertificateStatus(ctx context.Context, serial string) (storage.CertificateStatus, error)
	CountRevoked(ctx context.Context, ca string, since time.Time) (int, error)
	ListRevoked(ctx context.Context, ca string, since time.Time, after storage.RevokedEntry, limit int) ([]storage.RevokedEntry, error)
	// Every CRL the CA key signs is audited.
	AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error)
}

// Published is one signed CRL as the publisher serves it. It is immutable.
type Published struct {
	CA         string
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Generation int64
	DER        []byte
	// Shards are the CRLs of a partitioned CA, shard 0 first, built with
	// this one (same number and times); nil for a CA that does not shard.
	Shards []*Published
	// Delta is the delta CRL built with this one, for a CA with delta
	// CRLs (CAConfig.DeltaValidity); nil otherwise. On a delta, Base is
	// its BaseCRLNumber, BaseThisUpdate and BaseGeneration that CRL's
	// thisUpdate and Generation.
	Delta          *Published
	Base           int64
	BaseThisUpdate time.Time
	BaseGeneration int64

	pemOnce sync.Once
	pem     []byte
}

func newPublished(c storage.PublishedCRL) *Published {
	p := &Published{CA: c.CA, Number: c.Number, ThisUpdate: c.ThisUpdate.UTC(), NextUpdate: c.NextUpdate.UTC(), Generation: c.Generation, DER: c.DER}
	for _, der := range c.Shards {
		p.Shards = append(p.Shards, &Published{CA: p.CA, Number: p.Number, ThisUpdate: p.ThisUpdate, NextUpdate: p.NextUpdate, Generation: p.Generation, DER: der})
	}
	if d := c.Delta; d != nil {
		p.Delta = &Published{CA: p.CA, Number: d.Number, ThisUpdate: p.ThisUpdate, NextUpdate: d.NextUpdate.UTC(), Generation: p.Generation,
			DER: d.DER, Base: d.Base, BaseThisUpdate: d.BaseThisUpdate.UTC(), BaseGeneration: d.BaseGeneration}
	}
	return p
}

// PEM returns the CRL as PEM ("X509 CRL", RFC 7468 section 6), encoded
// on first use.
func (p *Published) PEM() []byte {
	p.pemOnce.Do(func() { p.pem = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: p.DER}) })
	return p.pem
}

// Publisher keeps one full CRL per CA current and serves it.
//
// A CA with ca.Authority.CRLShards of 2 or more also gets a partitioned
// CRL (RFC 5280 5.2.5): every rebuild builds, beside the full CRL, one CRL
// per shard holding the revoked certificates whose ca.CRLShard is that
// shard, with a critical issuingDistributionPoint naming the shard's URL
// (Config.URLs.CRLShard), which is the CRL distribution point of those
// certificates. All of them share the full CRL's number and times: the
// number of each scope (the full CRL, each shard) still strictly
// increases (5.2.3), and the store publishes them together, so a
// replica never serves shards of one rebuild with the full CRL of another.
// The full CRL stays, for validators that ignore the distribution point,
// for the mirrors and for `gateway crl dump`.
//
// A CA with CAConfig.DeltaValidity also gets delta CRLs (RFC 5280 5.2.4):
// every rebuild builds, after the full CRL, a delta CRL with the next
// number, valid DeltaValidity, whose deltaCRLIndicator names a base: the
// full CRL of the last RebuildEvery (this one, when the last base is that
// old). It lists the certificates of the revocation events since the
// base's generation (storage.RevocationEvent): those revoked, as the full
// CRL lists them, and those released from hold, with removeFromCRL; so a
// validator that holds the base or any later full CRL completes it with
// the delta. The full CRL names the delta's URL in its freshestCRL
// (5.2.6), and is rebuilt every half of DeltaValidity, so the delta never
// expires unreplaced; a validator downloads the large full CRL once per
// RebuildEvery and the small delta as often as it likes. Delta CRLs cover
// the full CRL only, not the shards of a partitioned one.
//
// Every process of a deployment runs one. The store decides what is
// current: CRL numbers come from NextCRLNumber, and PublishCRL keeps the CRL
// with the highest number, so a replica that finishes a rebuild late can
// never replace a newer CRL, and every replica serves the one the store
// holds (it adopts a newer one within PollInterval).
//
// A CRL is rebuilt:
//   - Coalesce after a revocation in this process (OnRevoke); revocations
//     that arrive meanwhile join the same rebuild;
//   - when the store's revocation generation is ahead of the published
//     CRL's for longer than Coalesce+PollInterval: a revocation made by a
//     replica that did not publish (it crashed, or its rebuild failed);
//   - when the CRL is RebuildEvery old (plus a little jitter, so that
//     replicas do not all rebuild at once), well before nextUpdate;
//   - after a failed rebuild, with backoff, while the old CRL stays served.
//
// The number is taken after the generation is read and before the entries
// are listed: the CRL holds every revocation up to that generation (see
// storage.RevocationStore.NextCRLNumber).
type Publisher struct {
	store   Store
	builder *Builder
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	cas     map[string]*caState
}

// caState is the publisher's view of one CA.
type caState struct {
	a       *ca.Authority
	cfg     CAConfig
	current atomic.Pointer[Published]
	kick    chan struct{} // a local revocation; capacity 1
	mu      sync.Mutex    // one rebuild of this CA at a time in this process

	// Used by the CA's loop only.
	staleSince time.Time     // when the store's generation was first seen ahead
	retryAt    time.Time     // after a failed rebuild
	backoff    time.Duration // of the last failure
	jitter     time.Duration // added to RebuildEvery for the current CRL
}

// NewPublisher prepares a publisher for cas. cfg is completed with
// defaults and validated.
func NewPublisher(cfg Config, store Store, builder *Builder, cas map[string]*ca.Authority, log *slog.Logger, now func() time.Time) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for name := range cfg.CAs {
		if _, ok := cas[name]; !ok {
			return nil, errs.New(errs.Config, "crl.cas[%s]: no such CA", name)
		}
	}
	for name, a := range cas {
		if n := a.CRLShards; n != 0 && (n < 2 || n > ca.MaxCRLShards) {
			return nil, errs.New(errs.Config, "cas[%s].crl.shards: 0 or from 2 to %d, got %d", name, ca.MaxCRLShards, n)
		}
		if a.CRLShards != 0 && cfg.URLs.Base == "" {
			return nil, errs.New(errs.Config, "cas[%s].crl.shards: partitioned CRLs need listen.public_url", name)
		}
	}
	if builder.LintSample == 0 {
		builder.LintSample = cfg.LintSample
	}
	p := &Publisher{store: store, builder: builder, cfg: cfg, log: log, now: now, cas: map[string]*caState{}}
	for name, a := range cas {
		p.cas[name] = &caState{a: a, cfg: cfg.For(name), kick: make(chan struct{}, 1)}
	}
	return p, nil
}

// Current returns the CRL served for the CA, or nil if there is none (an
// unknown CA, or before Start).
func (p *Publisher) Current(ca string) *Published {
	s, ok := p.cas[ca]
	if !ok {
		return nil
	}
	return s.current.Load()
}

// Start loads each CA's latest CRL from the store, and builds one where
// none is usable: none was ever published, it has expired, or it misses
// revocations. It returns the first error of a CA that is left with no
// CRL at all; a CA with an old but unexpired CRL is rebuilt by Run.
func (p *Publisher) Start(ctx context.Context) error {
	for name, s := range p.cas {
		c, err := p.store.LatestCRL(ctx, name)
		switch {
		case err == nil:
			p.install(name, s, newPublished(c))
			s.jitter = p.jitter(s)
		case !errs.Is(err, errs.NotFound):
			return err
		}
		cur := s.current.Load()
		// RFC 5280 5.2.5: the shard of a certificate is fixed by its
		// serial and the shard count it was issued under; with another
		// count, certificates already issued would name a shard CRL
		// that no longer lists them when they are revoked.
		if cur != nil && len(cur.Shards) > 0 && len(cur.Shards) != s.a.CRLShards {
			return errs.New(errs.Config, "cas[%s].crl.shards: the published CRL has %d shards, the configuration %d; "+
				"certificates issued before name their shard by the old count, so it cannot change while they are valid",
				name, len(cur.Shards), s.a.CRLShards)
		}
		if cur != nil && p.now().Before(cur.NextUpdate) && len(cur.Shards) == s.shards() && s.deltaCurrent(cur, p.now()) {
			continue
		}
		if _, err := p.Rebuild(ctx, name); err != nil {
			if cur == nil {
				return fmt.Errorf("CA %s: first CRL: %w", name, err)
			}
			p.log.Error("CRL rebuild failed; serving the expired one", "ca", name, "number", cur.Number, "err", err)
		}
	}
	return nil
}

// Run keeps every CA's CRL current until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for name, s := range p.cas {
		wg.Go(func() { p.loop(ctx, name, s) })
	}
	wg.Wait()
}

// OnRevoke is the ca.Core hook: it asks for a rebuild of the CA's CRL and
// returns at once (Core calls it inside the revoking request).
func (p *Publisher) OnRevoke(_ context.Context, caName, _ string) {
	s, ok := p.cas[caName]
	if !ok {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default: // a rebuild is already asked for
	}
}

func (p *Publisher) loop(ctx context.Context, name string, s *caState) {
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			// Coalesce a burst: revocations until the timer fires join
			// this rebuild.
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.cfg.Coalesce):
			}
			select {
			case <-s.kick:
			default:
			}
			p.rebuildInLoop(ctx, name, s, "revocation")
		case <-poll.C:
			p.check(ctx, name, s)
		}
	}
}

// check looks at the store and decides whether to adopt a CRL another
// replica published or to rebuild.
func (p *Publisher) check(ctx context.Context, name string, s *caState) {
	now := p.now()
	st, err := p.store.RevocationState(ctx, name)
	if err != nil {
		p.log.Warn("CRL: cannot read the revocation state", "ca", name, "err", err)
		return
	}
	cur := s.current.Load()
	if st.Published.Number > 0 && (cur == nil || st.Published.Number > cur.Number) {
		if err := p.adopt(ctx, name, s); err != nil {
			p.log.Warn("CRL: cannot load the latest CRL", "ca", name, "err", err)
			return
		}
		cur = s.current.Load()
	}
	if !s.retryAt.IsZero() {
		if now.Before(s.retryAt) {
			return
		}
		p.rebuildInLoop(ctx, name, s, "retry")
		return
	}
	switch {
	case cur == nil:
		p.rebuildInLoop(ctx, name, s, "none published")
	case now.Sub(cur.ThisUpdate) >= s.cfg.every()+s.jitter:
		p.rebuildInLoop(ctx, name, s, "schedule")
	case st.Generation > cur.Generation:
		// Give the replica that revoked the time to publish first.
		if s.staleSince.IsZero() {
			s.staleSince = now
		} else if now.Sub(s.staleSince) >= p.cfg.Coalesce+p.cfg.PollInterval {
			p.rebuildInLoop(ctx, name, s, "revocation elsewhere")
		}
	default:
		s.staleSince = time.Time{}
	}
}

// rebuildInLoop rebuilds and schedules the retry of a failure.
func (p *Publisher) rebuildInLoop(ctx context.Context, name string, s *caState, why string) {
	if _, err := p.Rebuild(ctx, name); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.backoff = min(max(2*s.backoff, time.Second), time.Minute)
		s.retryAt = p.now().Add(s.backoff)
		level := slog.LevelWarn
		if cur := s.current.Load(); cur == nil || p.now().Add(time.Hour).After(cur.NextUpdate) {
			level = slog.LevelError // relying parties are about to be left without a CRL
		}
		p.log.Log(ctx, level, "CRL rebuild failed", "ca", name, "why", why, "retry_in", s.backoff, "err", err)
		return
	}
	s.backoff, s.retryAt, s.staleSince = 0, time.Time{}, time.Time{}
	s.jitter = p.jitter(s)
}

// jitter spreads scheduled rebuilds of replicas over up to a twentieth of
// the schedule (at most 5 minutes).
func (p *Publisher) jitter(s *caState) time.Duration {
	span := min(s.cfg.every()/20, 5*time.Minute)
	if span <= 0 {
		return 0
	}
	return rand.N(span)
}

// adopt loads the store's latest CRL if it is newer than the one served.
func (p *Publisher) adopt(ctx context.Context, name string, s *caState) error {
	c, err := p.store.LatestCRL(ctx, name)
	if err != nil {
		return err
	}
	if p.install(name, s, newPublished(c)) {
		s.jitter = p.jitter(s)
		s.staleSince = time.Time{}
		p.log.Info("CRL adopted from the store", "ca", name, "number", c.Number, "this_update", c.ThisUpdate)
	}
	return nil
}

// shards is how many shard CRLs the CA publishes (0: the full CRL only).
func (s *caState) shards() int {
	if s.a.CRLShards < 2 {
		return 0
	}
	return s.a.CRLShards
}

// deltaCurrent reports whether c has the delta CRL the configuration
// asks for, unexpired at now; without delta CRLs, whether it has none.
func (s *caState) deltaCurrent(c *Published, now time.Time) bool {
	if s.cfg.DeltaValidity <= 0 {
		return c.Delta == nil
	}
	return c.Delta != nil && now.Before(c.Delta.NextUpdate)
}

// maxDeltaChanges caps the certificates a delta CRL lists; with more
// changes since its base, the complete CRL being built becomes the base.
const maxDeltaChanges = 10000

// buildDelta builds the delta CRL published with the complete CRL number
// (read at generation gen, thisUpdate this). Its base stays that of the
// served delta until it is RebuildEvery old; then, or when the revocation
// events since are no longer all in the store, or are too many, the
// complete CRL being built is the base. It returns the delta and how many
// entries it has.
func (p *Publisher) buildDelta(ctx context.Context, name string, s *caState, number, gen int64, this time.Time) (*storage.DeltaCRL, int, error) {
	base, baseThis, baseGen := number, this, gen
	if cur := s.current.Load(); cur != nil && cur.Delta != nil && this.Sub(cur.Delta.BaseThisUpdate) < s.cfg.RebuildEvery && cur.Delta.Base < number {
		base, baseThis, baseGen = cur.Delta.Base, cur.Delta.BaseThisUpdate, cur.Delta.BaseGeneration
	}
	entries, ok, err := p.changesSince(ctx, name, baseGen, gen, this)
	if err == nil && !ok && base != number {
		p.log.Info("delta CRL: a new base", "ca", name, "base", number, "why", "the changes since the last base are gone from the store or too many")
		base, baseThis, baseGen = number, this, gen
		entries, ok, err = p.changesSince(ctx, name, gen, gen, this)
	}
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, errs.New(errs.Internal, "the revocation events after generation %d are not in the store", gen)
	}
	dn, err := p.store.NextCRLNumber(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	next := this.Add(s.cfg.DeltaValidity)
	der, err := p.builder.Build(ctx, s.a, Params{Number: dn, ThisUpdate: this, NextUpdate: next, SizeHint: len(entries), DeltaBase: base},
		SliceSource(entries))
	if err != nil {
		return nil, 0, err
	}
	return &storage.DeltaCRL{Number: dn, Base: base, BaseThisUpdate: baseThis, BaseGeneration: baseGen, NextUpdate: next, DER: der}, len(entries), nil
}

// changesSince lists the delta CRL entries of the CA's revocation events
// after generation after (RFC 5280 5.2.4): each certificate they name
// that is revoked and unexpired at this, as the full CRL lists it, and
// each released from hold, with removeFromCRL. ok is false when the events
// from after to gen are no longer all in the store (pruned, see
// storage.RevocationStore.RevocationEvents), or name more than
// maxDeltaChanges certificates.
func (p *Publisher) changesSince(ctx context.Context, name string, after, gen int64, this time.Time) (entries []Entry, ok bool, err error) {
	seen := map[string]bool{}
	last := after
	for {
		page, err := p.store.RevocationEvents(ctx, name, last, p.cfg.PageSize)
		if err != nil {
			return nil, false, err
		}
		if len(page) > 0 && page[0].Generation != last+1 {
			return nil, false, nil
		}
		for _, e := range page {
			last = e.Generation
			if seen[e.Serial] {
				continue
			}
			seen[e.Serial] = true
			if len(seen) > maxDeltaChanges {
				return nil, false, nil
			}
			cs, err := p.store.CertificateStatus(ctx, e.Serial)
			if err != nil {
				return nil, false, err
			}
			serial, err := hex.DecodeString(e.Serial)
			if err != nil {
				return nil, false, errs.Wrap(errs.Internal, err, "stored serial %q", e.Serial)
			}
			switch {
			case cs.NotAfter.Before(this): // expired: in no CRL any more
			case cs.Status == storage.StatusRevoked:
				entries = append(entries, Entry{Serial: serial, RevokedAt: cs.RevokedAt, Reason: cs.Reason})
			default: // released from hold
				entries = append(entries, Entry{Serial: serial, RevokedAt: this, Removed: true})
			}
		}
		if len(page) < p.cfg.PageSize {
			return entries, last >= gen, nil
		}
	}
}

// set serves c unless a CRL with a higher or equal number is served, and
// reports whether it did.
func (s *caState) set(c *Published) bool {
	for {
		cur := s.current.Load()
		if cur != nil && cur.Number >= c.Number {
			return false
		}
		if s.current.CompareAndSwap(cur, c) {
			return true
		}
	}
}

// install makes c the CRL served for CA name, unless a newer one is, and
// writes it to the publish directory; it reports whether c is served.
func (p *Publisher) install(name string, s *caState, c *Published) bool {
	if !s.set(c) {
		return false
	}
	if p.cfg.Dir != "" {
		if err := WriteDir(p.cfg.Dir, name, c); err != nil {
			p.log.Error("CRL: cannot write it to the publish directory; it is served all the same", "ca", name, "number", c.Number, "dir", p.cfg.Dir, "err", err)
		}
	}
	return true
}

// Rebuild builds, signs and publishes a new CRL of the CA now, and returns
// the CRL served afterwards (a newer one, if another replica published
// one meanwhile).
func (p *Publisher) Rebuild(ctx context.Context, name string) (*Published, error) {
	s, ok := p.cas[name]
	if !ok {
		return nil, errs.New(errs.NotFound, "no CA %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()

	st, err := p.store.RevocationState(ctx, name)
	if err != nil {
		return nil, err
	}
	number, err := p.store.NextCRLNumber(ctx, name)
	if err != nil {
		return nil, err
	}
	this := p.now().UTC().Truncate(time.Second)
	next := this.Add(s.cfg.Validity)
	count, err := p.store.CountRevoked(ctx, name, this)
	if err != nil {
		return nil, err
	}
	var freshest string
	if s.cfg.DeltaValidity > 0 {
		freshest = p.cfg.URLs.DeltaCRL(name)
	}
	der, err := p.builder.Build(ctx, s.a, Params{Number: number, ThisUpdate: this, NextUpdate: next, SizeHint: count, Freshest: freshest},
		p.storeSource(name, this, -1))
	if err != nil {
		return nil, err
	}
	n := s.shards()
	var shards [][]byte
	for k := range n {
		// TODO: each shard reads the CA's revoked certificates again; one
		// pass feeding every shard's encoder would read them once.
		der, err := p.builder.Build(ctx, s.a, Params{Number: number, ThisUpdate: this, NextUpdate: next,
			SizeHint: count/n + count/(4*n), IDP: p.cfg.URLs.CRLShard(name, k)}, p.storeSource(name, this, k))
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", k, err)
		}
		shards = append(shards, der)
	}
	var (
		delta   *storage.DeltaCRL
		changes int
	)
	if freshest != "" {
		if delta, changes, err = p.buildDelta(ctx, name, s, number, st.Generation, this); err != nil {
			return nil, fmt.Errorf("delta CRL: %w", err)
		}
	}
	// Key use goes to the audit trail; the DER does not (it can be tens
	// of megabytes, and the CRL itself is public and in the store).
	detail := fmt.Sprintf("CRL %d of CA %s, thisUpdate %s, nextUpdate %s, %d entries, %d bytes, %d shard CRLs",
		number, name, this.Format(time.RFC3339), next.Format(time.RFC3339), count, len(der), n)
	if delta != nil {
		detail += fmt.Sprintf(", delta CRL %d on base %d, nextUpdate %s, %d entries", delta.Number, delta.Base, delta.NextUpdate.Format(time.RFC3339), changes)
	}
	if _, err := p.store.AppendAudit(ctx, storage.AuditEvent{
		At: p.now(), Actor: "gateway crl", Action: "crl-sign", Detail: detail + ", key " + s.a.Key.URI(),
	}); err != nil {
		return nil, err
	}
	rec := storage.PublishedCRL{CA: name, Number: number, ThisUpdate: this, NextUpdate: next, Generation: st.Generation, DER: der, Shards: shards, Delta: delta}
	stored, err := p.store.PublishCRL(ctx, rec)
	if err != nil {
		return nil, err
	}
	if !stored {
		// Another replica published a higher number meanwhile: serve
		// that one.
		p.log.Info("CRL superseded before it was published", "ca", name, "number", number)
		if err := p.adopt(ctx, name, s); err != nil {
			return nil, err
		}
		return s.current.Load(), nil
	}
	p.install(name, s, newPublished(rec))
	p.log.Info("CRL published", "ca", name, "number", number, "entries", count, "bytes", len(der), "shards", n, "delta_entries", changes,
		"this_update", this, "next_update", next, "generation", st.Generation, "duration_ms", time.Since(start).Milliseconds())
	return s.current.Load(), nil
}

// storeSource streams the CA's unexpired revoked certificates from the
// store, a page at a time: all of them if shard is negative, else those
// of that shard (ca.CRLShard).
func (p *Publisher) storeSource(name string, since time.Time, shard int) Source {
	n := p.cas[name].a.CRLShards
	return func(ctx context.Context, emit func(Entry) error) error {
		var (
			after storage.RevokedEntry
			buf   []byte
		)
		for {
			page, err := p.store.ListRevoked(ctx, name, since, after, p.cfg.PageSize)
			if err != nil {
				return err
			}
			for _, e := range page {
				buf = buf[:0]
				buf, err = hex.AppendDecode(buf, []byte(e.Serial))
				if err != nil {
					return errs.Wrap(errs.Internal, err, "stored serial %q", e.Serial)
				}
				if shard >= 0 && ca.CRLShard(buf, n) != shard {
					continue
				}
				if err := emit(Entry{Serial: buf, RevokedAt: e.RevokedAt, Reason: e.Reason}); err != nil {
					return err
				}
			}
			if len(page) < p.cfg.PageSize {
				return nil
			}
			after = page[len(page)-1]
		}
	}
}
