package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testBlockedKeys: a key is blocked once, with its audit event in the
// same commit; blocking it again keeps the first record and audits
// nothing; the list comes back oldest first, times in UTC.
func testBlockedKeys(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), context.Background()
	h1, h2 := sha256.Sum256([]byte("key one")), sha256.Sum256([]byte("key two"))
	k1 := storage.BlockedKey{Hash: h1[:], At: base, Serial: "0a1b", By: "acme:acct", Reason: "certificate 0a1b revoked for keyCompromise"}
	k2 := storage.BlockedKey{Hash: h2[:], At: base.Add(time.Minute), By: "cli:ops", Reason: "leaked on a paste site"}
	for _, k := range []storage.BlockedKey{k2, k1} {
		blocked, err := s.BlockKey(ctx, k, Event("block-key", ""))
		must(t, "BlockKey", err)
		if !blocked {
			t.Errorf("BlockKey(%x) = false, want true", k.Hash[:4])
		}
	}
	again := k1
	again.At, again.Reason = base.Add(time.Hour), "again"
	if blocked, err := s.BlockKey(ctx, again, Event("block-key", "")); err != nil || blocked {
		t.Errorf("BlockKey(blocked already) = %v, %v; want false, nil", blocked, err)
	}
	if _, err := s.BlockKey(ctx, storage.BlockedKey{Hash: []byte{1, 2, 3}, At: base}, Event("block-key", "")); !errs.Is(err, errs.Malformed) {
		t.Errorf("BlockKey(short hash) = %v, want Malformed", err)
	}
	got, err := s.BlockedKeys(ctx)
	must(t, "BlockedKeys", err)
	want := []storage.BlockedKey{k1, k2}
	for i := range want {
		want[i].At = normTime(want[i].At)
	}
	for _, k := range got {
		checkUTC(t, "BlockedKeys At", k.At)
	}
	if !reflect.DeepEqual(got, want) || !bytes.Equal(got[0].Hash, h1[:]) {
		t.Errorf("BlockedKeys() =\n%+v\nwant\n%+v", got, want)
	}
	events, err := s.ListAudit(ctx, storage.AuditFilter{Action: "block-key", Limit: 10})
	must(t, "ListAudit", err)
	if len(events) != 2 {
		t.Errorf("%d block-key events, want 2 (none for a key blocked again)", len(events))
	}
}
