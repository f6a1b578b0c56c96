package ca

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"time"
)

// RootWarning is how long before its end a CA that issues no leaves itself
// (a root, or an intermediate above the issuing CAs) is reported: a new
// root certificate has to reach the relying parties' trust stores.
const RootWarning = 365 * 24 * time.Hour

// MinWarning is the shortest warning any CA gets.
const MinWarning = 30 * 24 * time.Hour

// ExpiryWatch reports on the CAs a running gateway signs with: one whose
// certificate ends soon (a warning, with the command that renews it), and
// one that has ended or was revoked (an error: it issues nothing), once a
// day for each
// (the days left change) however often it checks. A renewal reaches the
// CAs through Hierarchy.Follow.
type ExpiryWatch struct {
	CAs      map[string]*Authority
	Profiles map[string]*Profile
	Log      *slog.Logger
	Now      func() time.Time

	said map[string]string // by CA: what the last report was about
}

// Warning is how long before its end a CA is reported: for a CA that
// profiles issue from, the longest max_validity among them (from then on
// its leaves are cut short, see withinIssuer), at least MinWarning; for
// another, RootWarning.
func (w *ExpiryWatch) Warning(name string) time.Duration {
	var d time.Duration
	issues := false
	for _, p := range w.Profiles {
		if p.CA == name {
			issues = true
			d = max(d, p.MaxValidity)
		}
	}
	if !issues {
		return RootWarning
	}
	return max(d, MinWarning)
}

// Check logs what it finds once.
func (w *ExpiryWatch) Check() {
	names := make([]string, 0, len(w.CAs))
	for name := range w.CAs {
		names = append(names, name)
	}
	sort.Strings(names)
	now := w.Now()
	if w.said == nil {
		w.said = map[string]string{}
	}
	for _, name := range names {
		cur := w.CAs[name].Certified()
		end := cur.Cert.NotAfter
		left := end.Sub(now)
		if left >= w.Warning(name) && cur.Revoked == nil {
			delete(w.said, name)
			continue
		}
		about := SerialHex(cur.Cert.SerialNumber) + "/" + strconv.Itoa(DaysLeft(now, end))
		if w.said[name] == about {
			continue // said today
		}
		w.said[name] = about
		switch r := cur.Revoked; {
		case r != nil:
			w.Log.Error("CA revoked: nothing is issued under it", "ca", name, "revoked_ca", r.CA, "revoked_at", r.At, "reason", r.Reason)
		case left <= 0:
			w.Log.Error("CA certificate has expired: nothing is issued under it until it is renewed",
				"ca", name, "not_after", end, "renew", RenewAdvice(w.CAs[name]))
		case left < w.Warning(name):
			w.Log.Warn("CA certificate ends soon", "ca", name, "not_after", end, "days_left", DaysLeft(now, end),
				"renew", RenewAdvice(w.CAs[name]))
		}
	}
}

// DaysLeft is the whole days from now until end, negative once it has
// passed.
func DaysLeft(now, end time.Time) int {
	return int(end.Sub(now).Hours() / 24)
}

// Run checks now and then every interval until ctx ends.
func (w *ExpiryWatch) Run(ctx context.Context, interval time.Duration) {
	w.Check()
	every(ctx, interval, nil, w.Check)
}
