package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testAuditCheckpoints: events come back after an ID in ID order, whole;
// checkpoints are kept once per Seq and listed in order.
func testAuditCheckpoints(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	var ids []int64
	for i, action := range []string{"issue", "revoke", "token-create"} {
		e := storage.AuditEvent{At: base.Add(-time1(i)), Actor: "test", Action: action, Serial: "8a", Detail: "d", DER: testDER(byte(i + 1))}
		id, err := s.AppendAudit(ctx, e)
		must(t, "AppendAudit", err)
		ids = append(ids, id)
	}
	got, err := s.AuditEventsAfter(ctx, ids[0], 10)
	must(t, "AuditEventsAfter", err)
	if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[2] || got[0].Action != "revoke" || !reflect.DeepEqual(got[1].DER, testDER(3)) ||
		!got[0].At.Equal(normTime(base.Add(-time1(1)))) {
		t.Fatalf("AuditEventsAfter(%d) = %+v", ids[0], got)
	}
	if got, err := s.AuditEventsAfter(ctx, 0, 1); err != nil || len(got) != 1 || got[0].ID != ids[0] {
		t.Errorf("AuditEventsAfter(0, 1) = %+v, %v", got, err)
	}
	for _, limit := range []int{0, storage.MaxAuditLimit + 1} {
		_, err := s.AuditEventsAfter(ctx, 0, limit)
		wantKind(t, "AuditEventsAfter with a bad limit", err, errs.Malformed)
	}

	_, err = s.LastAuditCheckpoint(ctx)
	wantKind(t, "LastAuditCheckpoint of none", err, errs.NotFound)
	cp := func(seq, last int64) storage.AuditCheckpoint {
		return storage.AuditCheckpoint{Seq: seq, LastID: last, Events: int(seq), Hash: []byte{byte(seq)}, Signature: []byte{1, 2}, KeyURI: "pkcs11:object=gateway-audit", At: normTime(base)}
	}
	must(t, "InsertAuditCheckpoint", s.InsertAuditCheckpoint(ctx, cp(1, ids[1])))
	must(t, "InsertAuditCheckpoint", s.InsertAuditCheckpoint(ctx, cp(2, ids[2])))
	wantKind(t, "InsertAuditCheckpoint of a Seq taken", s.InsertAuditCheckpoint(ctx, cp(2, ids[2])), errs.Conflict)
	last, err := s.LastAuditCheckpoint(ctx)
	if err != nil || !reflect.DeepEqual(last, cp(2, ids[2])) {
		t.Errorf("LastAuditCheckpoint = %+v, %v", last, err)
	}
	checkUTC(t, "AuditCheckpoint.At", last.At)
	list, err := s.ListAuditCheckpoints(ctx, 0, 10)
	if err != nil || len(list) != 2 || !reflect.DeepEqual(list[0], cp(1, ids[1])) || list[1].Seq != 2 {
		t.Errorf("ListAuditCheckpoints(0) = %+v, %v", list, err)
	}
	if list, err := s.ListAuditCheckpoints(ctx, 1, 10); err != nil || len(list) != 1 || list[0].Seq != 2 {
		t.Errorf("ListAuditCheckpoints(1) = %+v, %v", list, err)
	}
	_, err = s.ListAuditCheckpoints(ctx, 0, 0)
	wantKind(t, "ListAuditCheckpoints with limit 0", err, errs.Malformed)
}

// time1 is i minutes.
func time1(i int) time.Duration { return time.Duration(i) * time.Minute }

// testAuditForward: a target's position starts at 0 and moves only from
// where it is, once per move; targets are apart.
func testAuditForward(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	at := normTime(base)
	if id, err := s.AuditForwarded(ctx, "siem"); err != nil || id != 0 {
		t.Fatalf("AuditForwarded before any = %d, %v", id, err)
	}
	if moved, err := s.AdvanceAuditForward(ctx, "siem", 0, 10, at); err != nil || !moved {
		t.Fatalf("first AdvanceAuditForward = %v, %v", moved, err)
	}
	if moved, err := s.AdvanceAuditForward(ctx, "siem", 0, 12, at); err != nil || moved {
		t.Errorf("AdvanceAuditForward from a stale 0 = %v, %v; want false", moved, err)
	}
	if moved, err := s.AdvanceAuditForward(ctx, "siem", 10, 20, at); err != nil || !moved {
		t.Errorf("AdvanceAuditForward from 10 = %v, %v", moved, err)
	}
	if moved, err := s.AdvanceAuditForward(ctx, "siem", 10, 30, at); err != nil || moved {
		t.Errorf("AdvanceAuditForward from a stale 10 = %v, %v; want false", moved, err)
	}
	if id, err := s.AuditForwarded(ctx, "siem"); err != nil || id != 20 {
		t.Errorf("AuditForwarded = %d, %v; want 20", id, err)
	}
	if id, err := s.AuditForwarded(ctx, "other"); err != nil || id != 0 {
		t.Errorf("AuditForwarded of another target = %d, %v; want 0", id, err)
	}
}
