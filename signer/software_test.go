package signer_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
)

// The software signer implements the same interface: generate, look up by
// URI, sign, refuse a second key under one label; key files are 0600.
func TestSoftwareSigner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := signer.NewSoftware(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := sha256.Sum256([]byte("x"))
	for _, kt := range signer.KeyTypes {
		k, err := s.Generate(ctx, string(kt), kt)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.SignContext(ctx, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, k.Public(), d[:], sig)
		st, err := os.Stat(filepath.Join(dir, string(kt)+".key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s key file: %v, mode %v", kt, err, st.Mode())
		}
		again, err := signer.NewSoftware(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := again.Key(ctx, k.URI())
		if err != nil || !equalPub(k2.Public(), k.Public()) {
			t.Fatalf("%s: reload by URI %s: %v", kt, k.URI(), err)
		}
		if _, err := s.Generate(ctx, string(kt), kt); !errs.Is(err, errs.Conflict) {
			t.Fatalf("%s: second key under one label: %v", kt, err)
		}
	}
	if _, err := s.Key(ctx, s.URI("absent")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := s.Generate(ctx, "../escape", signer.ECDSAP256); err == nil {
		t.Fatal("a label with a path separator was accepted")
	}
}

// Destroy removes the key file and the cached key; a key already gone is
// not an error; a file outside the signer's directory is never removed.
func TestSoftwareDestroy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := signer.NewSoftware(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := s.Generate(ctx, "ocsp-old", signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Destroy(ctx, k.URI()); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ocsp-old.key")); !os.IsNotExist(err) {
		t.Fatalf("key file after Destroy: %v", err)
	}
	if _, err := s.Key(ctx, k.URI()); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Key after Destroy: %v, want not found", err)
	}
	if err := s.Destroy(ctx, s.URI("never-was")); err != nil {
		t.Fatalf("Destroy of a key that never existed: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"file://" + other, "file://" + filepath.Join(dir, "..", "keys", "x.pem"), "pkcs11:object=x"} {
		if err := s.Destroy(ctx, uri); !errs.Is(err, errs.Config) {
			t.Errorf("Destroy(%s): %v, want a config error", uri, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("a file outside the key directory was removed: %v", err)
	}
}

func equalPub(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
