package ca_test

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
)

// The watch warns about a CA in the window where its leaves are cut short
// (a root a year ahead) and reports an expired CA as an error.
func TestExpiryWatch(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	authority := func(name string, left time.Duration) *ca.Authority {
		return ca.NewAuthority(name, nil, &x509.Certificate{NotAfter: now.Add(left), SerialNumber: big.NewInt(7)}, nil)
	}
	external := func(name string, left time.Duration) *ca.Authority {
		a := authority(name, left)
		a.External = true
		return a
	}
	profiles := map[string]*ca.Profile{
		"web":   {Name: "web", CA: "issuing", MaxValidity: 90 * day},
		"short": {Name: "short", CA: "devices", MaxValidity: day},
	}
	for _, tc := range []struct {
		name string
		a    *ca.Authority
		want string // in the log, "" for nothing
	}{
		{"issuing, 100 days left", authority("issuing", 100*day), ""},
		{"issuing, 80 days left", authority("issuing", 80*day), `level=WARN msg="CA certificate ends soon" ca=issuing`},
		{"devices, 40 days left", authority("devices", 40*day), ""},
		{"devices, 20 days left", authority("devices", 20*day), `level=WARN msg="CA certificate ends soon" ca=devices`},
		{"root, 400 days left", authority("root", 400*day), ""},
		{"root, 300 days left", authority("root", 300*day), `ca=root not_after=2030-10-28T00:00:00.000Z days_left=300 renew="gateway ca renew -ca root"`},
		{"issuing, expired", authority("issuing", 0), `level=ERROR msg="CA certificate has expired`},
		{"external issuing, 80 days left", external("issuing", 80*day), `renew="gateway ca csr -ca issuing (have it signed), then gateway ca import -ca issuing -cert FILE"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &ca.ExpiryWatch{
				CAs: map[string]*ca.Authority{tc.a.Name: tc.a}, Profiles: profiles,
				Log: slog.New(slog.NewTextHandler(&buf, nil)), Now: func() time.Time { return now },
			}
			w.Check()
			got := buf.String()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("log:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}

// However often it checks, the watch says it once a day.
func TestExpiryWatchOncePerDay(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	a := ca.NewAuthority("root", nil, &x509.Certificate{NotAfter: now.Add(100*24*time.Hour + 12*time.Hour), SerialNumber: big.NewInt(7)}, nil)
	w := &ca.ExpiryWatch{CAs: map[string]*ca.Authority{"root": a}, Log: slog.New(slog.NewTextHandler(&buf, nil)), Now: func() time.Time { return now }}
	said := func() int { return strings.Count(buf.String(), "CA certificate ends soon") }
	for range 12 { // hourly checks, 100 days left
		w.Check()
		now = now.Add(time.Hour)
	}
	if said() != 1 {
		t.Fatalf("12 hourly checks said it %d times:\n%s", said(), buf.String())
	}
	now = now.Add(12 * time.Hour)
	w.Check()
	if said() != 2 {
		t.Fatalf("the next day: said %d times", said())
	}
}
