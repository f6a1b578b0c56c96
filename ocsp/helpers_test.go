package ocsp

import (
	"context"
	"crypto"
	"io"
	"sync/atomic"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
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
	var sg countingSigner
	cas := coretest.New(t, st, coretest.Options{WrapSigner: func(sw signer.Signer) signer.Signer {
		sg = countingSigner{Signer: sw, n: &atomic.Int64{}}
		return sg
	}}).CAs
	return cas, sg
}

// gateLinter is the gateway's default lint gate.
func gateLinter(t testing.TB) *ca.Linter {
	t.Helper()
	return coretest.Linter(t)
}
