package crl

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage/storagetest"
	"github.com/certgw/gateway/test/teststore"
)

func TestCRLShard(t *testing.T) {
	tests := []struct {
		serial []byte
		n      int
		want   int
	}{
		{[]byte{0x07}, 4, 3},
		{[]byte{0x01, 0x00}, 3, 256 % 3},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 7, int(new(big.Int).Mod(new(big.Int).SetBytes(bytes.Repeat([]byte{0xff}, 9)), big.NewInt(7)).Int64())},
		{[]byte{0x07}, 0, 0},
	}
	for _, tt := range tests {
		if got := ca.CRLShard(tt.serial, tt.n); got != tt.want {
			t.Errorf("CRLShard(%x, %d) = %d, want %d", tt.serial, tt.n, got, tt.want)
		}
	}
}

// TestPartitionedCRL issues certificates under a CA with four shards,
// revokes one and checks each shard with crypto/x509 and openssl: the
// certificate's CDP names its shard, the shard carries a critical
// issuingDistributionPoint naming that URL, the revoked serial is in its
// shard (and the full CRL) only, and openssl rejects the certificate with
// the shard CRL.
func TestPartitionedCRL(t *testing.T) {
	const shards, base = 4, "http://pki.example.net"
	ctx := t.Context()
	st := teststore.SQLite(t)
	cas := hierarchy(t, st, "")
	cas["issuing"].CRLShards = shards
	urls := ca.URLs{Base: base}
	issuer := &ca.Issuer{Store: st, Linter: testLinter(t), Presign: ca.NewPresigner(), URLs: urls,
		Log: slog.New(slog.DiscardHandler), Now: time.Now}

	// Issue until two shards hold a certificate each.
	byShard := map[int]*x509.Certificate{}
	for i := 0; len(byShard) < 2 && i < 64; i++ {
		cert := issueLeaf(t, issuer, cas["issuing"])
		k := ca.CRLShard(cert.SerialNumber.Bytes(), shards)
		if want := []string{urls.CRLShard("issuing", k)}; !equal(cert.CRLDistributionPoints, want) {
			t.Fatalf("CDP of %x = %v, want %v", cert.SerialNumber, cert.CRLDistributionPoints, want)
		}
		byShard[k] = cert
	}
	var revoked, valid *x509.Certificate
	for _, c := range byShard {
		if revoked == nil {
			revoked = c
		} else {
			valid = c
		}
	}
	revokedShard := ca.CRLShard(revoked.SerialNumber.Bytes(), shards)
	validShard := ca.CRLShard(valid.SerialNumber.Bytes(), shards)

	p, err := NewPublisher(Config{URLs: urls}, st.(Store), &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()},
		cas, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Current("root").Shards); n != 0 {
		t.Fatalf("the root, which does not shard, has %d shard CRLs", n)
	}
	if err := st.RevokeCertificate(ctx, ca.SerialHex(revoked.SerialNumber), 1, time.Now(), storagetest.Event("revoke", ca.SerialHex(revoked.SerialNumber))); err != nil {
		t.Fatal(err)
	}
	cur, err := p.Rebuild(ctx, "issuing")
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Shards) != shards {
		t.Fatalf("%d shard CRLs, want %d", len(cur.Shards), shards)
	}

	full, err := x509.ParseRevocationList(cur.DER)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.RevokedCertificateEntries) != 1 || hasIDP(full) {
		t.Errorf("full CRL: %d entries, IDP %v; want the revoked certificate and no IDP", len(full.RevokedCertificateEntries), hasIDP(full))
	}
	for k, sh := range cur.Shards {
		crl, err := x509.ParseRevocationList(sh.DER)
		if err != nil {
			t.Fatalf("shard %d: %v", k, err)
		}
		if crl.Number.Int64() != cur.Number || !crl.ThisUpdate.Equal(cur.ThisUpdate) {
			t.Errorf("shard %d: number %v, thisUpdate %s; want those of the full CRL", k, crl.Number, crl.ThisUpdate)
		}
		if err := crl.CheckSignatureFrom(cas["issuing"].Cert()); err != nil {
			t.Errorf("shard %d: %v", k, err)
		}
		idp := idpOf(t, crl)
		if idp == nil || !idp.Critical {
			t.Fatalf("shard %d: issuingDistributionPoint %+v, want a critical one", k, idp)
		}
		if want := idpValue(urls.CRLShard("issuing", k)); !bytes.Equal(idp.Value, want) {
			t.Errorf("shard %d: issuingDistributionPoint %x, want %x", k, idp.Value, want)
		}
		listed := len(crl.RevokedCertificateEntries) == 1 && crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked.SerialNumber) == 0
		if k == revokedShard && !listed || k != revokedShard && len(crl.RevokedCertificateEntries) != 0 {
			t.Errorf("shard %d lists %d entries; the revoked certificate is in shard %d", k, len(crl.RevokedCertificateEntries), revokedShard)
		}
	}

	// openssl parses the IDP and checks the certificates against their
	// shard.
	root := writeFile(t, "root.pem", pemCert(cas["root"].Cert()))
	issuing := writeFile(t, "issuing.pem", pemCert(cas["issuing"].Cert()))
	shardPEM := writeFile(t, "shard.pem", cur.Shards[revokedShard].PEM())
	text := opensslCmd(t, nil, "crl", "-noout", "-text", "-in", shardPEM)
	for _, want := range []string{"Issuing Distribution Point: critical", "URI:" + urls.CRLShard("issuing", revokedShard), "Only User Certificates"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl crl -text lacks %q:\n%s", want, text)
		}
	}
	opensslCmd(t, cur.Shards[validShard].DER, "crl", "-noout", "-inform", "DER")
	verify := func(cert *x509.Certificate, crl string) (string, error) {
		out, err := exec.Command("openssl", "verify", "-crl_check", "-CAfile", root, "-untrusted", issuing,
			"-CRLfile", crl, writeFile(t, "leaf.pem", pemCert(cert))).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(revoked, shardPEM); err == nil || !strings.Contains(out, "revoked") {
		t.Errorf("openssl verify with the shard CRL accepted the revoked certificate: %v\n%s", err, out)
	}
	validPEM := writeFile(t, "valid-shard.pem", cur.Shards[validShard].PEM())
	if out, err := verify(valid, validPEM); err != nil {
		t.Errorf("openssl verify of a valid certificate with its shard CRL: %v\n%s", err, out)
	}

	// HTTP.
	get := serveCRLs(t, p)
	resp, body := get("/crl/issuing/" + itoa(revokedShard) + ".crl")
	if resp.StatusCode != 200 || !bytes.Equal(body, cur.Shards[revokedShard].DER) ||
		resp.Header.Get("Content-Type") != "application/pkix-crl" || resp.Header.Get("ETag") == "" ||
		!strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Errorf("GET shard: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/crl/issuing/" + itoa(validShard) + ".pem"); resp.StatusCode != 200 || !bytes.Equal(body, cur.Shards[validShard].PEM()) {
		t.Errorf("GET shard PEM: %d", resp.StatusCode)
	}
	for _, path := range []string{"/crl/issuing/4.crl", "/crl/issuing/01.crl", "/crl/issuing/-1.crl", "/crl/root/0.crl", "/crl/nope/0.crl", "/crl/issuing/0.der"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}

	// The shards come back from the store with their CRL.
	p2, err := NewPublisher(Config{URLs: urls}, st.(Store), &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()},
		cas, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p2.Current("issuing"); got.Number != cur.Number || len(got.Shards) != shards || !bytes.Equal(got.Shards[1].DER, cur.Shards[1].DER) {
		t.Errorf("after a restart: CRL %d with %d shards, want %d with %d", got.Number, len(got.Shards), cur.Number, shards)
	}
	// Another shard count would move certificates already issued out of
	// the shard their CDP names.
	cas["issuing"].CRLShards = 8
	p3, err := NewPublisher(Config{URLs: urls}, st.(Store), &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()},
		cas, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := p3.Start(ctx); err == nil {
		t.Error("Start accepted a changed shard count")
	}
}

func TestPartitionedCRLNeedsURL(t *testing.T) {
	st := teststore.SQLite(t)
	cas := hierarchy(t, st, "")
	cas["issuing"].CRLShards = 4
	if _, err := NewPublisher(Config{}, st.(Store), &Builder{}, cas, slog.New(slog.DiscardHandler), time.Now); err == nil {
		t.Error("NewPublisher accepted shards without a public URL")
	}
	cas["issuing"].CRLShards = 1
	if _, err := NewPublisher(Config{URLs: ca.URLs{Base: "http://x"}}, st.(Store), &Builder{}, cas, slog.New(slog.DiscardHandler), time.Now); err == nil {
		t.Error("NewPublisher accepted one shard")
	}
}

var oidIDP = asn1.ObjectIdentifier{2, 5, 29, 28}

func idpOf(t *testing.T, crl *x509.RevocationList) *struct {
	Critical bool
	Value    []byte
} {
	t.Helper()
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidIDP) {
			return &struct {
				Critical bool
				Value    []byte
			}{e.Critical, e.Value}
		}
	}
	return nil
}

func hasIDP(crl *x509.RevocationList) bool {
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidIDP) {
			return true
		}
	}
	return false
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func itoa(i int) string { return big.NewInt(int64(i)).String() }
