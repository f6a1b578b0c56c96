package storagetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

func testAudit(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		events := []storage.AuditEvent{
			{At: base, Actor: "api:t1", Action: "issue", Profile: "default", Serial: "01",
				Detail: `{"sans":["example.com"]}`, DER: testDER(6)},
			{At: base.Add(time.Second), Actor: "cli", Action: "token-create", Detail: "t2"},
		}
		var last int64
		for i := range events {
			id, err := s.AppendAudit(ctx, events[i])
			must(t, "AppendAudit", err)
			if id <= last {
				t.Errorf("AppendAudit() = %d after %d, want increasing IDs", id, last)
			}
			last = id
			events[i].ID = id
			events[i].At = normTime(events[i].At)
		}
		got, err := s.ListAudit(ctx, storage.AuditFilter{})
		must(t, "ListAudit", err)
		want := []storage.AuditEvent{events[1], events[0]}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListAudit() =\n%+v\nwant\n%+v", got, want)
		}
		for _, e := range got {
			checkUTC(t, "AuditEvent.At", e.At)
		}
	})

	t.Run("IgnoresID", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		id1, err := s.AppendAudit(ctx, storage.AuditEvent{ID: 1000, At: base, Actor: "a", Action: "x"})
		must(t, "AppendAudit", err)
		id2, err := s.AppendAudit(ctx, storage.AuditEvent{ID: 1000, At: base, Actor: "a", Action: "x"})
		must(t, "AppendAudit", err)
		if id1 == id2 {
			t.Errorf("AppendAudit() returned ID %d twice", id1)
		}
	})

	t.Run("Filter", func(t *testing.T) { testAuditFilter(t, open) })

	t.Run("DefaultLimit", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		n := storage.DefaultAuditLimit + 1
		var ids []int64
		for i := range n {
			id, err := s.AppendAudit(ctx, storage.AuditEvent{At: base.Add(time.Duration(i) * time.Second), Actor: "a", Action: "x"})
			must(t, "AppendAudit", err)
			ids = append(ids, id)
		}
		got, err := s.ListAudit(ctx, storage.AuditFilter{})
		must(t, "ListAudit", err)
		if len(got) != storage.DefaultAuditLimit {
			t.Fatalf("ListAudit() with Limit 0 returned %d events, want %d", len(got), storage.DefaultAuditLimit)
		}
		if got[0].ID != ids[n-1] || got[len(got)-1].ID != ids[1] {
			t.Errorf("ListAudit() returned IDs %d..%d, want the newest %d..%d", got[0].ID, got[len(got)-1].ID, ids[n-1], ids[1])
		}
	})
}

// testAuditFilter checks every filter on one trail of five events.
func testAuditFilter(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	trail := []storage.AuditEvent{
		{At: base, Action: "issue", Profile: "default", Serial: "aa"},
		{At: base.Add(time.Minute), Action: "issue", Profile: "default", Serial: "bb"},
		{At: base.Add(2 * time.Minute), Action: "revoke", Profile: "web", Serial: "aa"},
		{At: base.Add(3 * time.Minute), Action: "token-create"},
		// Same time as the event before: the later ID comes first.
		{At: base.Add(3 * time.Minute), Action: "issue", Profile: "web", Serial: "cc"},
	}
	ids := make([]int64, len(trail))
	for i, e := range trail {
		e.Actor = fmt.Sprint("actor-", i)
		id, err := s.AppendAudit(ctx, e)
		must(t, "AppendAudit", err)
		ids[i] = id
	}

	tests := []struct {
		name   string
		filter storage.AuditFilter
		want   []int // indexes into trail, newest first
	}{
		{"none", storage.AuditFilter{}, []int{4, 3, 2, 1, 0}},
		{"serial", storage.AuditFilter{Serial: "aa"}, []int{2, 0}},
		{"profile", storage.AuditFilter{Profile: "web"}, []int{4, 2}},
		{"serial and profile", storage.AuditFilter{Serial: "aa", Profile: "web"}, []int{2}},
		{"unknown serial", storage.AuditFilter{Serial: "ff"}, nil},
		{"since is inclusive", storage.AuditFilter{Since: base.Add(time.Minute)}, []int{4, 3, 2, 1}},
		{"until is exclusive", storage.AuditFilter{Until: base.Add(2 * time.Minute)}, []int{1, 0}},
		{"since and until", storage.AuditFilter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, []int{2, 1}},
		{"since in another zone", storage.AuditFilter{Since: base.Add(2 * time.Minute).UTC()}, []int{4, 3, 2}},
		{"limit", storage.AuditFilter{Limit: 2}, []int{4, 3}},
		{"limit with filter", storage.AuditFilter{Profile: "default", Limit: 1}, []int{1}},
		{"action", storage.AuditFilter{Action: "issue"}, []int{4, 1, 0}},
		{"actor", storage.AuditFilter{Actor: "actor-2"}, []int{2}},
		{"action and profile", storage.AuditFilter{Action: "issue", Profile: "web"}, []int{4}},
		{"after the newest", storage.AuditFilter{AfterAt: base.Add(3 * time.Minute), AfterID: ids[4]}, []int{3, 2, 1, 0}},
		{"after one of two at the same time", storage.AuditFilter{AfterAt: base.Add(3 * time.Minute), AfterID: ids[3], Limit: 2}, []int{2, 1}},
		{"after, filtered", storage.AuditFilter{Action: "issue", AfterAt: base.Add(time.Minute), AfterID: ids[1]}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.filter)
			must(t, "ListAudit", err)
			var gotIDs, wantIDs []int64
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			for _, i := range tt.want {
				wantIDs = append(wantIDs, ids[i])
			}
			if !reflect.DeepEqual(gotIDs, wantIDs) {
				t.Errorf("ListAudit(%+v) IDs = %v, want %v", tt.filter, gotIDs, wantIDs)
			}
		})
	}
}
