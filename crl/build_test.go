package crl

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/test/teststore"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestBuild(t *testing.T) {
	for _, keyType := range []string{"ecdsa-p256", "rsa-2048"} {
		t.Run(keyType, func(t *testing.T) {
			cas := hierarchy(t, teststore.SQLite(t), keyType)
			a := cas["issuing"]
			key := &countingKey{Key: a.Key}
			a.Key = key
			this := time.Now().Truncate(time.Second)
			revoked := this.Add(-time.Hour).UTC()
			// Every reason a certificate can be revoked with.
			var entries []Entry
			for _, r := range []int{0, 1, 2, 3, 4, 5, 6, 8, 9, 10} {
				entries = append(entries, Entry{Serial: mustHex(fmt.Sprintf("8%031x", r)), RevokedAt: revoked, Reason: r})
			}
			b := &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()}
			der, err := b.Build(t.Context(), a, Params{Number: 42, ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), SizeHint: len(entries)}, SliceSource(entries))
			if err != nil {
				t.Fatal(err)
			}
			if key.n.Load() != 1 {
				t.Errorf("the CA key signed %d times, want once", key.n.Load())
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(a.Cert()); err != nil {
				t.Fatalf("signature: %v", err)
			}
			if crl.Number.Int64() != 42 || !crl.ThisUpdate.Equal(this) || !crl.NextUpdate.Equal(this.Add(24*time.Hour)) {
				t.Errorf("number %v, thisUpdate %v, nextUpdate %v", crl.Number, crl.ThisUpdate, crl.NextUpdate)
			}
			if string(crl.AuthorityKeyId) != string(a.Cert().SubjectKeyId) {
				t.Errorf("AKI %x, want the CA's SKI %x", crl.AuthorityKeyId, a.Cert().SubjectKeyId)
			}
			if len(crl.RevokedCertificateEntries) != len(entries) {
				t.Fatalf("%d entries, want %d", len(crl.RevokedCertificateEntries), len(entries))
			}
			for i, e := range crl.RevokedCertificateEntries {
				want := EntryReason(entries[i].Reason)
				if e.ReasonCode != want || !e.RevocationTime.Equal(revoked.Truncate(time.Second)) || hex.EncodeToString(e.SerialNumber.Bytes()) != hex.EncodeToString(entries[i].Serial) {
					t.Errorf("entry %d: serial %x reason %d at %v; want reason %d", i, e.SerialNumber, e.ReasonCode, e.RevocationTime, want)
				}
				// RFC 5280 5.3.1: no reasonCode extension for unspecified.
				if want == 0 && len(e.Extensions) != 0 {
					t.Errorf("entry %d: unspecified reason has extensions %v", i, e.Extensions)
				}
			}
			// openssl reads DER and PEM.
			out := opensslCmd(t, nil, "crl", "-inform", "DER", "-in", writeFile(t, "c.crl", der), "-noout", "-text")
			for _, want := range []string{"X509v3 CRL Number", "42", "X509v3 Authority Key Identifier", "Key Compromise", "CA Compromise", "Certificate Hold", "AA Compromise"} {
				if !strings.Contains(out, want) {
					t.Errorf("openssl crl output lacks %q:\n%s", want, out)
				}
			}
			opensslCmd(t, nil, "crl", "-in", writeFile(t, "c.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})), "-noout")
			// The gateway's CRL lint gate passes it (checked again here on
			// the real DER, not the draft).
			if err := testLinter(t).LintRevocationList(der); err != nil {
				t.Errorf("lint: %v", err)
			}
		})
	}
}

// With the reason codes the CA/B Forum allows, a CRL passes the whole
// zlint registry, not just the gateway's gate.
func TestBuildPassesFullRegistry(t *testing.T) {
	cas := hierarchy(t, teststore.SQLite(t), "")
	this := time.Now().Truncate(time.Second)
	var entries []Entry
	for i, r := range []int{0, 1, 3, 4, 5, 9} {
		entries = append(entries, Entry{Serial: []byte{byte(i + 1), 2, 3}, RevokedAt: this.Add(-time.Minute), Reason: r})
	}
	b := &Builder{Linter: fullLinter(t), Presign: ca.NewPresigner()}
	for _, es := range [][]Entry{nil, entries} {
		der, err := b.Build(t.Context(), cas["issuing"], Params{Number: 1, ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour)}, SliceSource(es))
		if err != nil {
			t.Fatal(err)
		}
		if err := fullLinter(t).LintRevocationList(der); err != nil {
			t.Errorf("%d entries: %v", len(es), err)
		}
	}
}

// Lint before signing: a CRL the lint gate rejects is never signed.
func TestBuildLintGateStopsBeforeSigning(t *testing.T) {
	cas := hierarchy(t, teststore.SQLite(t), "")
	a := cas["issuing"]
	key := &countingKey{Key: a.Key}
	a.Key = key
	this := time.Now().Truncate(time.Second)
	b := &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()}
	// BR 7.2.2: at most 10 days between thisUpdate and nextUpdate.
	_, err := b.Build(t.Context(), a, Params{Number: 1, ThisUpdate: this, NextUpdate: this.Add(11 * 24 * time.Hour)}, SliceSource(nil))
	var lintErr *ca.LintError
	if !errors.As(err, &lintErr) || !strings.Contains(err.Error(), "e_crl_next_update_invalid") {
		t.Fatalf("Build() = %v, want a lint error naming e_crl_next_update_invalid", err)
	}
	if key.n.Load() != 0 {
		t.Fatalf("the CA key signed %d times although the lint gate refused", key.n.Load())
	}
}

// A CRL larger than the lint sample: the draft holds a sample, the CRL
// every entry; a store error stops the build.
func TestBuildLargeAndSourceErrors(t *testing.T) {
	cas := hierarchy(t, teststore.SQLite(t), "")
	this := time.Now().Truncate(time.Second)
	const n = 20000
	b := &Builder{Linter: testLinter(t), Presign: ca.NewPresigner(), LintSample: 100}
	src := func(ctx context.Context, emit func(Entry) error) error {
		serial := make([]byte, 16)
		for i := range n {
			serial[0], serial[14], serial[15] = 0x80, byte(i>>8), byte(i)
			if err := emit(Entry{Serial: serial, RevokedAt: this.Add(-time.Duration(i) * time.Second), Reason: []int{0, 1, 4, 5}[i%4]}); err != nil {
				return err
			}
		}
		return nil
	}
	der, err := b.Build(t.Context(), cas["issuing"], Params{Number: 7, ThisUpdate: this, NextUpdate: this.Add(time.Hour), SizeHint: n}, src)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(cas["issuing"].Cert()); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != n {
		t.Fatalf("%d entries, want %d", len(crl.RevokedCertificateEntries), n)
	}
	if len(der) > 60*n {
		t.Errorf("%d bytes for %d entries", len(der), n)
	}

	boom := errs.New(errs.Unavailable, "store down")
	_, err = b.Build(t.Context(), cas["issuing"], Params{Number: 8, ThisUpdate: this, NextUpdate: this.Add(time.Hour)},
		func(ctx context.Context, emit func(Entry) error) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Build() with a failing source = %v, want %v", err, boom)
	}
}

// A complete CRL that names its delta CRLs (freshestCRL), and a delta CRL
// (deltaCRLIndicator): both encoded as crypto/x509 would, read by openssl,
// and passing the whole zlint registry but e_crl_extensions_validity (see
// ExcludedLints).
func TestBuildDelta(t *testing.T) {
	cas := hierarchy(t, teststore.SQLite(t), "")
	a := cas["issuing"]
	this := time.Now().Truncate(time.Second)
	entries := []Entry{{Serial: []byte{1, 2, 3}, RevokedAt: this.Add(-time.Minute), Reason: 1}}
	linter, err := ca.NewLinter(nil, []string{"e_crl_extensions_validity"})
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Linter: linter, Presign: ca.NewPresigner()}
	const url = "http://pki.example.net/crl/issuing/delta.crl"
	full, err := b.Build(t.Context(), a, Params{Number: 7, ThisUpdate: this, NextUpdate: this.Add(24 * time.Hour), Freshest: url}, SliceSource(entries))
	if err != nil {
		t.Fatal(err)
	}
	delta, err := b.Build(t.Context(), a, Params{Number: 8, ThisUpdate: this, NextUpdate: this.Add(time.Hour), DeltaBase: 5}, SliceSource(entries))
	if err != nil {
		t.Fatal(err)
	}
	for name, der := range map[string][]byte{"complete": full, "delta": delta} {
		c, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.CheckSignatureFrom(a.Cert()); err != nil {
			t.Errorf("%s: signature: %v", name, err)
		}
		if err := linter.LintRevocationList(der); err != nil {
			t.Errorf("%s: lint: %v", name, err)
		}
		if c.Number.Int64() != map[string]int64{"complete": 7, "delta": 8}[name] {
			t.Errorf("%s: number %v", name, c.Number)
		}
	}
	out := opensslCmd(t, nil, "crl", "-inform", "DER", "-in", writeFile(t, "full.crl", full), "-noout", "-text")
	if !strings.Contains(out, "Freshest CRL") || !strings.Contains(out, "URI:"+url) || strings.Contains(out, "Delta CRL Indicator") {
		t.Errorf("openssl reads the complete CRL as:\n%s", out)
	}
	out = opensslCmd(t, nil, "crl", "-inform", "DER", "-in", writeFile(t, "delta.crl", delta), "-noout", "-text")
	if !strings.Contains(out, "Delta CRL Indicator: critical") || !strings.Contains(out, "5") || strings.Contains(out, "Freshest CRL") {
		t.Errorf("openssl reads the delta CRL as:\n%s", out)
	}
}
