package crl

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/storage/storagetest"
	"github.com/certgw/gateway/test/teststore"
)

// Both stores give the publisher what it needs.
var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// clock is an injected clock that tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func newPub(t *testing.T, st storage.Store, cas map[string]*ca.Authority, c *clock) *Publisher {
	t.Helper()
	p, err := NewPublisher(Config{Coalesce: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond},
		st.(Store), &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()}, cas, slog.New(slog.DiscardHandler), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run starts p's loop until the test ends.
func run(t *testing.T, p *Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// serials lists the serials of the CRL p serves for ca.
func serials(t *testing.T, p *Publisher, caName string) map[string]int {
	t.Helper()
	cur := p.Current(caName)
	crl, err := x509.ParseRevocationList(cur.DER)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number.Int64() != cur.Number {
		t.Fatalf("served CRL has number %v, its record %d", crl.Number, cur.Number)
	}
	out := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		out[hex.EncodeToString(e.SerialNumber.Bytes())] = e.ReasonCode
	}
	return out
}

// waitFor polls cond for up to 5 seconds and returns how long it took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within 5s", what)
	return 0
}

func TestPublisher(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := t.Context()
		cas := hierarchy(t, st, "")
		c := &clock{}
		p := newPub(t, st, cas, c)
		if p.Current("issuing") != nil {
			t.Fatal("a CRL before Start")
		}
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"root", "issuing"} {
			if cur := p.Current(name); cur == nil || cur.Number != 1 || len(serials(t, p, name)) != 0 {
				t.Fatalf("%s after Start: %+v, want an empty CRL number 1", name, cur)
			}
		}
		run(t, p)

		// A revocation in this process is published within a second.
		now := c.now()
		activeCert(t, st, "issuing", "8a01", now.Add(48*time.Hour))
		if err := st.RevokeCertificate(ctx, "8a01", 1, now, storagetest.Event("revoke", "8a01")); err != nil {
			t.Fatal(err)
		}
		p.OnRevoke(ctx, "issuing", "8a01")
		took := waitFor(t, "revocation in the CRL", func() bool { return serials(t, p, "issuing")["8a01"] == 1 })
		if took > 2*time.Second {
			t.Errorf("published %v after the revocation", took)
		}
		if n := p.Current("issuing").Number; n != 2 {
			t.Errorf("CRL number %d after one revocation, want 2", n)
		}

		// A burst makes few CRLs, all of it in the last.
		before := p.Current("issuing").Number
		for i := range 10 {
			serial := fmt.Sprintf("8b%02x", i)
			activeCert(t, st, "issuing", serial, now.Add(48*time.Hour))
			if err := st.RevokeCertificate(ctx, serial, 4, now, storagetest.Event("revoke", serial)); err != nil {
				t.Fatal(err)
			}
			p.OnRevoke(ctx, "issuing", serial)
		}
		waitFor(t, "the burst in the CRL", func() bool { return len(serials(t, p, "issuing")) == 11 })
		if n := p.Current("issuing").Number - before; n > 3 {
			t.Errorf("a burst of 10 revocations made %d CRLs", n)
		}

		// A second replica adopts the store's CRL; a revocation nobody
		// announced (another replica's, which crashed before publishing)
		// is published by one of them, and both serve the same CRL.
		p2 := newPub(t, st, cas, c)
		if err := p2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if p2.Current("issuing").Number != p.Current("issuing").Number {
			t.Fatalf("replica serves CRL %d, the first %d", p2.Current("issuing").Number, p.Current("issuing").Number)
		}
		run(t, p2)
		activeCert(t, st, "issuing", "8c01", now.Add(48*time.Hour))
		if err := st.RevokeCertificate(ctx, "8c01", 9, now, storagetest.Event("revoke", "8c01")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the silent revocation on both replicas", func() bool {
			return serials(t, p, "issuing")["8c01"] == 9 && serials(t, p2, "issuing")["8c01"] == 9 &&
				p.Current("issuing").Number == p2.Current("issuing").Number
		})

		// On schedule, and only unexpired entries: a certificate that
		// expires within 7 hours drops out of the CRL built after that.
		activeCert(t, st, "issuing", "8d01", now.Add(5*time.Hour))
		if err := st.RevokeCertificate(ctx, "8d01", 1, now, storagetest.Event("revoke", "8d01")); err != nil {
			t.Fatal(err)
		}
		p.OnRevoke(ctx, "issuing", "8d01")
		waitFor(t, "short-lived certificate in the CRL", func() bool { _, ok := serials(t, p, "issuing")["8d01"]; return ok })
		number := p.Current("issuing").Number
		c.advance(7 * time.Hour)
		waitFor(t, "scheduled rebuild", func() bool { return p.Current("issuing").Number > number })
		got := serials(t, p, "issuing")
		if _, ok := got["8d01"]; ok || len(got) != 12 {
			t.Errorf("after expiry: %d entries, 8d01 listed: %v; want the 12 unexpired ones", len(got), ok)
		}
		if cur := p.Current("issuing"); !cur.ThisUpdate.After(now.Add(6 * time.Hour)) {
			t.Errorf("thisUpdate %v is not from the injected clock", cur.ThisUpdate)
		}

		// Every signature of the CA key is audited (counted once both
		// replicas are done).
		var state storage.RevocationState
		waitFor(t, "replicas settled", func() bool {
			state, _ = st.(Store).RevocationState(ctx, "issuing")
			return state.CRLNumber == p.Current("issuing").Number && state.CRLNumber == p2.Current("issuing").Number
		})
		events, err := st.ListAudit(ctx, storage.AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		signed := 0
		for _, e := range events {
			if e.Action == "crl-sign" && strings.Contains(e.Detail, "of CA issuing") {
				signed++
			}
		}
		if int64(signed) != state.CRLNumber {
			t.Errorf("%d crl-sign audit events for %d CRLs signed", signed, state.CRLNumber)
		}

		// A restart serves the stored CRL and numbers on from it.
		p3 := newPub(t, st, cas, c)
		if err := p3.Start(ctx); err != nil {
			t.Fatal(err)
		}
		last := p3.Current("issuing").Number
		if last < p.Current("issuing").Number {
			t.Fatalf("after a restart: CRL %d, before %d", last, p.Current("issuing").Number)
		}
		next, err := p3.Rebuild(ctx, "issuing")
		if err != nil {
			t.Fatal(err)
		}
		if next.Number <= last {
			t.Fatalf("rebuild after a restart got number %d, not above %d", next.Number, last)
		}
	})
}

// A replica whose rebuild is overtaken serves the newer CRL, never its own
// older one.
func TestPublisherNeverGoesBack(t *testing.T) {
	st := teststore.SQLite(t)
	cas := hierarchy(t, st, "")
	c := &clock{}
	p := newPub(t, st, cas, c)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	rs := st.(Store)
	// Another replica takes numbers and publishes a later one.
	rs.NextCRLNumber(t.Context(), "issuing")
	n, _ := rs.NextCRLNumber(t.Context(), "issuing")
	der := p.Current("issuing").DER // any valid DER does for the store
	if ok, err := rs.PublishCRL(t.Context(), storage.PublishedCRL{CA: "issuing", Number: n + 5, ThisUpdate: c.now(), NextUpdate: c.now().Add(time.Hour), DER: der}); err != nil || !ok {
		t.Fatal(ok, err)
	}
	got, err := p.Rebuild(t.Context(), "issuing")
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != n+5 {
		t.Fatalf("after an overtaken rebuild the publisher serves %d, want the store's %d", got.Number, n+5)
	}
}

func TestConfig(t *testing.T) {
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	d := Config{}.WithDefaults()
	if d.Validity != 24*time.Hour || d.RebuildEvery != 6*time.Hour {
		t.Errorf("defaults %+v, want 24h validity rebuilt every 6h", d)
	}
	bad := Config{
		CAConfig: CAConfig{Validity: 11 * 24 * time.Hour},
		CAs: map[string]CAConfig{"issuing": {Validity: time.Hour, RebuildEvery: time.Hour},
			"short": {DeltaValidity: time.Minute}, "long": {DeltaValidity: 7 * time.Hour}},
		Coalesce: time.Minute, PollInterval: -1, MaxAge: -1, PageSize: 1e6,
	}.WithDefaults()
	err := bad.Validate()
	for _, want := range []string{"crl.validity", "crl.cas[issuing].rebuild_every", "crl.cas[short].delta_validity: 0 (no delta CRLs) or from 10m0s to rebuild_every (6h0m0s), got 1m0s",
		"crl.cas[long].delta_validity", "crl.coalesce", "crl.poll_interval", "crl.max_age", "crl.page_size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if got := (Config{CAs: map[string]CAConfig{"root": {Validity: 48 * time.Hour}}}).WithDefaults().For("root"); got.Validity != 48*time.Hour || got.RebuildEvery != 6*time.Hour {
		t.Errorf("For(root) = %+v", got)
	}
}

// A certificate on hold is in the CRL with reason certificateHold, and out
// of the next CRL once released.
func TestPublisherFollowsAReleasedHold(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := t.Context()
		c := &clock{}
		p := newPub(t, st, hierarchy(t, st, ""), c)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		run(t, p)
		activeCert(t, st, "issuing", "8e01", c.now().Add(48*time.Hour))
		if err := st.RevokeCertificate(ctx, "8e01", 6, c.now(), storagetest.Event("revoke", "8e01")); err != nil {
			t.Fatal(err)
		}
		p.OnRevoke(ctx, "issuing", "8e01")
		waitFor(t, "the hold in the CRL", func() bool { return serials(t, p, "issuing")["8e01"] == 6 })
		if err := st.ReleaseHold(ctx, "8e01", storagetest.Event("release-hold", "8e01")); err != nil {
			t.Fatal(err)
		}
		p.OnRevoke(ctx, "issuing", "8e01")
		waitFor(t, "the release in the CRL", func() bool { _, listed := serials(t, p, "issuing")["8e01"]; return !listed })
	})
}
