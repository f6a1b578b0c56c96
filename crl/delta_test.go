package crl

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"log/slog"
	"maps"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
	"github.com/certgw/gateway/test/teststore"
)

// TestDeltaCRL: a CA with delta CRLs publishes, with each full CRL, a
// delta CRL on the base of the last rebuild_every, listing the
// certificates revoked since, and those released from hold with
// removeFromCRL; openssl completes an older full CRL with it
// (-use_deltas); the base moves on after rebuild_every, or at once when
// the revocation events since the base are gone; the delta is served over
// HTTP and comes back from the store.
func TestDeltaCRL(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := t.Context()
		cas := hierarchy(t, st, "")
		urls := ca.URLs{Base: "http://pki.example.net"}
		issuer := &ca.Issuer{Store: st, Linter: testLinter(t), Presign: ca.NewPresigner(), URLs: urls,
			Log: slog.New(slog.DiscardHandler), Now: time.Now}
		a, b, d := issueLeaf(t, issuer, cas["issuing"]), issueLeaf(t, issuer, cas["issuing"]), issueLeaf(t, issuer, cas["issuing"])
		c := &clock{}
		cfg := Config{URLs: urls, CAs: map[string]CAConfig{"issuing": {DeltaValidity: time.Hour}}}
		newP := func(cfg Config) *Publisher {
			p, err := NewPublisher(cfg, st.(Store), &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()}, cas, slog.New(slog.DiscardHandler), c.now)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
			return p
		}
		p := newP(cfg)
		if p.Current("root").Delta != nil {
			t.Error("the root, without delta_validity, has a delta CRL")
		}
		first := p.Current("issuing")
		if d := first.Delta; d == nil || d.Base != first.Number || d.Number != first.Number+1 || len(entriesOf(t, d)) != 0 ||
			!d.NextUpdate.Equal(first.ThisUpdate.Add(time.Hour)) {
			t.Fatalf("first CRL %d, delta %+v: want an empty delta on its base, valid 1h", first.Number, first.Delta)
		}
		full, _ := x509.ParseRevocationList(first.DER)
		if got := freshestOf(t, full); got != urls.DeltaCRL("issuing") {
			t.Errorf("freshestCRL of the full CRL: %q", got)
		}

		serial := func(c *x509.Certificate) string { return ca.SerialHex(c.SerialNumber) }
		revoke := func(c *x509.Certificate, reason int) {
			t.Helper()
			if err := st.RevokeCertificate(ctx, serial(c), reason, time.Now(), storagetest.Event("revoke", serial(c))); err != nil {
				t.Fatal(err)
			}
		}
		rebuild := func() *Published {
			t.Helper()
			cur, err := p.Rebuild(ctx, "issuing")
			if err != nil {
				t.Fatal(err)
			}
			return cur
		}
		revoke(a, 1)
		revoke(b, 6) // certificateHold
		held := rebuild()
		if got, want := entriesOf(t, held.Delta), map[string]int{serial(a): 1, serial(b): 6}; !maps.Equal(got, want) || held.Delta.Base != first.Number {
			t.Errorf("delta on base %d lists %v, want %v on base %d", held.Delta.Base, got, want, first.Number)
		}

		// openssl: the first full CRL, completed by the delta.
		root := writeFile(t, "root.pem", pemCert(cas["root"].Cert()))
		issuing := writeFile(t, "issuing.pem", pemCert(cas["issuing"].Cert()))
		verify := func(cert *x509.Certificate, crls ...*Published) (string, error) {
			args := []string{"verify", "-crl_check", "-use_deltas", "-CAfile", root, "-untrusted", issuing}
			for i, c := range crls {
				args = append(args, "-CRLfile", writeFile(t, "crl"+itoa(i)+".pem", c.PEM()))
			}
			out, err := exec.Command("openssl", append(args, writeFile(t, "leaf.pem", pemCert(cert)))...).CombinedOutput()
			return string(out), err
		}
		if out, err := verify(a, first); err != nil {
			t.Errorf("openssl verify of a with the first full CRL alone, which predates its revocation: %v\n%s", err, out)
		}
		if out, err := verify(a, first, held.Delta); err == nil || !strings.Contains(out, "revoked") {
			t.Errorf("openssl verify of a with the first full CRL and the delta: %v\n%s", err, out)
		}
		if out, err := verify(d, first, held.Delta); err != nil {
			t.Errorf("openssl verify of d, never revoked: %v\n%s", err, out)
		}

		// Released from hold: removeFromCRL in the delta, which takes b
		// off a full CRL that lists it on hold.
		if err := st.ReleaseHold(ctx, serial(b), storagetest.Event("release-hold", serial(b))); err != nil {
			t.Fatal(err)
		}
		released := rebuild()
		if got, want := entriesOf(t, released.Delta), map[string]int{serial(a): 1, serial(b): 8}; !maps.Equal(got, want) {
			t.Errorf("after the release, the delta lists %v, want %v", got, want)
		}
		if out, err := verify(b, held); err == nil || !strings.Contains(out, "revoked") {
			t.Errorf("openssl verify of b with the full CRL of its hold: %v\n%s", err, out)
		}
		if out, err := verify(b, held, released.Delta); err != nil {
			t.Errorf("openssl verify of b with the full CRL of its hold and the delta of its release: %v\n%s", err, out)
		}

		// Rebuilt every half of delta_validity; the base stays for
		// rebuild_every (6h by default), then the full CRL is the base.
		run(t, p)
		c.advance(31 * time.Minute)
		waitFor(t, "the rebuild half-way through the delta's validity", func() bool { return p.Current("issuing").Number > released.Delta.Number })
		if cur := p.Current("issuing"); cur.Delta.Base != first.Number || len(entriesOf(t, cur.Delta)) != 2 {
			t.Errorf("after 31 minutes: delta on base %d with %d entries, want base %d with 2", cur.Delta.Base, len(entriesOf(t, cur.Delta)), first.Number)
		}
		c.advance(6 * time.Hour)
		rolled := rebuild()
		if rolled.Delta.Base != rolled.Number || len(entriesOf(t, rolled.Delta)) != 0 {
			t.Errorf("after 6 hours: delta on base %d with %d entries, want an empty delta on the new base %d",
				rolled.Delta.Base, len(entriesOf(t, rolled.Delta)), rolled.Number)
		}
		revoke(d, 4)
		next := rebuild()
		if got := entriesOf(t, next.Delta); next.Delta.Base != rolled.Number || !maps.Equal(got, map[string]int{serial(d): 4}) {
			t.Errorf("delta on base %d lists %v, want d on base %d", next.Delta.Base, got, rolled.Number)
		}

		// The events since the base pruned: the full CRL being built is
		// the base.
		state, err := st.(Store).RevocationState(ctx, "issuing")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.PruneRevocationEvents(ctx, "issuing", state.Generation); err != nil {
			t.Fatal(err)
		}
		pruned := rebuild()
		if pruned.Delta.Base != pruned.Number || len(entriesOf(t, pruned.Delta)) != 0 {
			t.Errorf("after pruning: delta on base %d with %d entries, want an empty delta on base %d", pruned.Delta.Base, len(entriesOf(t, pruned.Delta)), pruned.Number)
		}

		// HTTP.
		get := serveCRLs(t, p)
		cur := p.Current("issuing")
		if resp, body := get("/crl/issuing/delta.crl"); resp.StatusCode != 200 || !bytes.Equal(body, cur.Delta.DER) || resp.Header.Get("Content-Type") != "application/pkix-crl" {
			t.Errorf("GET delta.crl: %d %v", resp.StatusCode, resp.Header)
		}
		if resp, body := get("/crl/issuing/delta.pem"); resp.StatusCode != 200 || !bytes.Equal(body, cur.Delta.PEM()) {
			t.Errorf("GET delta.pem: %d", resp.StatusCode)
		}
		if resp, _ := get("/crl/root/delta.crl"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET the delta of the root, which has none: %d", resp.StatusCode)
		}

		// A restart serves the stored delta; turned off, the next CRL has
		// none and no freshestCRL.
		if got := newP(cfg).Current("issuing"); got.Delta == nil || got.Delta.Number != cur.Delta.Number || got.Delta.BaseGeneration != cur.Delta.BaseGeneration {
			t.Errorf("after a restart: delta %+v, want number %d", got.Delta, cur.Delta.Number)
		}
		off := newP(Config{URLs: urls}).Current("issuing")
		full, _ = x509.ParseRevocationList(off.DER)
		if off.Delta != nil || off.Number <= cur.Delta.Number || freshestOf(t, full) != "" {
			t.Errorf("delta CRLs off: CRL %d with delta %v", off.Number, off.Delta)
		}
	})
}

// entriesOf parses a delta CRL, checks its deltaCRLIndicator against
// c.Base, and returns its entries' reasons by serial.
func entriesOf(t *testing.T, c *Published) map[string]int {
	t.Helper()
	crl, err := x509.ParseRevocationList(c.DER)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number.Int64() != c.Number {
		t.Errorf("delta CRL number %v, record %d", crl.Number, c.Number)
	}
	var base int64 = -1
	for _, e := range crl.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 27}) {
			if !e.Critical {
				t.Error("deltaCRLIndicator is not critical")
			}
			if _, err := asn1.Unmarshal(e.Value, &base); err != nil {
				t.Fatal(err)
			}
		}
	}
	if base != c.Base {
		t.Errorf("deltaCRLIndicator %d, record %d", base, c.Base)
	}
	out := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		out[ca.SerialHex(e.SerialNumber)] = e.ReasonCode
	}
	return out
}

// freshestOf returns the URI of a CRL's freshestCRL, or "".
func freshestOf(t *testing.T, crl *x509.RevocationList) string {
	t.Helper()
	for _, e := range crl.Extensions {
		if !e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 46}) {
			continue
		}
		if e.Critical {
			t.Error("freshestCRL is critical")
		}
		var dps []struct {
			Name asn1.RawValue `asn1:"optional,tag:0"`
		}
		if _, err := asn1.Unmarshal(e.Value, &dps); err != nil || len(dps) != 1 {
			t.Fatalf("freshestCRL %x: %v", e.Value, err)
		}
		var full asn1.RawValue
		if _, err := asn1.Unmarshal(dps[0].Name.Bytes, &full); err != nil {
			t.Fatal(err)
		}
		var uri asn1.RawValue
		if _, err := asn1.Unmarshal(full.Bytes, &uri); err != nil || uri.Tag != 6 {
			t.Fatalf("freshestCRL name %x: %v", full.Bytes, err)
		}
		return string(uri.Bytes)
	}
	return ""
}
