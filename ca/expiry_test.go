package ca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

type caRecords map[string][]byte

func (r caRecords) GetCA(ctx context.Context, name string) (storage.CA, error) {
	der, ok := r[name]
	if !ok {
		return storage.CA{}, errs.New(errs.NotFound, "no CA %q", name)
	}
	return storage.CA{Name: name, CertDER: der}, nil
}

// The watch warns about a CA in the window where its leaves are cut short
// (a root a year ahead), reports an expired CA as an error, and one that
// was renewed in the store since the process loaded it.
func TestExpiryWatch(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	authority := func(name string, left time.Duration, raw string) *ca.Authority {
		return &ca.Authority{Name: name, Cert: &x509.Certificate{NotAfter: now.Add(left), Raw: []byte(raw), SerialNumber: big.NewInt(7)}}
	}
	profiles := map[string]*ca.Profile{
		"web":   {Name: "web", CA: "issuing", MaxValidity: 90 * day},
		"short": {Name: "short", CA: "devices", MaxValidity: day},
	}
	for _, tc := range []struct {
		name  string
		a     *ca.Authority
		store string // stored certificate
		want  string // in the log, "" for nothing
	}{
		{"issuing, 100 days left", authority("issuing", 100*day, "a"), "a", ""},
		{"issuing, 80 days left", authority("issuing", 80*day, "a"), "a", `level=WARN msg="CA certificate ends soon" ca=issuing`},
		{"devices, 40 days left", authority("devices", 40*day, "a"), "a", ""},
		{"devices, 20 days left", authority("devices", 20*day, "a"), "a", `level=WARN msg="CA certificate ends soon" ca=devices`},
		{"root, 400 days left", authority("root", 400*day, "a"), "a", ""},
		{"root, 300 days left", authority("root", 300*day, "a"), "a", `ca=root not_after=2030-10-28T00:00:00.000Z days_left=300 renew="gateway ca renew -ca root"`},
		{"issuing, expired", authority("issuing", 0, "a"), "a", `level=ERROR msg="CA certificate has expired`},
		{"issuing, renewed", authority("issuing", 100*day, "a"), "b", `level=WARN msg="CA certificate was renewed since this gateway started`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &ca.ExpiryWatch{
				CAs: map[string]*ca.Authority{tc.a.Name: tc.a}, Profiles: profiles,
				Store: caRecords{tc.a.Name: []byte(tc.store)},
				Log:   slog.New(slog.NewTextHandler(&buf, nil)), Now: func() time.Time { return now },
			}
			w.Check(context.Background())
			got := buf.String()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("log:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}
