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

// testRevokeForKeyCompromise: a revocation for keyCompromise blocks the key in
// its commit, with both audit events; a second certificate of the key is
// revoked without a second block; a refused revocation (already revoked,
// unknown) blocks nothing and audits nothing.
func testRevokeForKeyCompromise(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	for _, serial := range []string{"c1", "c2", "c3"} {
		activate(t, s, ctx, pendingCert(serial))
	}
	// revokeAndBlock revokes serial for keyCompromise with the block of k,
	// alone in its commit, as the core revokes one certificate.
	revokeAndBlock := func(serial string, at time.Time, k storage.BlockedKey) (bool, error) {
		outcomes, blocked, err := s.RevokeCertificates(ctx, []storage.Revocation{{Serial: serial, Reason: storage.ReasonKeyCompromise, At: at,
			Audit: Event("revoke", serial), Block: &k, BlockAudit: Event("block-key", serial)}})
		if err != nil {
			return false, err
		}
		return blocked[0], outcomes[0]
	}
	h, other := sha256.Sum256([]byte("leaked")), sha256.Sum256([]byte("other"))
	k := storage.BlockedKey{Hash: h[:], At: base, Serial: "c1", By: "ops", Reason: "certificate c1 was revoked for keyCompromise"}
	blocked, err := revokeAndBlock("c1", base, k)
	if err != nil || !blocked {
		t.Fatalf("revokeAndBlock(c1) = %v, %v; want true", blocked, err)
	}
	st, err := s.CertificateStatus(ctx, "c1")
	must(t, "CertificateStatus", err)
	if st.Status != storage.StatusRevoked || st.Reason != storage.ReasonKeyCompromise {
		t.Errorf("c1 after revokeAndBlock: %+v, want revoked for keyCompromise", st)
	}
	k2 := k
	k2.Serial, k2.At = "c2", base.Add(time.Minute)
	if blocked, err := revokeAndBlock("c2", base.Add(time.Minute), k2); err != nil || blocked {
		t.Errorf("revokeAndBlock(c2, the same key) = %v, %v; want false, nil", blocked, err)
	}
	ko := storage.BlockedKey{Hash: other[:], At: base, Serial: "c1", By: "ops", Reason: "again"}
	if _, err := revokeAndBlock("c1", base, ko); !errs.Is(err, errs.Conflict) {
		t.Errorf("revokeAndBlock(revoked already) = %v, want Conflict", err)
	}
	if _, err := revokeAndBlock("nope", base, ko); !errs.Is(err, errs.NotFound) {
		t.Errorf("revokeAndBlock(unknown) = %v, want NotFound", err)
	}
	keys, err := s.BlockedKeys(ctx)
	must(t, "BlockedKeys", err)
	if len(keys) != 1 || !bytes.Equal(keys[0].Hash, h[:]) || keys[0].Serial != "c1" {
		t.Errorf("BlockedKeys() = %+v, want the key of c1 alone", keys)
	}
	events, err := s.ListAudit(ctx, storage.AuditFilter{Serial: "c1", Limit: 10}) // newest first
	must(t, "ListAudit", err)
	if len(events) != 2 || events[0].Action != "block-key" || events[1].Action != "revoke" {
		t.Errorf("events of c1: %+v, want the revocation, then the block", events)
	}
	if events, _ := s.ListAudit(ctx, storage.AuditFilter{Action: "block-key", Limit: 10}); len(events) != 1 {
		t.Errorf("%d block-key events, want 1", len(events))
	}
	if st, _ := s.CertificateStatus(ctx, "c3"); st.Status != storage.StatusActive {
		t.Errorf("c3 is %s, want active", st.Status)
	}
}

// testRevokeCertificates: a batch revokes its active certificates in one
// commit, each with its audit event and, for keyCompromise, its key
// blocked once; an unknown, revoked or malformed entry is refused alone
// and changes nothing.
func testRevokeCertificates(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	for _, serial := range []string{"d1", "d2", "d3", "d4"} {
		activate(t, s, ctx, pendingCert(serial))
	}
	must(t, "RevokeCertificate(d3)", s.RevokeCertificate(ctx, "d3", 4, base, Event("revoke", "d3")))
	h := sha256.Sum256([]byte("batch key"))
	k := storage.BlockedKey{Hash: h[:], At: base, Serial: "d2", By: "ops", Reason: "certificate d2 was revoked for keyCompromise"}
	k4 := k
	k4.Serial = "d4"
	rev := func(serial string, reason int, block *storage.BlockedKey) storage.Revocation {
		r := storage.Revocation{Serial: serial, Reason: reason, At: base.Add(time.Minute), Audit: Event("revoke", serial)}
		if block != nil {
			r.Block, r.BlockAudit = block, Event("block-key", serial)
		}
		return r
	}
	revs := []storage.Revocation{
		rev("d1", 4, nil), rev("d2", 1, &k), rev("d3", 4, nil), rev("nope", 4, nil), rev("d4", 1, &k4), rev("d1", 7, nil),
	}
	outcomes, blocked, err := s.RevokeCertificates(ctx, revs)
	must(t, "RevokeCertificates", err)
	wantKinds := []errs.Kind{-1, -1, errs.Conflict, errs.NotFound, -1, errs.Malformed}
	for i, want := range wantKinds {
		switch {
		case want < 0 && outcomes[i] != nil:
			t.Errorf("RevokeCertificates: %s: %v, want revoked", revs[i].Serial, outcomes[i])
		case want >= 0 && !errs.Is(outcomes[i], want):
			t.Errorf("RevokeCertificates: %s (reason %d): %v, want %v", revs[i].Serial, revs[i].Reason, outcomes[i], want)
		}
	}
	if !reflect.DeepEqual(blocked, []bool{false, true, false, false, false, false}) {
		t.Errorf("blocked %v, want the key blocked by d2 only", blocked)
	}
	for serial, reason := range map[string]int{"d1": 4, "d2": 1, "d3": 4, "d4": 1} {
		st, err := s.CertificateStatus(ctx, serial)
		must(t, "CertificateStatus", err)
		if st.Status != storage.StatusRevoked || st.Reason != reason {
			t.Errorf("%s: %+v, want revoked with reason %d", serial, st, reason)
		}
	}
	if st, _ := s.CertificateStatus(ctx, "d3"); !st.RevokedAt.Equal(normTime(base)) {
		t.Errorf("d3 revoked at %v, want its first revocation kept", st.RevokedAt)
	}
	if keys, _ := s.BlockedKeys(ctx); len(keys) != 1 || keys[0].Serial != "d2" {
		t.Errorf("blocked keys %+v, want the one of d2", keys)
	}
	for action, want := range map[string]int{"revoke": 4, "block-key": 1} {
		if events, _ := s.ListAudit(ctx, storage.AuditFilter{Action: action, Limit: 20}); len(events) != want {
			t.Errorf("%d %s events, want %d", len(events), action, want)
		}
	}
}
