package crl

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
	"github.com/certgw/gateway/test/teststore"
)

// With a publish directory, every CRL served is also a file there, laid
// out as /crl/ serves it, and a new CRL replaces it; a CRL adopted from
// another replica is written too.
func TestPublishDir(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := t.Context()
		cas := hierarchy(t, st, "")
		c := &clock{}
		dir, otherDir := t.TempDir(), t.TempDir()
		pub := func(dir string) *Publisher {
			p, err := NewPublisher(Config{Coalesce: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond, Dir: dir},
				st.(Store), &Builder{Linter: testLinter(t), Presign: ca.NewPresigner()}, cas, slog.New(slog.DiscardHandler), c.now)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		p := pub(dir)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// numberOf reads the CRL number of name in dir, and whether its
		// PEM holds the same CRL: each file is replaced atomically, the
		// pair is not, so a reader that comes between the two writes
		// sees the new DER beside the old PEM.
		numberOf := func(dir, name string) (int64, bool) {
			t.Helper()
			der, err := os.ReadFile(filepath.Join(dir, name+".crl"))
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, name+".pem"))
			block, _ := pem.Decode(b)
			return crl.Number.Int64(), err == nil && block != nil && block.Type == "X509 CRL" && string(block.Bytes) == string(der)
		}
		number := func(dir, name string) int64 {
			t.Helper()
			n, same := numberOf(dir, name)
			if !same {
				t.Fatalf("%s.pem is not the PEM of %s.crl", name, name)
			}
			return n
		}
		for _, name := range []string{"root", "issuing"} {
			if n := number(dir, name); n != 1 {
				t.Errorf("%s.crl after Start: number %d", name, n)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, "issuing.crl")); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("issuing.crl: %v, %v; want mode 0644", fi, err)
		}
		run(t, p)
		now := c.now()
		activeCert(t, st, "issuing", "8a01", now.Add(48*time.Hour))
		if err := st.RevokeCertificate(ctx, "8a01", 1, now, storagetest.Event("revoke", "8a01")); err != nil {
			t.Fatal(err)
		}
		p.OnRevoke(ctx, "issuing", "8a01")
		waitFor(t, "the new CRL in the directory", func() bool { n, same := numberOf(dir, "issuing"); return same && n == 2 })

		// Another replica adopts the store's CRL and writes it to its own
		// directory.
		other := pub(otherDir)
		if err := other.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if n := number(otherDir, "issuing"); n != 2 {
			t.Errorf("the other replica wrote CRL %d, want 2", n)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 4 {
			t.Errorf("%d files in the directory, want root and issuing, DER and PEM (no temporary file left)", len(entries))
		}
	})
}

// Shards and the delta CRL go where /crl/ serves them.
func TestWriteDirLayout(t *testing.T) {
	dir := t.TempDir()
	c := &Published{DER: []byte("full"), Shards: []*Published{{DER: []byte("s0")}, {DER: []byte("s1")}}, Delta: &Published{DER: []byte("delta")}}
	if err := WriteDir(dir, "issuing", c); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"issuing.crl": "full", "issuing/0.crl": "s0", "issuing/1.crl": "s1", "issuing/delta.crl": "delta"} {
		if b, err := os.ReadFile(filepath.Join(dir, rel)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", rel, b, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "issuing", "delta.pem")); err != nil || len(b) == 0 {
		t.Errorf("issuing/delta.pem: %v", err)
	}
	if err := WriteDir(filepath.Join(dir, "issuing.crl"), "x", c); err == nil {
		t.Error("WriteDir under a file succeeded")
	}
}
