package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// fakeClock is the outboxes' clock, moved by the tests.
type fakeClock struct{ at atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.at.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.at.Load()).UTC() }
func (c *fakeClock) advance(d time.Duration) { c.at.Add(int64(d)) }

func certificate() Certificate {
	return Certificate{Serial: "8a01", Profile: "web", CA: "issuing", Method: "api", Requester: "token:ci", SANs: []string{"a.example.com"},
		NotBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)}
}

// A notification goes into the store when it is decided and out of it
// when its webhook takes it: a 5xx is tried again after each wait of
// Retries, with the same body, signature and delivery ID, until the
// webhook answers; it is counted once, as delivered.
func TestOutboxRetriesUntilDelivered(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		rc := &receiver{codes: []int{503, 502, 200}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		clk := newFakeClock()
		var observed []string
		w := &Webhook{URL: srv.URL, Secret: []byte("s3cret"), Observe: func(event string, err error) { observed = append(observed, fmt.Sprint(event, " ", err)) }}
		o := &Outbox{Store: st, Now: clk.now, Retries: []time.Duration{time.Minute, time.Hour}}
		o.Add("notify/web", w)
		w.Certificate("issued", certificate(), clk.now())
		if len(rc.bodies) != 0 {
			t.Fatal("posted before the outbox ran")
		}
		flush := func(wantWaiting, wantPosts int) {
			t.Helper()
			waiting, err := o.Flush(t.Context())
			if err != nil || waiting != wantWaiting || len(rc.bodies) != wantPosts {
				t.Fatalf("Flush: %d waiting, %v, %d posts; want %d waiting, %d posts", waiting, err, len(rc.bodies), wantWaiting, wantPosts)
			}
		}
		flush(1, 1)              // 503
		flush(0, 1)              // not due again yet
		clk.advance(time.Minute) // the first wait
		flush(1, 2)              // 502
		clk.advance(59 * time.Minute)
		flush(0, 2)
		clk.advance(time.Minute) // the second wait
		flush(0, 3)              // 200
		clk.advance(24 * time.Hour)
		flush(0, 3) // gone from the store
		for i := range rc.bodies {
			if string(rc.bodies[i]) != string(rc.bodies[0]) || rc.sigs[i] != Sign([]byte("s3cret"), rc.bodies[0]) || rc.deliveries[i] != rc.deliveries[0] || rc.deliveries[0] == "" {
				t.Errorf("post %d: delivery %q, signature %q; want the first's (%q)", i, rc.deliveries[i], rc.sigs[i], rc.deliveries[0])
			}
		}
		if !slices.Equal(observed, []string{"certificate.issued <nil>"}) {
			t.Errorf("observed %v", observed)
		}
	})
}

// A 4xx is given up at once; so is a 5xx once the retries have run out.
// Both are counted as failed and kept in the store, given up, claimed no
// more.
func TestOutboxGivesUp(t *testing.T) {
	st := teststore.SQLite(t)
	rc := &receiver{codes: []int{400, 503, 503}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	clk := newFakeClock()
	var failed []string
	w := &Webhook{URL: srv.URL, Observe: func(event string, err error) {
		if err != nil {
			failed = append(failed, event)
		}
	}}
	o := &Outbox{Store: st, Now: clk.now, Retries: []time.Duration{time.Minute}}
	o.Add("notify/web", w)
	w.Certificate("issued", certificate(), clk.now())
	if waiting, err := o.Flush(t.Context()); err != nil || waiting != 0 || len(failed) != 1 {
		t.Fatalf("a 400: %d waiting, %v, failed %v", waiting, err, failed)
	}
	w.Certificate("revoked", certificate(), clk.now())
	o.Flush(t.Context()) // 503
	clk.advance(time.Minute)
	if waiting, err := o.Flush(t.Context()); err != nil || waiting != 0 || !slices.Equal(failed, []string{"certificate.issued", "certificate.revoked"}) {
		t.Fatalf("after the retries: %d waiting, %v, failed %v", waiting, err, failed)
	}
	clk.advance(24 * time.Hour)
	if ns, _ := st.ClaimNotifications(t.Context(), clk.now(), time.Minute, 10); len(ns) != 0 {
		t.Errorf("%d notifications claimed after they were given up", len(ns))
	}
	if ns, err := st.ListNotifications(t.Context(), 10, true); err != nil || len(ns) != 2 || ns[0].Event != "certificate.revoked" ||
		!strings.Contains(ns[0].LastError, "503") || !strings.Contains(ns[1].LastError, "400") {
		t.Errorf("given up: %+v, %v", ns, err)
	}
	if len(rc.bodies) != 3 {
		t.Errorf("%d posts, want 3", len(rc.bodies))
	}
}

// Replicas share the outbox: whichever claims a notification posts it,
// and each is posted once; a notification whose webhook a replica does
// not know (the configurations differ) is left to another, then given up.
func TestOutboxReplicas(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		rc := &receiver{}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		clk := newFakeClock()
		replica := func() (*Outbox, *Webhook) {
			w := &Webhook{URL: srv.URL}
			o := &Outbox{Store: st, Now: clk.now, Batch: 3, Parallel: 2}
			o.Add("notify/web", w)
			return o, w
		}
		a, wa := replica()
		b, _ := replica()
		for i := range 20 {
			c := certificate()
			c.Serial = fmt.Sprintf("8b%02x", i)
			wa.Certificate("issued", c, clk.now())
		}
		var wg sync.WaitGroup
		for _, o := range []*Outbox{a, b} {
			wg.Go(func() {
				if _, err := o.Flush(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ids := slices.Clone(rc.deliveries)
		slices.Sort(ids)
		if len(ids) != 20 || len(slices.Compact(ids)) != 20 {
			t.Errorf("%d posts with %d delivery IDs, want 20 once each", len(rc.deliveries), len(slices.Compact(ids)))
		}

		if _, err := st.EnqueueNotification(t.Context(), storage.Notification{Target: "notify/gone", Event: "certificate.issued",
			Subject: "8c01", Body: []byte("{}"), NextAttempt: clk.now(), CreatedAt: clk.now()}); err != nil {
			t.Fatal(err)
		}
		a.Retries = []time.Duration{time.Minute}
		if waiting, err := a.Flush(t.Context()); err != nil || waiting != 1 || len(rc.bodies) != 20 {
			t.Errorf("a notification of an unknown webhook: %d waiting, %v, %d posts", waiting, err, len(rc.bodies))
		}
		clk.advance(time.Minute)
		if waiting, err := a.Flush(t.Context()); err != nil || waiting != 0 {
			t.Errorf("the unknown webhook's notification once the retries ran out: %d waiting, %v", waiting, err)
		}
		if ns, _ := st.ClaimNotifications(t.Context(), clk.now().Add(48*time.Hour), time.Minute, 10); len(ns) != 0 {
			t.Errorf("%d notifications left in the store", len(ns))
		}
	})
}

// Run posts a notification as soon as it is enqueued, without waiting for
// its poll.
func TestOutboxRun(t *testing.T) {
	st := teststore.SQLite(t)
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL}
	o := &Outbox{Store: st, Poll: time.Hour}
	o.Add("approval/routers", w)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond) // Run's first look found nothing
	w.Held(request())
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc.mu.Lock()
		n := len(rc.bodies)
		rc.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not posted within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if ev := rc.only(t); ev.Event != "request.pending" {
		t.Errorf("posted %+v", ev)
	}
}

// failingStore refuses every notification.
type failingStore struct{ storage.NotificationStore }

func (failingStore) EnqueueNotification(context.Context, storage.Notification) (int64, error) {
	return 0, errors.New("store down")
}

// A notification the store does not take is posted from memory.
func TestOutboxStoreDown(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w := &Webhook{URL: srv.URL}
	(&Outbox{Store: failingStore{}}).Add("notify/web", w)
	w.Certificate("issued", certificate(), time.Now())
	w.Wait()
	if ev := rc.only(t); ev.Event != "certificate.issued" || rc.deliveries[0] == "" {
		t.Errorf("posted %+v, delivery %q", ev, rc.deliveries)
	}
}
