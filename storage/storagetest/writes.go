package storagetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// issue makes the writes of one issuance as ca.Issue makes them, the
// second after the first has returned: the pending certificate, then the
// audit event with the signed DER and the activation (CompleteIssuance).
func issue(ctx context.Context, s storage.Store, c storage.Certificate, der []byte) error {
	if err := s.InsertPendingCertificate(ctx, c); err != nil {
		return fmt.Errorf("InsertPendingCertificate(%s): %w", c.Serial, err)
	}
	if _, err := s.CompleteIssuance(ctx, issueEvent(c, der), c.Serial, der, c.NotBefore, c.NotAfter); err != nil {
		return fmt.Errorf("CompleteIssuance(%s): %w", c.Serial, err)
	}
	return nil
}

// together runs every call in a goroutine of its own, released at once so
// that the writes they make are in flight together (and, in a store that
// batches them, share transactions), and returns their errors.
func together(calls []func() error) []error {
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]error, len(calls))
	)
	for i, call := range calls {
		wg.Go(func() {
			<-start
			results[i] = call()
		})
	}
	close(start)
	wg.Wait()
	return results
}

// testConcurrentWrites pins down what a store that makes concurrent writes
// share transactions (group commit) must still do: every write lands, and
// a write that fails takes no other write with it.
func testConcurrentWrites(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Issuances", func(t *testing.T) {
		s, ctx := withCA(t, open)
		const issuances, workers = 200, 16
		serial := func(i int) string { return fmt.Sprintf("%032x", 0xc0ffee000+i) }
		var (
			next   atomic.Int64
			errors = make([]error, issuances)
			calls  []func() error
		)
		for range workers {
			calls = append(calls, func() error {
				for i := int(next.Add(1)) - 1; i < issuances; i = int(next.Add(1)) - 1 {
					errors[i] = issue(ctx, s, pendingCert(serial(i)), testDER(byte(i)))
				}
				return nil
			})
		}
		together(calls)
		for i, err := range errors {
			if err != nil {
				t.Errorf("issuance %d: %v", i, err)
			}
		}
		for i := range issuances {
			got, err := s.GetCertificate(ctx, serial(i))
			must(t, "GetCertificate", err)
			if got.Status != storage.StatusActive || !reflect.DeepEqual(got.DER, testDER(byte(i))) {
				t.Errorf("GetCertificate(%s) = status %s, %d bytes of DER; want active with its own DER", serial(i), got.Status, len(got.DER))
			}
		}
		events := withoutSetup(trail(t, s))
		if len(events) != issuances {
			t.Errorf("ListAudit() = %d events, want %d", len(events), issuances)
		}
		index := map[string]int{} // serial -> issuance
		for i := range issuances {
			index[serial(i)] = i
		}
		ids := map[int64]bool{}
		for _, e := range events {
			i, ok := index[e.Serial]
			switch {
			case !ok:
				t.Errorf("audit event %d is of serial %q: none such, or seen before", e.ID, e.Serial)
			case !reflect.DeepEqual(e.DER, testDER(byte(i))):
				t.Errorf("audit event %d of %s does not hold its DER", e.ID, e.Serial)
			case ids[e.ID]:
				t.Errorf("audit event ID %d returned twice", e.ID)
			}
			delete(index, e.Serial)
			ids[e.ID] = true
		}
	})

	// Each round sends writes that succeed and writes that fail at once,
	// so that they share transactions: each must get its own outcome, and
	// the failures must change nothing.
	t.Run("FailuresStayAlone", func(t *testing.T) {
		s, ctx := withCA(t, open)
		activate(t, s, ctx, pendingCert("a0")) // with testDER(7)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("d0")))
		const rounds = 8
		for round := range rounds {
			r := fmt.Sprintf("%02x", round)
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("b"+r)))
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("90"+r)))
			audit := func() error {
				_, err := s.AppendAudit(ctx, storage.AuditEvent{At: base, Actor: "test", Action: "x", Serial: r})
				return err
			}
			insert := func(serial, ca, profile string) func() error {
				return func() error {
					c := pendingCert(serial)
					c.CA, c.Profile = ca, profile
					return s.InsertPendingCertificate(ctx, c)
				}
			}
			activateWith := func(serial string, der []byte) func() error {
				return func() error { return s.ActivateCertificate(ctx, serial, der, base, base.Add(time.Hour)) }
			}
			// A completion writes its audit event even when its
			// activation fails.
			complete := func(serial string, der []byte) func() error {
				return func() error {
					_, err := s.CompleteIssuance(ctx, issueEvent(pendingCert(serial), der), serial, der, base, base.Add(time.Hour))
					return err
				}
			}
			writes := []struct {
				name string
				want errs.Kind // -1: success
				call func() error
			}{
				{"duplicate serial", errs.Conflict, insert("d0", "root", "other")},
				{"new serial", -1, insert("c1"+r, "root", "default")},
				{"audit", -1, audit},
				{"activate pending", -1, activateWith("b"+r, testDER(3))},
				{"activate missing serial", errs.NotFound, activateWith("e0"+r, testDER(3))},
				{"another new serial", -1, insert("c2"+r, "root", "default")},
				{"unknown CA", errs.NotFound, insert("f0"+r, "no-such-ca", "default")},
				{"another audit", -1, audit},
				{"activate active", errs.Conflict, activateWith("a0", testDER(5))},
				{"complete pending", -1, complete("90"+r, testDER(3))},
				{"a third new serial", -1, insert("c3"+r, "root", "default")},
				{"complete active", errs.Conflict, complete("a0", testDER(6))},
				{"a third audit", -1, audit},
				{"complete missing serial", errs.NotFound, complete("e1"+r, testDER(3))},
			}
			calls := make([]func() error, len(writes))
			for i, w := range writes {
				calls[i] = w.call
			}
			for i, err := range together(calls) {
				if w := writes[i]; w.want == -1 {
					if err != nil {
						t.Errorf("round %d, %s: %v", round, w.name, err)
					}
				} else {
					wantKind(t, fmt.Sprintf("round %d, %s", round, w.name), err, w.want)
				}
			}
			for _, serial := range []string{"c1" + r, "c2" + r, "c3" + r} {
				if got, err := s.GetCertificate(ctx, serial); err != nil || got.Status != storage.StatusPending {
					t.Errorf("round %d: GetCertificate(%s) = %s, %v; want pending", round, serial, got.Status, err)
				}
			}
			for _, serial := range []string{"b" + r, "90" + r} {
				if got, err := s.GetCertificate(ctx, serial); err != nil || got.Status != storage.StatusActive || !reflect.DeepEqual(got.DER, testDER(3)) {
					t.Errorf("round %d: GetCertificate(%s) = %s, %v; want active with its DER", round, serial, got.Status, err)
				}
			}
			for _, serial := range []string{"90" + r, "e1" + r} {
				if events := auditOf(t, s, serial); len(events) != 1 || !reflect.DeepEqual(events[0].DER, testDER(3)) {
					t.Errorf("round %d: ListAudit(%s) = %d events; want the completion's, with its DER", round, serial, len(events))
				}
			}
			for _, serial := range []string{"e0" + r, "f0" + r, "e1" + r} {
				_, err := s.GetCertificate(ctx, serial)
				wantKind(t, fmt.Sprintf("round %d: GetCertificate(%s) after a failed write", round, serial), err, errs.NotFound)
			}
		}
		if got, err := s.GetCertificate(ctx, "d0"); err != nil || got.Profile != "default" || got.Status != storage.StatusPending {
			t.Errorf("GetCertificate(d0) = profile %q, %s, %v; the duplicates changed it", got.Profile, got.Status, err)
		}
		if got, err := s.GetCertificate(ctx, "a0"); err != nil || !reflect.DeepEqual(got.DER, testDER(7)) {
			t.Errorf("GetCertificate(a0) = %v; the second activations replaced its DER", err)
		}
		// Three audit writes and three completions a round, all kept.
		if events := withoutSetup(trail(t, s)); len(events) != 6*rounds {
			t.Errorf("ListAudit() = %d events; want the %d of the audit writes and completions", len(events), 6*rounds)
		}
	})
}

// withoutSetup drops the events of withCA's setup (the CA's creation) from
// a trail.
func withoutSetup(events []storage.AuditEvent) []storage.AuditEvent {
	return slices.DeleteFunc(events, func(e storage.AuditEvent) bool { return e.Action == "init-ca" })
}
