package storagetest

import (
	"bytes"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testSealedKeys: the held keys are listed by serial, paged, with the
// upstream accounts' apart; a reseal replaces a key only if it is still
// the one read.
func testSealedKeys(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	for _, serial := range []string{"0c", "0a", "0b"} {
		c := renewable(serial)
		c.KeyPEM = []byte("sealed " + serial)
		activate(t, s, ctx, c)
	}
	activate(t, s, ctx, pendingCert("0d")) // no key held
	must(t, "InsertUpstreamAccount", s.InsertUpstreamAccount(ctx, storage.UpstreamAccount{Upstream: "le", Directory: "https://acme.example/directory",
		URL: "https://acme.example/acct/1", KeyPEM: []byte("sealed account"), CreatedAt: base}, Event("upstream-account", "")))

	page, err := s.SealedCertificateKeys(ctx, "", 2)
	must(t, "SealedCertificateKeys", err)
	if len(page) != 2 || page[0].Serial != "0a" || page[1].Serial != "0b" || string(page[0].Sealed) != "sealed 0a" {
		t.Fatalf("first page: %+v", page)
	}
	page, err = s.SealedCertificateKeys(ctx, "0b", 2)
	must(t, "SealedCertificateKeys", err)
	if len(page) != 1 || page[0].Serial != "0c" {
		t.Fatalf("second page: %+v", page)
	}
	ups, err := s.SealedUpstreamKeys(ctx)
	must(t, "SealedUpstreamKeys", err)
	if len(ups) != 1 || ups[0].Upstream != "le" || ups[0].Directory != "https://acme.example/directory" || string(ups[0].Sealed) != "sealed account" {
		t.Fatalf("upstream keys: %+v", ups)
	}

	must(t, "ResealKey", s.ResealKey(ctx, page[0], []byte("resealed 0c")))
	wantKind(t, "ResealKey of a changed key", s.ResealKey(ctx, page[0], []byte("again")), errs.Conflict)
	wantKind(t, "ResealKey of a certificate without a key", s.ResealKey(ctx, storage.SealedKey{Serial: "0d", Sealed: []byte("x")}, []byte("y")), errs.NotFound)
	wantKind(t, "ResealKey empty", s.ResealKey(ctx, page[0], nil), errs.Malformed)
	if c, err := s.GetCertificate(ctx, "0c"); err != nil || !bytes.Equal(c.KeyPEM, []byte("resealed 0c")) {
		t.Fatalf("0c after the reseal: %q, %v", c.KeyPEM, err)
	}
	must(t, "ResealKey upstream", s.ResealKey(ctx, ups[0], []byte("resealed account")))
	wantKind(t, "ResealKey of a changed upstream key", s.ResealKey(ctx, ups[0], []byte("again")), errs.Conflict)
	if a, err := s.UpstreamAccount(ctx, "le", "https://acme.example/directory"); err != nil || string(a.KeyPEM) != "resealed account" {
		t.Fatalf("upstream account after the reseal: %q, %v", a.KeyPEM, err)
	}
	wantKind(t, "ResealKey of an unknown upstream", s.ResealKey(ctx, storage.SealedKey{Upstream: "x", Directory: "y", Sealed: []byte("x")}, []byte("y")), errs.NotFound)
}
