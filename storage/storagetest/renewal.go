package storagetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

func testRenewal(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("SetAutoRenew", func(t *testing.T) {
		s, ctx := withCA(t, open)
		activate(t, s, ctx, pendingCert("01"))
		tests := []struct {
			name   string
			serial string
			on     bool
			want   errs.Kind // -1: success
		}{
			{"on", "01", true, -1},
			{"on again", "01", true, -1},
			{"off", "01", false, -1},
			{"unknown serial", "ff", true, errs.NotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := auditOf(t, s, tt.serial)
				event := Event("auto-renew", tt.serial)
				event.Detail = fmt.Sprintf("enabled=%t", tt.on)
				err := s.SetAutoRenew(ctx, tt.serial, tt.on, event)
				after := auditOf(t, s, tt.serial)
				if tt.want != -1 {
					wantKind(t, "SetAutoRenew", err, tt.want)
					if len(after) != len(before) {
						t.Errorf("a refused SetAutoRenew appended %d audit events", len(after)-len(before))
					}
					return
				}
				must(t, "SetAutoRenew", err)
				// Its event is in the trail, committed with it.
				if len(after) != len(before)+1 {
					t.Fatalf("audit events of %s: %d before, %d after SetAutoRenew; want one more", tt.serial, len(before), len(after))
				}
				event.ID = after[0].ID
				if !reflect.DeepEqual(after[0], event) {
					t.Errorf("audit event = %+v, want %+v", after[0], event)
				}
				got, err := s.GetCertificate(ctx, tt.serial)
				must(t, "GetCertificate", err)
				if got.AutoRenew != tt.on {
					t.Errorf("AutoRenew = %v after SetAutoRenew(%v)", got.AutoRenew, tt.on)
				}
			})
		}
	})

	t.Run("Due", func(t *testing.T) { testDueForRenewal(t, open) })
	t.Run("Claim", func(t *testing.T) { testClaimRenewal(t, open) })
	t.Run("Release", func(t *testing.T) { testReleaseRenewal(t, open) })
	t.Run("MarkRenewed", func(t *testing.T) { testMarkRenewed(t, open) })
	t.Run("Pending", func(t *testing.T) { testPendingCertificates(t, open) })
}

// testDueForRenewal builds one certificate per reason to renew or not.
func testDueForRenewal(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	now := base.Add(60 * 24 * time.Hour)
	due := func(serial string, renewAt time.Time) storage.Certificate {
		c := renewable(serial)
		c.RenewAt = renewAt
		c.NotAfter = now.Add(5 * 24 * time.Hour)
		return c
	}
	want := map[string]storage.Certificate{}
	for _, step := range []struct {
		serial string
		change func(c *storage.Certificate)
		after  func(serial string) // run after activation
		due    bool
	}{
		{"d1", func(c *storage.Certificate) { c.RenewAt = now.Add(-2 * time.Hour) }, nil, true},
		{"d2", func(c *storage.Certificate) { c.RenewAt = now.Add(-time.Hour) }, nil, true},
		{"d3", func(c *storage.Certificate) { c.RenewAt = now }, nil, true}, // RenewAt <= now
		{"d4", func(c *storage.Certificate) { c.RenewAt = now.Add(time.Second) }, nil, false},
		{"d5", func(c *storage.Certificate) { c.KeyPEM = nil }, nil, false},
		{"d6", func(c *storage.Certificate) { c.AutoRenew = false }, nil, false},
		{"d7", func(c *storage.Certificate) { c.RenewAt = time.Time{} }, nil, false},
		{"d8", func(c *storage.Certificate) { c.NotAfter = now }, nil, false}, // expired
		{"d9", nil, func(serial string) {
			must(t, "Revoke", s.RevokeCertificate(ctx, serial, 4, now, Event("revoke", serial)))
		}, false},
		{"da", nil, func(serial string) { must(t, "MarkRenewed", s.MarkRenewed(ctx, serial, "ff01")) }, false},
		{"db", nil, func(serial string) {
			must(t, "SetAutoRenew", s.SetAutoRenew(ctx, serial, false, Event("auto-renew", serial)))
		}, false},
		{"dc", nil, func(serial string) { claim(t, s, serial, "a", now.Add(-time.Minute), 2*time.Minute, true) }, false},
		// A claim whose lease ended at now no longer counts.
		{"dd", func(c *storage.Certificate) { c.RenewAt = now.Add(-30 * time.Minute) },
			func(serial string) { claim(t, s, serial, "a", now.Add(-2*time.Minute), 2*time.Minute, true) }, true},
		{"de", func(c *storage.Certificate) { c.RenewAt = now.Add(-3 * time.Hour) }, nil, true},
	} {
		c := due(step.serial, now.Add(-10*time.Minute))
		if step.change != nil {
			step.change(&c)
		}
		w := activate(t, s, ctx, c)
		if step.after != nil {
			step.after(step.serial)
		}
		if step.due {
			want[step.serial] = w
		}
	}
	// Pending rows are never due.
	pending := due("0e", now.Add(-time.Hour))
	must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pending))

	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string // oldest RenewAt first
	}{
		{"due", now, 10, []string{"de", "d1", "d2", "dd", "d3"}},
		{"limit", now, 2, []string{"de", "d1"}},
		{"earlier", now.Add(-90 * time.Minute), 10, []string{"de", "d1"}},
		{"nothing due yet", base, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DueForRenewal(ctx, tt.now, tt.limit)
			must(t, "DueForRenewal", err)
			if !reflect.DeepEqual(serialsOf(got), tt.want) {
				t.Errorf("DueForRenewal(%v, %d) = %v, want %v", tt.now, tt.limit, serialsOf(got), tt.want)
			}
			for _, c := range got {
				if !reflect.DeepEqual(c, want[c.Serial]) {
					t.Errorf("DueForRenewal() returned\n%+v\nwant\n%+v", c, want[c.Serial])
				}
			}
		})
	}
	for _, limit := range []int{0, -1} {
		_, err := s.DueForRenewal(ctx, now, limit)
		wantKind(t, "DueForRenewal with limit < 1", err, errs.Malformed)
	}
}

// claim calls ClaimRenewal and fails t unless it answers want.
func claim(t *testing.T, s storage.Store, serial, claimant string, now time.Time, lease time.Duration, want bool) {
	t.Helper()
	got, err := s.ClaimRenewal(t.Context(), serial, claimant, now, lease)
	must(t, "ClaimRenewal", err)
	if got != want {
		t.Errorf("ClaimRenewal(%s, %q, %v, %v) = %v, want %v", serial, claimant, now, lease, got, want)
	}
}

func testClaimRenewal(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	t0 := base.Add(60 * 24 * time.Hour)
	activate(t, s, ctx, renewable("01"))
	activate(t, s, ctx, renewable("02"))
	must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, renewable("0e")))
	activate(t, s, ctx, renewable("03"))
	must(t, "RevokeCertificate", s.RevokeCertificate(ctx, "03", 1, t0, Event("revoke", "03")))

	// The steps run in order on one store.
	tests := []struct {
		name     string
		serial   string
		claimant string
		now      time.Time
		lease    time.Duration
		before   func() // run first
		want     bool
		kind     errs.Kind // -1: no error
	}{
		{name: "first claim", serial: "01", claimant: "replica-a", now: t0, lease: time.Minute, want: true, kind: -1},
		{name: "other claimant, lease live", serial: "01", claimant: "replica-b", now: t0.Add(30 * time.Second), lease: time.Minute, kind: -1},
		{name: "same claimant, lease live", serial: "01", claimant: "replica-a", now: t0.Add(59 * time.Second), lease: time.Minute, kind: -1},
		{name: "lease ended at now", serial: "01", claimant: "replica-b", now: t0.Add(time.Minute), lease: time.Minute, want: true, kind: -1},
		{name: "new holder's lease live", serial: "01", claimant: "replica-a", now: t0.Add(time.Minute + 59*time.Second), lease: time.Minute, kind: -1},
		{name: "lease ended long ago", serial: "01", claimant: "replica-a", now: t0.Add(time.Hour), lease: time.Minute, want: true, kind: -1},
		{name: "claims are per certificate", serial: "02", claimant: "replica-b", now: t0.Add(time.Hour), lease: time.Minute, want: true, kind: -1},
		{name: "renewed", serial: "01", claimant: "replica-b", now: t0.Add(2 * time.Hour), lease: time.Minute, kind: -1,
			before: func() { must(t, "MarkRenewed", s.MarkRenewed(ctx, "01", "0101")) }},
		{name: "pending", serial: "0e", claimant: "replica-a", now: t0, lease: time.Minute, kind: -1},
		{name: "revoked", serial: "03", claimant: "replica-a", now: t0, lease: time.Minute, kind: -1},
		{name: "unknown serial", serial: "ff", claimant: "replica-a", now: t0, lease: time.Minute, kind: errs.NotFound},
		{name: "no claimant", serial: "02", claimant: "", now: t0.Add(3 * time.Hour), lease: time.Minute, kind: errs.Malformed},
		{name: "zero lease", serial: "02", claimant: "replica-a", now: t0.Add(3 * time.Hour), lease: 0, kind: errs.Malformed},
		{name: "negative lease", serial: "02", claimant: "replica-a", now: t0.Add(3 * time.Hour), lease: -time.Minute, kind: errs.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			got, err := s.ClaimRenewal(ctx, tt.serial, tt.claimant, tt.now, tt.lease)
			if tt.kind != -1 {
				wantKind(t, "ClaimRenewal", err, tt.kind)
				return
			}
			must(t, "ClaimRenewal", err)
			if got != tt.want {
				t.Errorf("ClaimRenewal(%s, %q, %v, %v) = %v, want %v", tt.serial, tt.claimant, tt.now, tt.lease, got, tt.want)
			}
		})
	}
}

func testReleaseRenewal(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	t0 := base.Add(60 * 24 * time.Hour)
	activate(t, s, ctx, renewable("01"))
	activate(t, s, ctx, renewable("02"))
	release := func(serial, claimant string) {
		t.Helper()
		must(t, "ReleaseRenewal("+serial+", "+claimant+")", s.ReleaseRenewal(ctx, serial, claimant))
	}

	// Released: the next claimer need not wait for the lease, and the
	// certificate is due again.
	claim(t, s, "01", "renew:a", t0, time.Hour, true)
	claim(t, s, "02", "renew:a", t0, time.Hour, true)
	release("01", "renew:a")
	if due, err := s.DueForRenewal(ctx, t0, 10); err != nil || len(due) != 1 || due[0].Serial != "01" {
		t.Errorf("DueForRenewal() after releasing 01 = %v, %v; want 01 alone (02 is still claimed)", serialsOf(due), err)
	}
	claim(t, s, "01", "renew:b", t0.Add(time.Second), time.Hour, true)

	// Not the claimant's (any more): left alone.
	release("01", "renew:a")
	claim(t, s, "01", "renew:c", t0.Add(2*time.Second), time.Hour, false)
	// Released twice: the second changes nothing.
	release("01", "renew:b")
	release("01", "renew:b")
	claim(t, s, "01", "renew:c", t0.Add(3*time.Second), time.Hour, true)

	wantKind(t, "ReleaseRenewal of an unknown serial", s.ReleaseRenewal(ctx, "ff", "renew:a"), errs.NotFound)
	wantKind(t, "ReleaseRenewal without a claimant", s.ReleaseRenewal(ctx, "02", ""), errs.Malformed)
	claim(t, s, "02", "renew:b", t0.Add(time.Minute), time.Hour, false) // still renew:a's
}

func testMarkRenewed(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	old := activate(t, s, ctx, renewable("01"))
	activate(t, s, ctx, renewable("02"))
	next := renewable("0101")
	next.Replaces = "01"
	next.CreatedAt = base.Add(time.Hour)

	tests := []struct {
		name     string
		old, new string
		want     errs.Kind // -1: success
	}{
		{"renewed", "01", "0101", -1},
		{"again", "01", "0102", errs.Conflict},
		{"same new serial again", "01", "0101", errs.Conflict},
		{"unknown serial", "ff", "0101", errs.NotFound},
		{"by itself", "02", "02", errs.Malformed},
		{"by nothing", "02", "", errs.Malformed},
		{"by a serial that is not lowercase hex", "02", "0A", errs.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.MarkRenewed(ctx, tt.old, tt.new)
			if tt.want != -1 {
				wantKind(t, "MarkRenewed", err, tt.want)
				return
			}
			must(t, "MarkRenewed", err)
		})
	}

	// The new certificate need not exist when the old one is marked; once
	// stored, each names the other.
	must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, next))
	got, err := s.GetCertificate(ctx, "01")
	must(t, "GetCertificate", err)
	want := old
	want.RenewedBy = "0101"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetCertificate(old) =\n%+v\nwant\n%+v", got, want)
	}
	gotNext, err := s.GetCertificate(ctx, "0101")
	must(t, "GetCertificate", err)
	if gotNext.Replaces != "01" || gotNext.RenewedBy != "" {
		t.Errorf("GetCertificate(new): Replaces %q, RenewedBy %q; want \"01\" and \"\"", gotNext.Replaces, gotNext.RenewedBy)
	}
	if got, err := s.GetCertificate(ctx, "02"); err != nil || got.RenewedBy != "" {
		t.Errorf("a refused MarkRenewed changed 02: RenewedBy %q, %v", got.RenewedBy, err)
	}
}

func testPendingCertificates(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	for _, r := range []struct {
		serial  string
		created time.Duration
		active  bool
	}{
		{"c3", time.Minute, false},
		{"c1", 0, false},
		{"c2", time.Minute, false}, // same time as c3: the smaller serial first
		{"c4", 0, true},
		{"c5", 10 * time.Minute, false},
	} {
		c := pendingCert(r.serial)
		c.CreatedAt = base.Add(r.created)
		if r.active {
			activate(t, s, ctx, c)
			continue
		}
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
	}

	tests := []struct {
		name      string
		olderThan time.Time
		limit     int
		want      []string // oldest first
	}{
		{"older than", base.Add(5 * time.Minute), 10, []string{"c1", "c2", "c3"}},
		{"limit", base.Add(5 * time.Minute), 2, []string{"c1", "c2"}},
		{"all", base.Add(time.Hour), 10, []string{"c1", "c2", "c3", "c5"}},
		{"bound is exclusive", base.Add(time.Minute), 10, []string{"c1"}},
		{"none", base, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.PendingCertificates(ctx, tt.olderThan, tt.limit)
			must(t, "PendingCertificates", err)
			if !reflect.DeepEqual(serialsOf(got), tt.want) {
				t.Errorf("PendingCertificates(%v, %d) = %v, want %v", tt.olderThan, tt.limit, serialsOf(got), tt.want)
			}
			for _, c := range got {
				if c.Status != storage.StatusPending || c.DER != nil {
					t.Errorf("PendingCertificates() returned %s with status %s and %d bytes of DER", c.Serial, c.Status, len(c.DER))
				}
			}
		})
	}
	_, err := s.PendingCertificates(ctx, base.Add(time.Hour), 0)
	wantKind(t, "PendingCertificates with limit 0", err, errs.Malformed)
}
