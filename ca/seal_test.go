package ca

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"strings"
	"testing"
)

func newKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealerRotation(t *testing.T) {
	k1, k2 := newKEK(t), newKEK(t)
	s1, err := NewSealer(k1)
	if err != nil {
		t.Fatal(err)
	}
	b1, err := s1.Seal("01", []byte("key one"))
	if err != nil {
		t.Fatal(err)
	}
	if SealedUnder(b1) != KEKID(k1) || s1.Current() != KEKID(k1) {
		t.Fatalf("sealed under %q, current %q, want %s", SealedUnder(b1), s1.Current(), KEKID(k1))
	}
	if _, err := s1.Open("02", b1); err == nil {
		t.Fatal("a sealed key opened for another serial")
	}

	// A key sealed before keys were named: nonce and ciphertext alone.
	block, _ := aes.NewCipher(k1)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	legacy := aead.Seal(nonce, nonce, []byte("old key"), []byte("03"))

	// Rotated: k2 seals, k1 still opens what it sealed.
	s2, err := NewSealer(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := s2.Seal("04", []byte("key two"))
	if SealedUnder(b2) != KEKID(k2) {
		t.Fatalf("sealed under %s, want k2 %s", SealedUnder(b2), KEKID(k2))
	}
	for _, tc := range []struct {
		serial string
		sealed []byte
		want   string
	}{{"01", b1, "key one"}, {"03", legacy, "old key"}, {"04", b2, "key two"}} {
		pt, err := s2.Open(tc.serial, tc.sealed)
		if err != nil || string(pt) != tc.want {
			t.Errorf("Open(%s) = %q, %v; want %q", tc.serial, pt, err, tc.want)
		}
	}

	// A process that has not taken up the rotation says so, then reloads.
	if _, err := s1.Open("04", b2); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("Open under a key not held: %v", err)
	}
	reloads := 0
	s1.Reload = func(context.Context) ([][]byte, error) { reloads++; return [][]byte{k2, k1}, nil }
	if pt, err := s1.Open("04", b2); err != nil || string(pt) != "key two" || reloads != 1 || s1.Current() != KEKID(k2) {
		t.Fatalf("Open after reload: %q, %v, %d reloads, current %s", pt, err, reloads, s1.Current())
	}
	if _, err := s1.Open("01", b1); err != nil || reloads != 1 {
		t.Fatalf("Open of a known key: %v, %d reloads", err, reloads)
	}

	// A key no reload finds (retired for good, damaged) is not reloaded
	// for again and again.
	s3, _ := NewSealer(newKEK(t))
	b3, _ := s3.Seal("06", []byte("lost"))
	for range 3 {
		if _, err := s1.Open("06", b3); err == nil || reloads != 1 {
			t.Fatalf("Open under a key no reload finds: %v, %d reloads", err, reloads)
		}
	}

	if _, err := s2.Open("05", []byte{1, 2}); err == nil {
		t.Error("a truncated key opened")
	}
	if _, err := NewSealer(); err == nil {
		t.Error("a sealer without keys")
	}
	if _, err := NewSealer(k1[:16]); err == nil {
		t.Error("a 16-byte key-encryption key")
	}
}
