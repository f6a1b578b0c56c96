package ocsp

import (
	"context"
	"crypto"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// countingSigner counts the signatures its keys make.
type countingSigner struct {
	signer.Signer
	n *atomic.Int64
}

func (s countingSigner) Key(ctx context.Context, uri string) (signer.Key, error) {
	k, err := s.Signer.Key(ctx, uri)
	if err != nil {
		return nil, err
	}
	return countingKey{k, s.n}, nil
}

func (s countingSigner) Generate(ctx context.Context, label string, kt signer.KeyType) (signer.Key, error) {
	k, err := s.Signer.Generate(ctx, label, kt)
	if err != nil {
		return nil, err
	}
	return countingKey{k, s.n}, nil
}

type countingKey struct {
	signer.Key
	n *atomic.Int64
}

func (k countingKey) SignContext(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.n.Add(1)
	return k.Key.SignContext(ctx, d, o)
}

func (k countingKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.n.Add(1)
	return k.Key.Sign(r, d, o)
}

// testHierarchy is a root and an issuing CA made with the software signer
// and stored in st, with the signer (counting signatures) that holds them.
func testHierarchy(t testing.TB, st storage.Store) (map[string]*ca.Authority, countingSigner) {
	t.Helper()
	cfg := &config.Config{
		Listen: config.Listen{PublicURL: "http://pki.example.net"},
		CAs: []config.CA{
			{Name: "root", Key: config.Key{Type: "ecdsa-p384", Label: "root"}, Validity: config.Duration(10 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Root", Organization: "Example", Country: "DE"}},
			{Name: "issuing", Parent: "root", Key: config.Key{Type: "ecdsa-p256", Label: "issuing"}, Validity: config.Duration(5 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Issuing", Organization: "Example", Country: "DE"}},
		},
	}
	sw, err := signer.NewSoftware(filepath.Join(t.TempDir(), "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sg := countingSigner{Signer: sw, n: &atomic.Int64{}}
	h := &ca.Hierarchy{Config: cfg, Signer: sg, Store: st, Linter: gateLinter(t), Presign: ca.NewPresigner(),
		Log: slog.New(slog.DiscardHandler), Now: time.Now}
	if _, err := h.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	cas, err := h.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cas, sg
}

// gateLinter is the gateway's default lint gate.
func gateLinter(t testing.TB) *ca.Linter {
	t.Helper()
	l, err := ca.NewLinter(nil, append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...))
	if err != nil {
		t.Fatal(err)
	}
	return l
}
