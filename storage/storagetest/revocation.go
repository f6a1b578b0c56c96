package storagetest

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

func testRevocation(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Revoke", func(t *testing.T) { testRevoke(t, open) })
	t.Run("Latest", func(t *testing.T) { testLatest(t, open) })
	t.Run("CountExpiring", func(t *testing.T) { testCountExpiring(t, open) })
}

func testRevoke(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	active := activate(t, s, ctx, pendingCert("01"))
	activate(t, s, ctx, pendingCert("02"))
	activate(t, s, ctx, pendingCert("03"))
	must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("0e")))
	first := base.Add(time.Hour)

	// The steps run in order on one store.
	tests := []struct {
		name    string
		serial  string
		reason  int
		at      time.Time
		want    errs.Kind // -1: success
		message string    // in the error
	}{
		{"active", "01", 1, first, -1, ""},
		{"again", "01", 4, first.Add(time.Hour), errs.Conflict, "already revoked"},
		{"pending", "0e", 1, first, errs.Conflict, "pending"},
		{"unknown serial", "ff", 1, first, errs.NotFound, ""},
		{"reason 7 is unused", "02", 7, first, errs.Malformed, ""},
		{"reason above 10", "02", 11, first, errs.Malformed, ""},
		{"negative reason", "02", -1, first, errs.Malformed, ""},
		{"no time", "02", 1, time.Time{}, errs.Malformed, ""},
		{"reason 0 (unspecified)", "02", 0, first, -1, ""},
		{"reason 10 (aACompromise)", "03", 10, first, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := auditOf(t, s, tt.serial)
			event := Event("revoke", tt.serial)
			event.Profile, event.Detail = "web", "reason="+strconv.Itoa(tt.reason)
			err := s.RevokeCertificate(ctx, tt.serial, tt.reason, tt.at, event)
			after := auditOf(t, s, tt.serial)
			if tt.want == -1 {
				must(t, "RevokeCertificate", err)
				// The revocation's event is in the trail, committed with it.
				if len(after) != len(before)+1 {
					t.Fatalf("audit events of %s: %d before, %d after a revocation; want one more", tt.serial, len(before), len(after))
				}
				event.ID = after[0].ID // newest first
				if !reflect.DeepEqual(after[0], event) {
					t.Errorf("audit event of the revocation = %+v, want %+v", after[0], event)
				}
				got, err := s.GetCertificate(ctx, tt.serial)
				must(t, "GetCertificate", err)
				if got.Status != storage.StatusRevoked || !got.RevokedAt.Equal(normTime(tt.at)) || got.RevocationReason != tt.reason {
					t.Errorf("after RevokeCertificate(%d, %v): status %s, revoked at %v, reason %d",
						tt.reason, tt.at, got.Status, got.RevokedAt, got.RevocationReason)
				}
				checkCertUTC(t, got)
				return
			}
			wantKind(t, "RevokeCertificate", err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.message) {
				t.Errorf("RevokeCertificate() = %q, want a message containing %q", err, tt.message)
			}
			if len(after) != len(before) {
				t.Errorf("a refused revocation of %s appended %d audit events", tt.serial, len(after)-len(before))
			}
		})
	}

	// The second revocation kept the first one's time and reason, and the
	// rest of the record is as it was.
	got, err := s.GetCertificate(ctx, "01")
	must(t, "GetCertificate", err)
	want := active
	want.Status = storage.StatusRevoked
	want.RevokedAt = normTime(first)
	want.RevocationReason = 1
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetCertificate() after two revocations =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := s.GetCertificate(ctx, "0e"); err != nil || got.Status != storage.StatusPending {
		t.Errorf("pending certificate after a refused revocation: %v, %v", got.Status, err)
	}
}

func testLatest(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	now := base.Add(30 * 24 * time.Hour)
	type row struct {
		serial, profile, status string
		notBefore               time.Duration // after base
		notAfter                time.Time
		created                 time.Duration // after base
	}
	rows := []row{
		{"b1", "default", "active", 0, now.Add(time.Hour), 0},
		{"b2", "default", "active", time.Hour, now.Add(time.Hour), time.Minute},
		// Same not_before as b2, created later: it wins the tie.
		{"b3", "default", "active", time.Hour, now.Add(time.Hour), 2 * time.Minute},
		{"b4", "default", "active", 2 * time.Hour, now, 3 * time.Minute}, // expires at now
		{"b5", "default", "revoked", 3 * time.Hour, now.Add(time.Hour), 4 * time.Minute},
		{"b6", "default", "pending", 4 * time.Hour, now.Add(time.Hour), 5 * time.Minute},
		{"b7", "web", "active", 5 * time.Hour, now.Add(time.Hour), 6 * time.Minute},
		{"b8", "web", "active", 6 * time.Hour, now.Add(-time.Hour), 7 * time.Minute},
	}
	for _, r := range rows {
		c := pendingCert(r.serial)
		c.Profile = r.profile
		c.NotBefore, c.NotAfter = base.Add(r.notBefore), r.notAfter
		c.CreatedAt = base.Add(r.created)
		if r.status == "pending" {
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
			continue
		}
		activate(t, s, ctx, c)
		if r.status == "revoked" {
			must(t, "RevokeCertificate", s.RevokeCertificate(ctx, r.serial, 4, now, Event("revoke", r.serial)))
		}
	}

	tests := []struct {
		name    string
		profile string
		now     time.Time
		revoke  string // revoke this one before asking
		want    string // "" for NotFound
	}{
		{"latest not_before", "default", now.Add(-time.Second), "", "b4"},
		{"expired at not_after, then latest created_at", "default", now, "", "b3"},
		{"revoked is skipped", "default", now, "b3", "b2"},
		{"other profile", "web", now, "", "b7"},
		{"other profile before its latest expired", "web", now.Add(-2 * time.Hour), "", "b8"},
		{"all expired", "default", now.Add(time.Hour), "", ""},
		{"unknown profile", "nope", now, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.revoke != "" {
				must(t, "RevokeCertificate", s.RevokeCertificate(ctx, tt.revoke, 1, now, Event("revoke", tt.revoke)))
			}
			got, err := s.LatestCertificate(ctx, tt.profile, tt.now)
			if tt.want == "" {
				wantKind(t, "LatestCertificate", err, errs.NotFound)
				return
			}
			must(t, "LatestCertificate", err)
			if got.Serial != tt.want {
				t.Errorf("LatestCertificate(%q, %v) = %s, want %s", tt.profile, tt.now, got.Serial, tt.want)
			}
			full, err := s.GetCertificate(ctx, got.Serial)
			must(t, "GetCertificate", err)
			if !reflect.DeepEqual(got, full) {
				t.Errorf("LatestCertificate() =\n%+v\nGetCertificate() =\n%+v", got, full)
			}
		})
	}
}

// CountExpiring counts active certificates ending in the window that
// nothing replaced, by profile: not the expired, the later, the revoked,
// the pending or the renewed ones.
func testCountExpiring(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	now := base.Add(60 * 24 * time.Hour)
	until := now.Add(30 * 24 * time.Hour)
	for _, r := range []struct {
		serial, profile, status string
		notAfter                time.Time
	}{
		{"c1", "default", "active", now},                          // counted: the window includes now
		{"c2", "default", "active", until.Add(-time.Second)},      // counted
		{"c3", "default", "active", until},                        // after the window
		{"c4", "default", "active", now.Add(-time.Second)},        // expired
		{"c5", "default", "revoked", now.Add(time.Hour)},          // revoked
		{"c6", "default", "pending", now.Add(time.Hour)},          // pending
		{"c7", "default", "renewed", now.Add(time.Hour)},          // replaced by c8
		{"c8", "default", "active", now.Add(90 * 24 * time.Hour)}, // the replacement, later
		{"c9", "web", "active", now.Add(time.Hour)},               // counted
	} {
		c := pendingCert(r.serial)
		c.Profile, c.NotAfter = r.profile, r.notAfter
		if r.status == "pending" {
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
			continue
		}
		activate(t, s, ctx, c)
		if r.status == "revoked" {
			must(t, "RevokeCertificate", s.RevokeCertificate(ctx, r.serial, 4, now, Event("revoke", r.serial)))
		}
	}
	must(t, "MarkRenewed", s.MarkRenewed(ctx, "c7", "c8")) // once c8 exists
	got, err := s.CountExpiring(ctx, now, until)
	must(t, "CountExpiring", err)
	if want := map[string]int{"default": 2, "web": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("CountExpiring = %v, want %v", got, want)
	}
	if got, err := s.CountExpiring(ctx, until.Add(365*24*time.Hour), until.Add(366*24*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("CountExpiring of an empty window = %v, %v", got, err)
	}

	// The same certificates, one profile at a time and soonest first,
	// until their expiry is told: once, whoever marks it first.
	untold := func(profile string, limit int) (out []string) {
		t.Helper()
		certs, err := s.ExpiringUntold(ctx, profile, now, until, limit)
		must(t, "ExpiringUntold", err)
		for _, c := range certs {
			out = append(out, c.Serial)
		}
		return out
	}
	if got := untold("default", 10); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("ExpiringUntold(default) = %v, want [c1 c2]", got)
	}
	if got := untold("default", 1); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("ExpiringUntold(default, 1) = %v, want [c1]", got)
	}
	if ok, err := s.MarkExpiryTold(ctx, "c1", now); err != nil || !ok {
		t.Fatalf("MarkExpiryTold(c1) = %v, %v", ok, err)
	}
	if ok, err := s.MarkExpiryTold(ctx, "c1", now.Add(time.Minute)); err != nil || ok {
		t.Fatalf("MarkExpiryTold(c1) again = %v, %v; want false", ok, err)
	}
	if got := untold("default", 10); !slices.Equal(got, []string{"c2"}) {
		t.Errorf("ExpiringUntold(default) after c1 was told = %v, want [c2]", got)
	}
	if got := untold("web", 10); !slices.Equal(got, []string{"c9"}) {
		t.Errorf("ExpiringUntold(web) = %v, want [c9]", got)
	}
	if _, err := s.ExpiringUntold(ctx, "web", now, until, 0); !errs.Is(err, errs.Malformed) {
		t.Errorf("ExpiringUntold(limit 0) = %v, want Malformed", err)
	}
}
