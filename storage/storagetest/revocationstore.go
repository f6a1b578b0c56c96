package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RevocationOpener opens a fresh, empty store that implements both
// storage.Store and storage.RevocationStore.
type RevocationOpener func(t *testing.T) RevocationStore

// RevocationStore is what RunRevocation tests: the full store, since the
// revocation data follows from certificates being revoked.
type RevocationStore interface {
	storage.Store
	storage.RevocationStore
}

// RunRevocation runs the conformance suite of storage.RevocationStore.
// open must behave as for Run.
func RunRevocation(t *testing.T, open RevocationOpener) {
	t.Run("CRLNumber", func(t *testing.T) { testCRLNumber(t, open) })
	t.Run("CRLNumberConcurrent", func(t *testing.T) { testCRLNumberConcurrent(t, open) })
	t.Run("PublishCRL", func(t *testing.T) { testPublishCRL(t, open) })
	t.Run("Generation", func(t *testing.T) { testGeneration(t, open) })
	t.Run("ReleaseHold", func(t *testing.T) { testReleaseHold(t, open) })
	t.Run("PruneRevocationEvents", func(t *testing.T) { testPruneRevocationEvents(t, open) })
	t.Run("ListRevoked", func(t *testing.T) { testListRevoked(t, open) })
	t.Run("CertificateStatus", func(t *testing.T) { testCertificateStatus(t, open) })
	t.Run("OCSPResponder", func(t *testing.T) { testOCSPResponder(t, open) })
	t.Run("ExpiredOCSPResponders", func(t *testing.T) { testExpiredOCSPResponders(t, open) })
}

// withCAs returns a fresh store holding the CAs "root" and "other".
func withCAs(t *testing.T, open RevocationOpener) (RevocationStore, context.Context) {
	t.Helper()
	s, ctx := open(t), t.Context()
	must(t, "InsertCA(root)", s.InsertCA(ctx, rootCA("root", base), Event("init-ca", "")))
	must(t, "InsertCA(other)", s.InsertCA(ctx, rootCA("other", base), Event("init-ca", "")))
	return s, ctx
}

// issueTo stores an active certificate of ca expiring at notAfter.
func issueTo(t *testing.T, s storage.Store, ctx context.Context, ca, serial string, notAfter time.Time) {
	t.Helper()
	c := pendingCert(serial)
	c.CA = ca
	c.NotAfter = notAfter
	activate(t, s, ctx, c)
}

func testCRLNumber(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	for i, want := range []int64{1, 2, 3} {
		got, err := s.NextCRLNumber(ctx, "root")
		must(t, "NextCRLNumber", err)
		if got != want {
			t.Fatalf("NextCRLNumber(root) #%d = %d, want %d", i, got, want)
		}
	}
	// Each CA counts on its own.
	if got, err := s.NextCRLNumber(ctx, "other"); err != nil || got != 1 {
		t.Errorf("NextCRLNumber(other) = %d, %v; want 1", got, err)
	}
	_, err := s.NextCRLNumber(ctx, "nope")
	wantKind(t, "NextCRLNumber(unknown CA)", err, errs.NotFound)
	st, err := s.RevocationState(ctx, "root")
	must(t, "RevocationState", err)
	if st.CRLNumber != 3 {
		t.Errorf("RevocationState.CRLNumber = %d, want 3 (the last handed out)", st.CRLNumber)
	}
}

// Numbers handed out at once to many callers are all different and leave
// no gap.
func testCRLNumberConcurrent(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	const callers, each = 8, 10
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for range callers {
		wg.Go(func() {
			for range each {
				n, err := s.NextCRLNumber(ctx, "root")
				if err != nil {
					t.Errorf("NextCRLNumber: %v", err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("numbers handed out concurrently = %v, want 1..%d each once", got, callers*each)
		}
	}
}

func testPublishCRL(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	_, err := s.LatestCRL(ctx, "root")
	wantKind(t, "LatestCRL before any", err, errs.NotFound)

	crl := func(n int64, seed byte) storage.PublishedCRL {
		this := base.Add(time.Duration(n) * time.Hour)
		return storage.PublishedCRL{CA: "root", Number: n, ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), Generation: n * 10, DER: testDER(seed)}
	}
	publishSteps(t, ctx, s, []publishStep{
		{"first", crl(2, 1), true, crl(2, 1)},
		{"older number", crl(1, 2), false, crl(2, 1)},
		{"same number, other bytes", crl(2, 3), false, crl(2, 1)},
		{"newer", crl(5, 4), true, crl(5, 4)},
	})
	got, err := s.LatestCRL(ctx, "root")
	must(t, "LatestCRL", err)
	checkUTC(t, "ThisUpdate", got.ThisUpdate)
	checkUTC(t, "NextUpdate", got.NextUpdate)
	state, err := s.RevocationState(ctx, "root")
	must(t, "RevocationState", err)
	want := normCRL(crl(5, 4))
	want.DER = nil
	if !reflect.DeepEqual(state.Published, want) {
		t.Errorf("RevocationState().Published = %+v, want %+v", state.Published, want)
	}
	if _, err := s.LatestCRL(ctx, "other"); !errs.Is(err, errs.NotFound) {
		t.Errorf("LatestCRL(other) = %v, want NotFound: CRLs are per CA", err)
	}

	bad := []struct {
		name string
		edit func(*storage.PublishedCRL)
		kind errs.Kind
	}{
		{"number 0", func(c *storage.PublishedCRL) { c.Number = 0 }, errs.Malformed},
		{"no DER", func(c *storage.PublishedCRL) { c.DER = nil }, errs.Malformed},
		{"nextUpdate before thisUpdate", func(c *storage.PublishedCRL) { c.NextUpdate = c.ThisUpdate.Add(-time.Second) }, errs.Malformed},
		{"unknown CA", func(c *storage.PublishedCRL) { c.CA = "nope" }, errs.NotFound},
	}
	for _, b := range bad {
		c := crl(9, 9)
		b.edit(&c)
		_, err := s.PublishCRL(ctx, c)
		wantKind(t, "PublishCRL("+b.name+")", err, b.kind)
	}
	if got, _ := s.LatestCRL(ctx, "root"); got.Number != 5 {
		t.Errorf("refused publications changed the latest CRL to %d", got.Number)
	}

	// Partitioned CRLs: the shards go and come with their CRL, and a
	// newer CRL's shards replace the older's, however many there are.
	sharded := func(n int64, seeds ...byte) storage.PublishedCRL {
		c := crl(n, seeds[0])
		for _, seed := range seeds[1:] {
			c.Shards = append(c.Shards, testDER(seed))
		}
		return c
	}
	publishSteps(t, ctx, s, []publishStep{
		{"three shards", sharded(6, 10, 11, 12, 13), true, sharded(6, 10, 11, 12, 13)},
		{"older number, other shards", sharded(4, 20, 21), false, sharded(6, 10, 11, 12, 13)},
		{"two shards", sharded(7, 30, 31, 32), true, sharded(7, 30, 31, 32)},
		{"no shards", crl(8, 40), true, crl(8, 40)},
	})
	empty := sharded(9, 50, 51)
	empty.Shards = append(empty.Shards, nil)
	_, err = s.PublishCRL(ctx, empty)
	wantKind(t, "PublishCRL(empty shard)", err, errs.Malformed)

	// Delta CRLs go and come with their CRL; a CRL without one clears
	// the last.
	withDelta := func(n, delta, baseN int64, seed byte) storage.PublishedCRL {
		c := crl(n, seed)
		c.Delta = &storage.DeltaCRL{Number: delta, Base: baseN, BaseThisUpdate: crl(baseN, 0).ThisUpdate, BaseGeneration: baseN * 10,
			NextUpdate: c.ThisUpdate.Add(time.Hour), DER: testDER(seed + 1)}
		return c
	}
	publishSteps(t, ctx, s, []publishStep{
		{"a delta", withDelta(10, 11, 10, 60), true, withDelta(10, 11, 10, 60)},
		{"older number, another delta", withDelta(9, 12, 9, 62), false, withDelta(10, 11, 10, 60)},
		{"a delta on an older base", withDelta(12, 13, 10, 64), true, withDelta(12, 13, 10, 64)},
		{"no delta", crl(14, 66), true, crl(14, 66)},
	})
	for _, b := range []struct {
		name string
		edit func(*storage.DeltaCRL)
	}{
		{"delta number not above", func(d *storage.DeltaCRL) { d.Number = 20 }},
		{"delta base above the CRL", func(d *storage.DeltaCRL) { d.Base = 21 }},
		{"delta base 0", func(d *storage.DeltaCRL) { d.Base = 0 }},
		{"delta without DER", func(d *storage.DeltaCRL) { d.DER = nil }},
	} {
		c := withDelta(20, 21, 15, 70)
		b.edit(c.Delta)
		_, err := s.PublishCRL(ctx, c)
		wantKind(t, "PublishCRL("+b.name+")", err, errs.Malformed)
	}
}

// publishStep is one PublishCRL call, whether it stores, and what
// LatestCRL returns after it.
type publishStep struct {
	name   string
	crl    storage.PublishedCRL
	stored bool
	latest storage.PublishedCRL
}

// publishSteps publishes CRLs of "root" in order and checks each step.
func publishSteps(t *testing.T, ctx context.Context, s RevocationStore, steps []publishStep) {
	t.Helper()
	for _, st := range steps {
		stored, err := s.PublishCRL(ctx, st.crl)
		must(t, "PublishCRL("+st.name+")", err)
		if stored != st.stored {
			t.Errorf("PublishCRL(%s) = %v, want %v", st.name, stored, st.stored)
		}
		got, err := s.LatestCRL(ctx, "root")
		must(t, "LatestCRL", err)
		if want := normCRL(st.latest); !reflect.DeepEqual(got, want) {
			t.Errorf("after %s: LatestCRL() = %s; want %s", st.name, describeCRL(got), describeCRL(want))
		}
	}
}

// normCRL is c with its times as the store gives them back.
func normCRL(c storage.PublishedCRL) storage.PublishedCRL {
	c.ThisUpdate, c.NextUpdate = normTime(c.ThisUpdate), normTime(c.NextUpdate)
	if c.Delta != nil {
		d := *c.Delta
		d.BaseThisUpdate, d.NextUpdate = normTime(d.BaseThisUpdate), normTime(d.NextUpdate)
		c.Delta = &d
	}
	return c
}

func describeCRL(c storage.PublishedCRL) string {
	out := fmt.Sprintf("number %d (%s - %s, generation %d), DER %x, %d shards", c.Number, c.ThisUpdate, c.NextUpdate, c.Generation, c.DER, len(c.Shards))
	if d := c.Delta; d != nil {
		out += fmt.Sprintf(", delta %d on base %d (%s, generation %d), nextUpdate %s, DER %x", d.Number, d.Base, d.BaseThisUpdate, d.BaseGeneration, d.NextUpdate, d.DER)
	}
	return out
}

func testGeneration(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	future := base.Add(365 * 24 * time.Hour)
	for _, serial := range []string{"a1", "a2", "a3"} {
		issueTo(t, s, ctx, "root", serial, future)
	}
	issueTo(t, s, ctx, "other", "b1", future)

	st, err := s.RevocationState(ctx, "root")
	must(t, "RevocationState", err)
	if st.Generation != 0 || st.CRLNumber != 0 || st.Published.Number != 0 || !st.Published.ThisUpdate.IsZero() {
		t.Errorf("RevocationState() of a CA with no revocation = %+v, want zeros", st)
	}
	_, err = s.RevocationState(ctx, "nope")
	wantKind(t, "RevocationState(unknown CA)", err, errs.NotFound)

	at := base.Add(time.Hour)
	must(t, "RevokeCertificate(a2)", s.RevokeCertificate(ctx, "a2", 1, at, Event("revoke", "a2")))
	must(t, "RevokeCertificate(b1)", s.RevokeCertificate(ctx, "b1", 4, at, Event("revoke", "b1")))
	// A refused revocation changes nothing.
	wantKind(t, "second RevokeCertificate(a2)", s.RevokeCertificate(ctx, "a2", 1, at, Event("revoke", "a2")), errs.Conflict)
	must(t, "RevokeCertificate(a1)", s.RevokeCertificate(ctx, "a1", 0, at, Event("revoke", "a1")))

	gen := func(ca string) int64 {
		st, err := s.RevocationState(ctx, ca)
		must(t, "RevocationState", err)
		return st.Generation
	}
	if g := gen("root"); g != 2 {
		t.Errorf("generation of root = %d, want 2 (two revocations)", g)
	}
	if g := gen("other"); g != 1 {
		t.Errorf("generation of other = %d, want 1", g)
	}

	events, err := s.RevocationEvents(ctx, "root", 0, 10)
	must(t, "RevocationEvents", err)
	want := []storage.RevocationEvent{{CA: "root", Generation: 1, Serial: "a2"}, {CA: "root", Generation: 2, Serial: "a1"}}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("RevocationEvents(root, 0) = %+v, want %+v", events, want)
	}
	events, err = s.RevocationEvents(ctx, "root", 1, 10)
	must(t, "RevocationEvents", err)
	if !reflect.DeepEqual(events, want[1:]) {
		t.Errorf("RevocationEvents(root, 1) = %+v, want %+v", events, want[1:])
	}
	events, err = s.RevocationEvents(ctx, "root", 0, 1)
	must(t, "RevocationEvents", err)
	if !reflect.DeepEqual(events, want[:1]) {
		t.Errorf("RevocationEvents(root, 0, limit 1) = %+v, want %+v", events, want[:1])
	}
	if events, err := s.RevocationEvents(ctx, "root", 2, 10); err != nil || events != nil {
		t.Errorf("RevocationEvents(root, 2) = %v, %v; want nil", events, err)
	}
	_, err = s.RevocationEvents(ctx, "root", 0, 0)
	wantKind(t, "RevocationEvents(limit 0)", err, errs.Malformed)

	// A certificate of an external CA (an upstream) publishes its
	// revocation there: revoking it leaves no event and no generation.
	ext := storage.CA{Name: "ext", KeyURI: storage.UpstreamKeyPrefix + "https://acme.example/directory", CertDER: []byte{}, CreatedAt: base}
	must(t, "InsertCA(ext)", s.InsertCA(ctx, ext, Event("upstream-add", "")))
	issueTo(t, s, ctx, "ext", "e1", future)
	must(t, "RevokeCertificate(e1)", s.RevokeCertificate(ctx, "e1", 4, at, Event("revoke", "e1")))
	if st, err := s.RevocationState(ctx, "ext"); err != nil || st.Generation != 0 {
		t.Errorf("RevocationState(ext) after revoking its certificate = %+v, %v; want generation 0", st, err)
	}
	if events, err := s.RevocationEvents(ctx, "ext", 0, 10); err != nil || len(events) != 0 {
		t.Errorf("RevocationEvents(ext) = %+v, %v; want none", events, err)
	}

	// Many revocations at once: the generation ends at their number, and
	// the events hold each serial once, in generation order.
	var serials []string
	for i := range 12 {
		serial := fmt.Sprintf("c%02x", i)
		issueTo(t, s, ctx, "root", serial, future)
		serials = append(serials, serial)
	}
	var wg sync.WaitGroup
	for _, serial := range serials {
		wg.Go(func() {
			if err := s.RevokeCertificate(ctx, serial, 4, at, Event("revoke", serial)); err != nil {
				t.Errorf("RevokeCertificate(%s): %v", serial, err)
			}
		})
	}
	wg.Wait()
	if g := gen("root"); g != 14 {
		t.Errorf("generation after 12 concurrent revocations = %d, want 14", g)
	}
	events, err = s.RevocationEvents(ctx, "root", 2, 100)
	must(t, "RevocationEvents", err)
	var got []string
	for i, e := range events {
		if e.Generation != int64(i+3) {
			t.Errorf("event %d has generation %d, want %d", i, e.Generation, i+3)
		}
		got = append(got, e.Serial)
	}
	slices.Sort(got)
	if !reflect.DeepEqual(got, serials) {
		t.Errorf("serials of the concurrent revocations = %v, want %v", got, serials)
	}
}

// Pruning drops the oldest events of one CA only, never moves the
// generation, and leaves a log whose first event tells a reader that was
// further behind that it missed some (the gap after its generation).
func testPruneRevocationEvents(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	future := base.Add(365 * 24 * time.Hour)
	at := base.Add(time.Hour)
	revoke := func(ca string, serials ...string) {
		t.Helper()
		for _, serial := range serials {
			issueTo(t, s, ctx, ca, serial, future)
			must(t, "RevokeCertificate("+serial+")", s.RevokeCertificate(ctx, serial, 4, at, Event("revoke", serial)))
		}
	}
	generations := func(ca string, after int64) []int64 {
		t.Helper()
		events, err := s.RevocationEvents(ctx, ca, after, 100)
		must(t, "RevocationEvents", err)
		var g []int64
		for _, e := range events {
			g = append(g, e.Generation)
		}
		return g
	}
	prune := func(ca string, through int64, want int) {
		t.Helper()
		n, err := s.PruneRevocationEvents(ctx, ca, through)
		must(t, "PruneRevocationEvents", err)
		if n != want {
			t.Errorf("PruneRevocationEvents(%s, %d) = %d, want %d", ca, through, n, want)
		}
	}
	prune("root", 10, 0) // nothing to prune yet
	revoke("root", "a1", "a2", "a3", "a4", "a5")
	revoke("other", "b1")

	prune("root", 2, 2)
	if g := generations("root", 0); !reflect.DeepEqual(g, []int64{3, 4, 5}) {
		t.Errorf("events of root after pruning through 2 = %v, want [3 4 5]", g)
	}
	if g := generations("other", 0); !reflect.DeepEqual(g, []int64{1}) {
		t.Errorf("events of other after pruning root = %v, want [1]", g)
	}
	prune("root", 2, 0) // already gone
	prune("nope", 2, 0) // unknown CA

	// Replicas prune at once: each event goes once.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 4 {
		wg.Go(func() {
			n, err := s.PruneRevocationEvents(ctx, "root", 4)
			if err != nil {
				t.Errorf("concurrent PruneRevocationEvents: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 2 {
		t.Errorf("concurrent pruning through 4 deleted %d events, want 2", total)
	}

	// Pruning everything leaves the generation as it was, and the next
	// revocation takes the next one.
	prune("root", 100, 1)
	if g := generations("root", 0); g != nil {
		t.Errorf("events of root after pruning all = %v, want none", g)
	}
	st, err := s.RevocationState(ctx, "root")
	must(t, "RevocationState", err)
	if st.Generation != 5 {
		t.Errorf("generation after pruning = %d, want 5", st.Generation)
	}
	revoke("root", "a6")
	if g := generations("root", 0); !reflect.DeepEqual(g, []int64{6}) {
		t.Errorf("events of root after a new revocation = %v, want [6]", g)
	}
}

func testListRevoked(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	since := base.Add(100 * 24 * time.Hour)
	type row struct {
		serial   string
		ca       string
		notAfter time.Time
		revoke   bool
		reason   int
	}
	rows := []row{
		{"0a", "root", since.Add(-time.Microsecond), true, 1}, // expired just before since
		{"0b", "root", since, true, 0},                        // expires at since: still listed
		{"1c", "root", since.Add(time.Hour), true, 4},
		{"1b", "root", since.Add(time.Hour), true, 5}, // same not_after: by serial
		{"ff", "root", since.Add(time.Hour), true, 9},
		{"2a", "root", since.Add(2 * time.Hour), false, 0}, // active
		{"2b", "other", since.Add(2 * time.Hour), true, 1}, // other CA
		{"30", "root", since.Add(3 * time.Hour), true, 10},
		{"31", "root", since.Add(3 * time.Hour), true, 3},
	}
	revokedAt := base.Add(time.Minute)
	for i, r := range rows {
		issueTo(t, s, ctx, r.ca, r.serial, r.notAfter)
		if r.revoke {
			must(t, "RevokeCertificate", s.RevokeCertificate(ctx, r.serial, r.reason, revokedAt.Add(time.Duration(i)*time.Second), Event("revoke", r.serial)))
		}
	}
	must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("40")))

	var want []storage.RevokedEntry
	for _, i := range []int{1, 3, 2, 4, 7, 8} {
		r := rows[i]
		want = append(want, storage.RevokedEntry{Serial: r.serial, NotAfter: normTime(r.notAfter),
			RevokedAt: normTime(revokedAt.Add(time.Duration(i) * time.Second)), Reason: r.reason})
	}
	n, err := s.CountRevoked(ctx, "root", since)
	must(t, "CountRevoked", err)
	if n != len(want) {
		t.Errorf("CountRevoked(root) = %d, want %d", n, len(want))
	}

	for _, limit := range []int{1, 2, 4, 100} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var got []storage.RevokedEntry
			var after storage.RevokedEntry
			for page := 0; ; page++ {
				if page > len(want)+1 {
					t.Fatal("paging does not end")
				}
				entries, err := s.ListRevoked(ctx, "root", since, after, limit)
				must(t, "ListRevoked", err)
				if len(entries) > limit {
					t.Fatalf("page of %d entries, limit %d", len(entries), limit)
				}
				if len(entries) == 0 {
					break
				}
				got = append(got, entries...)
				after = entries[len(entries)-1]
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ListRevoked pages =\n%+v\nwant\n%+v", got, want)
			}
			for _, e := range got {
				checkUTC(t, "NotAfter", e.NotAfter)
				checkUTC(t, "RevokedAt", e.RevokedAt)
			}
		})
	}
	// A cursor before since starts at since.
	got, err := s.ListRevoked(ctx, "root", since, storage.RevokedEntry{Serial: "00", NotAfter: base}, 100)
	must(t, "ListRevoked", err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListRevoked(cursor before since) = %+v, want %+v", got, want)
	}
	if got, err := s.ListRevoked(ctx, "root", since.Add(10*time.Hour), storage.RevokedEntry{}, 10); err != nil || got != nil {
		t.Errorf("ListRevoked(all expired) = %v, %v; want nil", got, err)
	}
	_, err = s.ListRevoked(ctx, "root", since, storage.RevokedEntry{}, 0)
	wantKind(t, "ListRevoked(limit 0)", err, errs.Malformed)
}

func testCertificateStatus(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	notAfter := base.Add(90 * 24 * time.Hour)
	issueTo(t, s, ctx, "root", "01", notAfter)
	issueTo(t, s, ctx, "other", "02", notAfter)
	must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("03")))
	at := base.Add(2 * time.Hour)
	must(t, "RevokeCertificate", s.RevokeCertificate(ctx, "02", 1, at, Event("revoke", "02")))

	tests := []struct {
		serial string
		want   storage.CertificateStatus
	}{
		{"01", storage.CertificateStatus{Serial: "01", CA: "root", Status: storage.StatusActive, NotAfter: normTime(notAfter)}},
		{"02", storage.CertificateStatus{Serial: "02", CA: "other", Status: storage.StatusRevoked, NotAfter: normTime(notAfter), RevokedAt: normTime(at), Reason: 1}},
		{"03", storage.CertificateStatus{Serial: "03", CA: "root", Status: storage.StatusPending, NotAfter: normTime(pendingCert("03").NotAfter)}},
	}
	for _, tt := range tests {
		got, err := s.CertificateStatus(ctx, tt.serial)
		must(t, "CertificateStatus", err)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CertificateStatus(%s) = %+v, want %+v", tt.serial, got, tt.want)
		}
		checkUTC(t, "NotAfter", got.NotAfter)
	}
	_, err := s.CertificateStatus(ctx, "ff")
	wantKind(t, "CertificateStatus(unknown)", err, errs.NotFound)
}

func testOCSPResponder(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	_, err := s.LatestOCSPResponder(ctx, "root")
	wantKind(t, "LatestOCSPResponder before any", err, errs.NotFound)

	r := func(uri string, notAfter, created time.Duration, seed byte) storage.OCSPResponder {
		return storage.OCSPResponder{CA: "root", KeyURI: uri, CertDER: testDER(seed),
			NotAfter: base.Add(notAfter), CreatedAt: base.Add(created)}
	}
	norm := func(o storage.OCSPResponder) storage.OCSPResponder {
		o.NotAfter, o.CreatedAt = normTime(o.NotAfter), normTime(o.CreatedAt)
		return o
	}
	steps := []struct {
		insert storage.OCSPResponder
		latest string
	}{
		{r("pkcs11:object=ocsp-root-1", 7*24*time.Hour, 0, 1), "pkcs11:object=ocsp-root-1"},
		// Expires earlier although created later: not the latest.
		{r("pkcs11:object=ocsp-root-0", 6*24*time.Hour, time.Hour, 2), "pkcs11:object=ocsp-root-1"},
		{r("pkcs11:object=ocsp-root-2", 12*24*time.Hour, 5*24*time.Hour, 3), "pkcs11:object=ocsp-root-2"},
		// Same expiry, created later: the latest.
		{r("pkcs11:object=ocsp-root-3", 12*24*time.Hour, 6*24*time.Hour, 4), "pkcs11:object=ocsp-root-3"},
	}
	all := map[string]storage.OCSPResponder{}
	for _, st := range steps {
		must(t, "InsertOCSPResponder", s.InsertOCSPResponder(ctx, st.insert))
		all[st.insert.KeyURI] = st.insert
		got, err := s.LatestOCSPResponder(ctx, "root")
		must(t, "LatestOCSPResponder", err)
		if !reflect.DeepEqual(got, norm(all[st.latest])) {
			t.Errorf("after inserting %s: LatestOCSPResponder() = %s, want %s", st.insert.KeyURI, got.KeyURI, st.latest)
		}
		if !bytes.Equal(got.CertDER, all[st.latest].CertDER) {
			t.Error("responder certificate changed in the store")
		}
	}
	if _, err := s.LatestOCSPResponder(ctx, "other"); !errs.Is(err, errs.NotFound) {
		t.Errorf("LatestOCSPResponder(other) = %v, want NotFound: responders are per CA", err)
	}
	wantKind(t, "InsertOCSPResponder(same key)", s.InsertOCSPResponder(ctx, r("pkcs11:object=ocsp-root-1", time.Hour, 0, 5)), errs.Conflict)
	unknown := r("pkcs11:object=x", time.Hour, 0, 5)
	unknown.CA = "nope"
	wantKind(t, "InsertOCSPResponder(unknown CA)", s.InsertOCSPResponder(ctx, unknown), errs.NotFound)
	wantKind(t, "InsertOCSPResponder(no key)", s.InsertOCSPResponder(ctx, r("", time.Hour, 0, 5)), errs.Malformed)
}

func testExpiredOCSPResponders(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	r := func(ca, uri string, notAfter time.Duration, seed byte) storage.OCSPResponder {
		return storage.OCSPResponder{CA: ca, KeyURI: uri, CertDER: testDER(seed),
			NotAfter: base.Add(notAfter), CreatedAt: base}
	}
	// Inserted out of order: the answer is ordered by NotAfter.
	for _, o := range []storage.OCSPResponder{
		r("root", "pkcs11:object=ocsp-root-c", 3*time.Hour, 1),
		r("root", "pkcs11:object=ocsp-root-a", time.Hour, 2),
		r("root", "pkcs11:object=ocsp-root-b", 2*time.Hour, 3),
		r("other", "pkcs11:object=ocsp-other-a", time.Hour, 4),
	} {
		must(t, "InsertOCSPResponder", s.InsertOCSPResponder(ctx, o))
	}
	expired := func(ca string, before time.Time) []string {
		t.Helper()
		got, err := s.ExpiredOCSPResponders(ctx, ca, before)
		must(t, "ExpiredOCSPResponders", err)
		var uris []string
		for _, o := range got {
			if o.CA != ca || len(o.CertDER) == 0 {
				t.Errorf("ExpiredOCSPResponders(%s) returned %+v", ca, o)
			}
			checkUTC(t, "NotAfter", o.NotAfter)
			uris = append(uris, o.KeyURI)
		}
		return uris
	}
	tests := []struct {
		ca     string
		before time.Time
		want   []string
	}{
		{"root", base, nil},
		// NotAfter equal to before has not expired yet.
		{"root", base.Add(2 * time.Hour), []string{"pkcs11:object=ocsp-root-a"}},
		{"root", base.Add(150 * time.Minute), []string{"pkcs11:object=ocsp-root-a", "pkcs11:object=ocsp-root-b"}},
		{"other", base.Add(24 * time.Hour), []string{"pkcs11:object=ocsp-other-a"}},
		{"nope", base.Add(24 * time.Hour), nil},
	}
	for _, tt := range tests {
		if got := expired(tt.ca, tt.before); !slices.Equal(got, tt.want) {
			t.Errorf("ExpiredOCSPResponders(%s, base%+v) = %v, want %v", tt.ca, tt.before.Sub(base), got, tt.want)
		}
	}

	must(t, "DeleteOCSPResponder", s.DeleteOCSPResponder(ctx, "pkcs11:object=ocsp-root-b"))
	// Idempotent: another replica may have deleted it first.
	must(t, "DeleteOCSPResponder(again)", s.DeleteOCSPResponder(ctx, "pkcs11:object=ocsp-root-b"))
	must(t, "DeleteOCSPResponder(never recorded)", s.DeleteOCSPResponder(ctx, "pkcs11:object=nothing"))
	if got, want := expired("root", base.Add(24*time.Hour)), []string{"pkcs11:object=ocsp-root-a", "pkcs11:object=ocsp-root-c"}; !slices.Equal(got, want) {
		t.Errorf("after DeleteOCSPResponder: ExpiredOCSPResponders(root) = %v, want %v", got, want)
	}
	must(t, "DeleteOCSPResponder(latest)", s.DeleteOCSPResponder(ctx, "pkcs11:object=ocsp-root-c"))
	latest, err := s.LatestOCSPResponder(ctx, "root")
	must(t, "LatestOCSPResponder", err)
	if latest.KeyURI != "pkcs11:object=ocsp-root-a" {
		t.Errorf("after deleting the latest: LatestOCSPResponder() = %s, want ocsp-root-a", latest.KeyURI)
	}
	// The key URI is free again once its responder is deleted.
	must(t, "InsertOCSPResponder(deleted key)", s.InsertOCSPResponder(ctx, r("root", "pkcs11:object=ocsp-root-b", time.Hour, 5)))
}

// A certificate on hold goes back to active, out of the CRL entries, and
// its release is an event of its CA like a revocation; nothing else can
// be released.
func testReleaseHold(t *testing.T, open RevocationOpener) {
	s, ctx := withCAs(t, open)
	future := base.Add(365 * 24 * time.Hour)
	issueTo(t, s, ctx, "root", "a1", future)
	issueTo(t, s, ctx, "root", "b2", future)
	must(t, "InsertPendingCertificate(c3)", s.InsertPendingCertificate(ctx, pendingCert("c3")))
	at := base.Add(time.Hour)

	wantKind(t, "ReleaseHold(active)", s.ReleaseHold(ctx, "a1", Event("release-hold", "a1")), errs.Conflict)
	wantKind(t, "ReleaseHold(pending)", s.ReleaseHold(ctx, "c3", Event("release-hold", "c3")), errs.Conflict)
	wantKind(t, "ReleaseHold(unknown)", s.ReleaseHold(ctx, "ff", Event("release-hold", "ff")), errs.NotFound)
	must(t, "RevokeCertificate(a1, certificateHold)", s.RevokeCertificate(ctx, "a1", 6, at, Event("revoke", "a1")))
	must(t, "RevokeCertificate(b2, keyCompromise)", s.RevokeCertificate(ctx, "b2", 1, at, Event("revoke", "b2")))
	wantKind(t, "ReleaseHold(keyCompromise)", s.ReleaseHold(ctx, "b2", Event("release-hold", "b2")), errs.Conflict)
	for _, serial := range []string{"a1", "b2", "c3", "ff"} {
		if n := len(auditOf(t, s, serial)); n != map[string]int{"a1": 1, "b2": 1}[serial] {
			t.Errorf("%s: %d audit events after refused releases, want its revocation's alone", serial, n)
		}
	}

	release := Event("release-hold", "a1")
	must(t, "ReleaseHold(a1)", s.ReleaseHold(ctx, "a1", release))
	if trail := auditOf(t, s, "a1"); len(trail) != 2 || trail[0].Action != "release-hold" || !trail[0].At.Equal(release.At) || trail[0].Actor != release.Actor {
		t.Errorf("audit trail of a1 after its release = %+v, want the release on top of the revocation", trail)
	}
	got, err := s.GetCertificate(ctx, "a1")
	must(t, "GetCertificate(a1)", err)
	if got.Status != storage.StatusActive || !got.RevokedAt.IsZero() || got.RevocationReason != 0 {
		t.Errorf("after ReleaseHold: %s, revoked at %v, reason %d; want active with no revocation", got.Status, got.RevokedAt, got.RevocationReason)
	}
	wantKind(t, "second ReleaseHold(a1)", s.ReleaseHold(ctx, "a1", Event("release-hold", "a1")), errs.Conflict)

	st, err := s.RevocationState(ctx, "root")
	must(t, "RevocationState", err)
	if st.Generation != 3 {
		t.Errorf("generation %d, want 3 (two revocations and a release)", st.Generation)
	}
	events, err := s.RevocationEvents(ctx, "root", 0, 10)
	must(t, "RevocationEvents", err)
	if want := []storage.RevocationEvent{{CA: "root", Generation: 1, Serial: "a1"}, {CA: "root", Generation: 2, Serial: "b2"},
		{CA: "root", Generation: 3, Serial: "a1"}}; !reflect.DeepEqual(events, want) {
		t.Errorf("RevocationEvents = %+v, want %+v", events, want)
	}
	entries, err := s.ListRevoked(ctx, "root", base, storage.RevokedEntry{}, 10)
	must(t, "ListRevoked", err)
	if len(entries) != 1 || entries[0].Serial != "b2" {
		t.Fatalf("ListRevoked = %+v, want b2 alone", entries)
	}
	// Released, it can be revoked again.
	must(t, "RevokeCertificate(a1) after release", s.RevokeCertificate(ctx, "a1", 1, at.Add(time.Hour), Event("revoke", "a1")))
}
