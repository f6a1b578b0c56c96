package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// tamperedStore shows the audit trail changed: edit, if set, rewrites
// what AuditEventsAfter reads, and skipSeq hides a checkpoint.
type tamperedStore struct {
	storage.Store
	edit    func([]storage.AuditEvent) []storage.AuditEvent
	skipSeq int64
}

func (s *tamperedStore) AuditEventsAfter(ctx context.Context, afterID int64, limit int) ([]storage.AuditEvent, error) {
	events, err := s.Store.AuditEventsAfter(ctx, afterID, limit)
	if err == nil && s.edit != nil {
		events = s.edit(events)
	}
	return events, err
}

func (s *tamperedStore) ListAuditCheckpoints(ctx context.Context, afterSeq int64, limit int) ([]storage.AuditCheckpoint, error) {
	cps, err := s.Store.ListAuditCheckpoints(ctx, afterSeq, limit)
	return slices.DeleteFunc(cps, func(cp storage.AuditCheckpoint) bool { return cp.Seq == s.skipSeq }), err
}

func auditKey(t *testing.T, label string) signer.Key {
	t.Helper()
	sw, err := signer.NewSoftware(filepath.Join(t.TempDir(), "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.AuditKey(context.Background(), sw, label, true)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// The checkpointer seals the events old enough, each checkpoint after the
// one before; VerifyAudit passes the trail as it is and names the
// checkpoint whose events were changed, added or removed, a checkpoint
// missing, and one signed by another key.
func TestAuditCheckpoints(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		key := auditKey(t, "gateway-audit")
		c := &ca.Checkpointer{Store: st, Key: key, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
		if _, made, err := c.Seal(ctx); err != nil || made {
			t.Fatalf("Seal() of an empty trail = %v, %v", made, err)
		}
		appendAt := func(at time.Time, action string) int64 {
			id, err := st.AppendAudit(ctx, storage.AuditEvent{At: at, Actor: "test", Action: action, Serial: "8a", Detail: "d", DER: []byte{1, 2, 3}})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		var ids []int64
		for range 5 {
			ids = append(ids, appendAt(now.Add(-2*time.Minute), "issue"))
		}
		young := appendAt(now, "revoke")
		cp, made, err := c.Seal(ctx)
		if err != nil || !made || cp.Seq != 1 || cp.Events != 5 || cp.LastID != ids[4] {
			t.Fatalf("Seal() = %+v, %v, %v; want checkpoint 1 of the 5 older events", cp, made, err)
		}
		v, err := ca.VerifyAudit(ctx, st, key.Public())
		if err != nil || v.Checkpoints != 1 || v.Sealed != 5 || v.Unsealed != 1 || v.LastID != ids[4] {
			t.Fatalf("VerifyAudit() = %+v, %v", v, err)
		}
		now = now.Add(2 * time.Minute)
		if n, err := c.SealAll(ctx); err != nil || n != 1 {
			t.Fatalf("SealAll() two minutes on = %d, %v", n, err)
		}
		if _, made, err := c.Seal(ctx); err != nil || made {
			t.Fatalf("Seal() with nothing new = %v, %v", made, err)
		}
		if v, err := ca.VerifyAudit(ctx, st, key.Public()); err != nil || v.Checkpoints != 2 || v.Sealed != 6 || v.Unsealed != 0 || v.LastID != young {
			t.Fatalf("VerifyAudit() after the second = %+v, %v", v, err)
		}

		for _, tc := range []struct {
			name string
			st   *tamperedStore
			want string
		}{
			{"an event changed", &tamperedStore{Store: st, edit: func(es []storage.AuditEvent) []storage.AuditEvent {
				for i := range es {
					if es[i].ID == ids[2] {
						es[i].Detail = "nothing to see"
					}
				}
				return es
			}}, "audit checkpoint 1 (events 1 to 5): the events do not match what was sealed"},
			{"an event removed", &tamperedStore{Store: st, edit: func(es []storage.AuditEvent) []storage.AuditEvent {
				return slices.DeleteFunc(es, func(e storage.AuditEvent) bool { return e.ID == young })
			}}, "audit checkpoint 2 (events 6 to 6): the events do not match what was sealed: an event was changed, added or removed (0 events now, 1 sealed)"},
			{"an event added", &tamperedStore{Store: st, edit: func(es []storage.AuditEvent) []storage.AuditEvent {
				if len(es) > 0 && es[0].ID == ids[0] {
					extra := es[0]
					extra.ID, extra.Action = ids[0], "issue"
					return append([]storage.AuditEvent{extra}, es...)
				}
				return es
			}}, "(6 events now, 5 sealed)"},
			{"a checkpoint removed", &tamperedStore{Store: st, skipSeq: 1}, "audit checkpoint 1 is missing"},
		} {
			if _, err := ca.VerifyAudit(ctx, tc.st, key.Public()); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: VerifyAudit() = %v, want %q", tc.name, err, tc.want)
			}
		}

		// A checkpoint made with another key (one who could write to the
		// database, but not use the token) is found out.
		appendAt(now.Add(-time.Minute), "issue")
		now = now.Add(2 * time.Minute)
		forger := &ca.Checkpointer{Store: st, Key: auditKey(t, "forged"), Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
		if _, made, err := forger.Seal(ctx); err != nil || !made {
			t.Fatalf("the forger's Seal() = %v, %v", made, err)
		}
		if _, err := ca.VerifyAudit(ctx, st, key.Public()); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "audit checkpoint 3 (events 7 to 7): its signature does not verify") {
			t.Errorf("VerifyAudit() with a forged checkpoint = %v", err)
		}
	})
}

// Replicas seal at the same time: one checkpoint is made, the others
// find it made and stand back.
func TestAuditCheckpointsRace(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		key := auditKey(t, "gateway-audit")
		for range 20 {
			if _, err := st.AppendAudit(ctx, storage.AuditEvent{At: now.Add(-time.Hour), Actor: "test", Action: "issue"}); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu   sync.Mutex
			made int
			wg   sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				c := &ca.Checkpointer{Store: st, Key: key, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
				_, ok, err := c.Seal(ctx)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				if ok {
					made++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if made != 1 {
			t.Errorf("%d checkpoints made, want 1", made)
		}
		if v, err := ca.VerifyAudit(ctx, st, key.Public()); err != nil || v.Checkpoints != 1 || v.Sealed != 20 {
			t.Errorf("VerifyAudit() = %+v, %v", v, err)
		}
	})
}

// The audit key is made in the token (SoftHSM), sensitive, and its
// signatures verify.
func TestAuditCheckpointsOnSoftHSM(t *testing.T) {
	ctx := context.Background()
	s := newSoftHSMHierarchy(t, hierarchyConfig("ecdsa-p384", "ecdsa-p256"))
	key, err := ca.AuditKey(ctx, s.pool, "gateway-audit", true)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ca.AuditKey(ctx, s.pool, "gateway-audit", true); err != nil || again.URI() != key.URI() {
		t.Fatalf("AuditKey() a second time = %v, %v", again, err)
	}
	if _, err := ca.AuditKey(ctx, s.pool, "no-such-key", false); !errs.Is(err, errs.NotFound) {
		t.Errorf("AuditKey() of a missing key without create = %v", err)
	}
	now := time.Now()
	for range 3 {
		if _, err := s.store.AppendAudit(ctx, storage.AuditEvent{At: now.Add(-time.Hour), Actor: "test", Action: "issue"}); err != nil {
			t.Fatal(err)
		}
	}
	c := &ca.Checkpointer{Store: s.store, Key: key, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	if n, err := c.SealAll(ctx); err != nil || n != 1 {
		t.Fatalf("SealAll() = %d, %v", n, err)
	}
	if v, err := ca.VerifyAudit(ctx, s.store, key.Public()); err != nil || v.Sealed != 3 {
		t.Fatalf("VerifyAudit() = %+v, %v", v, err)
	}
}

// An export verifies in one pass, as the store does: with the pinned key
// or the one it names; an event changed in it, events out of order, a
// checkpoint after the events, a key that did not seal it, or no key at
// all are refused, naming the line or the checkpoint.
func TestVerifyAuditExport(t *testing.T) {
	ctx := context.Background()
	st := teststore.SQLite(t)
	now := time.Now().UTC().Truncate(time.Second)
	key := auditKey(t, "gateway-audit")
	for i := range 7 {
		if _, err := st.AppendAudit(ctx, storage.AuditEvent{At: now.Add(-time.Hour), Actor: "test", Action: "issue", Serial: fmt.Sprintf("%x", i+1), DER: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	c := &ca.Checkpointer{Store: st, Key: key, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	if _, err := c.SealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendAudit(ctx, storage.AuditEvent{At: now, Actor: "test", Action: "revoke"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, _, err := ca.ExportAudit(ctx, st, key.Public(), &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	join := func(ls ...string) *strings.Reader { return strings.NewReader(strings.Join(ls, "")) }

	want, err := ca.VerifyAudit(ctx, st, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, pinned := range []crypto.PublicKey{key.Public(), nil} {
		v, used, err := ca.VerifyAuditExport(join(lines...), pinned)
		if err != nil || v != want || used == nil {
			t.Fatalf("VerifyAuditExport(pinned %v) = %+v, %v; the store: %+v", pinned != nil, v, err, want)
		}
	}

	// lines: the key, one checkpoint, 8 events.
	changed := slices.Clone(lines)
	changed[4] = strings.Replace(changed[4], `"Actor":"test"`, `"Actor":"someone"`, 1)
	swapped := slices.Clone(lines)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	late := append(append([]string{lines[0]}, lines[2:]...), lines[1])
	for _, tc := range []struct {
		name   string
		in     *strings.Reader
		pinned crypto.PublicKey
		kind   errs.Kind
		want   string
	}{
		{"an event changed", join(changed...), key.Public(), errs.Conflict, "audit checkpoint 1 (events 1 to 7): the events do not match"},
		{"events swapped", join(swapped...), key.Public(), errs.Malformed, "line 5: event 2 after event 3"},
		{"a checkpoint after the events", join(late...), key.Public(), errs.Malformed, "a checkpoint after the events"},
		{"another key", join(lines...), auditKey(t, "other").Public(), errs.Conflict, "its signature does not verify"},
		{"no key", join(lines[1:]...), nil, errs.Malformed, "names no public key"},
		{"not JSON", join(lines[0], "{\n"), key.Public(), errs.Malformed, "line 2"},
	} {
		if _, _, err := ca.VerifyAuditExport(tc.in, tc.pinned); !errs.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: VerifyAuditExport() = %v, want %v saying %q", tc.name, err, tc.kind, tc.want)
		}
	}
}
