package storagetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// issueEvent is the audit event of the issuance of c with der.
func issueEvent(c storage.Certificate, der []byte) storage.AuditEvent {
	return storage.AuditEvent{At: c.CreatedAt, Actor: c.Requester, Action: "issue", Profile: c.Profile,
		Serial: c.Serial, Detail: "method=" + c.Method, DER: der}
}

// auditOf returns the audit events of serial, newest first.
func auditOf(t *testing.T, s storage.Store, serial string) []storage.AuditEvent {
	t.Helper()
	events, err := s.ListAudit(t.Context(), storage.AuditFilter{Serial: serial, Limit: storage.MaxAuditLimit})
	must(t, "ListAudit", err)
	return events
}

func testCompleteIssuance(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Success", func(t *testing.T) {
		s, ctx := withCA(t, open)
		c := pendingCert("01")
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		der := testDER(4)
		notBefore, notAfter := base.Add(-time.Minute), base.Add(24*time.Hour+time.Nanosecond)
		e := issueEvent(c, der)
		id, err := s.CompleteIssuance(ctx, e, c.Serial, der, notBefore, notAfter)
		must(t, "CompleteIssuance", err)

		got, err := s.GetCertificate(ctx, c.Serial)
		must(t, "GetCertificate", err)
		want := normCert(c)
		want.Status = storage.StatusActive
		want.DER = der
		want.NotBefore, want.NotAfter = normTime(notBefore), normTime(notAfter)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetCertificate() after CompleteIssuance =\n%+v\nwant\n%+v", got, want)
		}
		e.ID, e.At = id, normTime(e.At)
		if events := auditOf(t, s, c.Serial); !reflect.DeepEqual(events, []storage.AuditEvent{e}) {
			t.Errorf("ListAudit(%s) =\n%+v\nwant\n%+v", c.Serial, events, []storage.AuditEvent{e})
		}
	})

	// The event is committed even when the activation fails, and the ID
	// returned with the activation's error is its ID: the DER is never
	// lost.
	t.Run("ActivationFailureKeepsAudit", func(t *testing.T) {
		s, ctx := withCA(t, open)
		active := activate(t, s, ctx, pendingCert("a0")) // with testDER(7)
		revoked := activate(t, s, ctx, pendingCert("b0"))
		revocation := Event("revoke", "b0")
		revocation.At = base.Add(-time.Minute) // before the events below, which must come first
		must(t, "RevokeCertificate", s.RevokeCertificate(ctx, "b0", 1, base.Add(-time.Minute), revocation))
		for _, tt := range []struct {
			name, serial string
			want         errs.Kind
		}{
			{"active", "a0", errs.Conflict},
			{"revoked", "b0", errs.Conflict},
			{"missing serial", "c0", errs.NotFound},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := pendingCert(tt.serial)
				e := issueEvent(c, testDER(5))
				id, err := s.CompleteIssuance(ctx, e, tt.serial, testDER(5), base, base.Add(time.Hour))
				wantKind(t, "CompleteIssuance", err, tt.want)
				if id == 0 {
					t.Errorf("CompleteIssuance() returned no audit ID with its error %v", err)
				}
				e.ID, e.At = id, normTime(e.At)
				events := auditOf(t, s, tt.serial)
				if len(events) == 0 || !reflect.DeepEqual(events[0], e) {
					t.Errorf("ListAudit(%s) =\n%+v\nwant the event of the failed activation first:\n%+v", tt.serial, events, e)
				}
			})
		}
		if got, err := s.GetCertificate(ctx, "a0"); err != nil || !reflect.DeepEqual(got, active) {
			t.Errorf("GetCertificate(a0) = %+v, %v; the failed activation changed it", got, err)
		}
		if got, err := s.GetCertificate(ctx, "b0"); err != nil || got.Status != storage.StatusRevoked || !reflect.DeepEqual(got.DER, revoked.DER) {
			t.Errorf("GetCertificate(b0) = %s, %v; the failed activation changed it", got.Status, err)
		}
		_, err := s.GetCertificate(ctx, "c0")
		wantKind(t, "GetCertificate(c0) after a failed activation", err, errs.NotFound)
	})

	t.Run("EmptyDER", func(t *testing.T) {
		s, ctx := withCA(t, open)
		c := pendingCert("01")
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		if _, err := s.CompleteIssuance(ctx, issueEvent(c, nil), c.Serial, nil, base, base.Add(time.Hour)); err == nil {
			t.Errorf("CompleteIssuance() with no DER succeeded")
		}
		if got, err := s.GetCertificate(ctx, c.Serial); err != nil || got.Status != storage.StatusPending {
			t.Errorf("GetCertificate() = %s, %v after CompleteIssuance with no DER, want pending", got.Status, err)
		}
		if events := auditOf(t, s, c.Serial); len(events) != 0 {
			t.Errorf("CompleteIssuance() with no DER wrote %d audit events", len(events))
		}
	})

	// 16 issuances complete at once: each certificate gets its own DER,
	// each event its own ID.
	t.Run("Concurrent", func(t *testing.T) {
		s, ctx := withCA(t, open)
		const n = 16
		serial := func(i int) string { return fmt.Sprintf("%032x", 0xc0de00+i) }
		for i := range n {
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert(serial(i))))
		}
		ids := make([]int64, n)
		calls := make([]func() error, n)
		for i := range n {
			calls[i] = func() error {
				c := pendingCert(serial(i))
				var err error
				ids[i], err = s.CompleteIssuance(ctx, issueEvent(c, testDER(byte(i))), c.Serial, testDER(byte(i)), c.NotBefore, c.NotAfter)
				return err
			}
		}
		seen := map[int64]bool{}
		for i, err := range together(calls) {
			if err != nil {
				t.Errorf("CompleteIssuance(%s) = %v", serial(i), err)
				continue
			}
			if seen[ids[i]] {
				t.Errorf("CompleteIssuance(%s) returned audit ID %d twice", serial(i), ids[i])
			}
			seen[ids[i]] = true
			got, err := s.GetCertificate(ctx, serial(i))
			must(t, "GetCertificate", err)
			if got.Status != storage.StatusActive || !reflect.DeepEqual(got.DER, testDER(byte(i))) {
				t.Errorf("GetCertificate(%s) = %s, %d bytes of DER; want active with its own DER", serial(i), got.Status, len(got.DER))
			}
			events := auditOf(t, s, serial(i))
			if len(events) != 1 || events[0].ID != ids[i] || !reflect.DeepEqual(events[0].DER, testDER(byte(i))) {
				t.Errorf("ListAudit(%s) = %d events; want one, with ID %d and its DER", serial(i), len(events), ids[i])
			}
		}
	})

	// 16 completions of one certificate at once: exactly one activates
	// it, the others get Conflict, and every event is kept.
	t.Run("ConcurrentSameSerial", func(t *testing.T) {
		s, ctx := withCA(t, open)
		const n = 16
		c := pendingCert("01")
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		ids := make([]int64, n)
		calls := make([]func() error, n)
		for i := range n {
			calls[i] = func() error {
				var err error
				ids[i], err = s.CompleteIssuance(ctx, issueEvent(c, testDER(byte(i))), c.Serial, testDER(byte(i)), c.NotBefore, c.NotAfter)
				return err
			}
		}
		winner := -1
		for i, err := range together(calls) {
			switch {
			case err == nil && winner == -1:
				winner = i
			case err == nil:
				t.Errorf("CompleteIssuance() %d and %d both activated the certificate", winner, i)
			default:
				wantKind(t, fmt.Sprint("CompleteIssuance() ", i), err, errs.Conflict)
			}
			if ids[i] == 0 {
				t.Errorf("CompleteIssuance() %d returned no audit ID (error %v)", i, err)
			}
		}
		if winner == -1 {
			t.Fatal("no CompleteIssuance() activated the certificate")
		}
		got, err := s.GetCertificate(ctx, c.Serial)
		must(t, "GetCertificate", err)
		if got.Status != storage.StatusActive || !reflect.DeepEqual(got.DER, testDER(byte(winner))) {
			t.Errorf("GetCertificate() = %s, %d bytes of DER; want active with the winner's DER", got.Status, len(got.DER))
		}
		byID := map[int64][]byte{}
		for _, e := range auditOf(t, s, c.Serial) {
			byID[e.ID] = e.DER
		}
		for i, id := range ids {
			if der, ok := byID[id]; !ok || !reflect.DeepEqual(der, testDER(byte(i))) {
				t.Errorf("the event of CompleteIssuance() %d (ID %d) is missing or lost its DER", i, id)
			}
		}
		if len(byID) != n {
			t.Errorf("ListAudit() = %d events, want %d", len(byID), n)
		}
	})
}
