package ca

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// fakeToken wraps with AES-GCM in memory, one key per label, made on
// first Wrap as the token does; Unwrap of an unknown label is NotFound.
type fakeToken struct{ keys map[string]cipher.AEAD }

func (f *fakeToken) aead(label string, create bool) (cipher.AEAD, error) {
	if a, ok := f.keys[label]; ok || !create {
		if !ok {
			return nil, errs.New(errs.NotFound, "no secret key %q", label)
		}
		return a, nil
	}
	k := make([]byte, 32)
	rand.Read(k)
	b, _ := aes.NewCipher(k)
	a, _ := cipher.NewGCM(b)
	f.keys[label] = a
	return a, nil
}

func (f *fakeToken) Wrap(_ context.Context, label string, plaintext, ad []byte) ([]byte, error) {
	a, err := f.aead(label, true)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, plaintext, ad), nil
}

// countingToken counts the keys the token unwraps.
type countingToken struct {
	fakeToken
	unwraps atomic.Int32
}

func (c *countingToken) Unwrap(ctx context.Context, label string, wrapped, ad []byte) ([]byte, error) {
	c.unwraps.Add(1)
	return c.fakeToken.Unwrap(ctx, label, wrapped, ad)
}

func (f *fakeToken) Unwrap(_ context.Context, label string, wrapped, ad []byte) ([]byte, error) {
	a, err := f.aead(label, false)
	if err != nil {
		return nil, err
	}
	n := a.NonceSize()
	return a.Open(nil, wrapped[:n], wrapped[n:], ad)
}

func kekFile(t *testing.T, tok KEKWrapper, wrap bool) KEKFile {
	return KEKFile{Path: filepath.Join(t.TempDir(), "kek"), Token: tok, Wrap: wrap, Label: "gateway-kek",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// checkFile reads the KEK file: mode 0600, alone in its directory (no
// temporary file left behind), wrapped or not, never showing k when
// wrapped.
func checkFile(t *testing.T, f KEKFile, k []byte, wrapped bool) {
	t.Helper()
	fi, err := os.Stat(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(f.Path)); len(entries) != 1 {
		t.Errorf("%d files beside the KEK, want none", len(entries)-1)
	}
	b, _ := os.ReadFile(f.Path)
	clear := strings.Contains(string(b), hex.EncodeToString(k))
	if got := strings.HasPrefix(string(b), wrappedKEKPrefix+f.Label+":"); got != wrapped || clear == wrapped {
		t.Errorf("file %q: wrapped %v, key in the clear %v; want wrapped %v", b, got, clear, wrapped)
	}
}

func TestKEKFile(t *testing.T) {
	ctx := context.Background()
	for _, wrap := range []bool{false, true} {
		f := kekFile(t, &fakeToken{keys: map[string]cipher.AEAD{}}, wrap)
		k, err := f.LoadOrCreate(ctx)
		if err != nil || len(k) != 32 {
			t.Fatalf("wrap %v: create = %x, %v", wrap, k, err)
		}
		checkFile(t, f, k, wrap)
		again, err := f.LoadOrCreate(ctx)
		if err != nil || !bytes.Equal(again, k) {
			t.Fatalf("wrap %v: load = %x, %v; want the key created", wrap, again, err)
		}
		checkFile(t, f, k, wrap)
	}
}

// A file in the clear gets wrapped in place when wrapping is on, with the
// same key (so keys sealed before still open); turning wrapping off later
// leaves a wrapped file wrapped and readable.
func TestKEKFileWrapsAClearKey(t *testing.T) {
	ctx := context.Background()
	tok := &fakeToken{keys: map[string]cipher.AEAD{}}
	clear := kekFile(t, tok, false)
	k, err := clear.LoadOrCreate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wrapping := clear
	wrapping.Wrap = true
	got, err := wrapping.LoadOrCreate(ctx)
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("load with wrapping on = %x, %v; want the clear file's key", got, err)
	}
	checkFile(t, wrapping, k, true)
	// Off again: the wrapped file is read as it is.
	if got, err := clear.LoadOrCreate(ctx); err != nil || !bytes.Equal(got, k) {
		t.Fatalf("load with wrapping off = %x, %v", got, err)
	}
	checkFile(t, wrapping, k, true)
	// The label is the file's, not the configuration's.
	relabelled := wrapping
	relabelled.Label = "other"
	if got, err := relabelled.LoadOrCreate(ctx); err != nil || !bytes.Equal(got, k) {
		t.Fatalf("load with another configured label = %x, %v", got, err)
	}
}

func TestKEKFileRefusals(t *testing.T) {
	ctx := context.Background()
	tok := &fakeToken{keys: map[string]cipher.AEAD{}}
	wrapped := kekFile(t, tok, true)
	if _, err := wrapped.LoadOrCreate(ctx); err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(wrapped.Path)

	noToken := wrapped
	noToken.Token, noToken.Wrap = nil, false
	otherToken := wrapped
	otherToken.Token = &fakeToken{keys: map[string]cipher.AEAD{}}
	wrapNoToken := kekFile(t, nil, true)
	for name, tc := range map[string]struct {
		f    KEKFile
		want errs.Kind
	}{
		"wrapped file, no token":         {noToken, errs.Config},
		"wrapped file, key not in token": {otherToken, errs.NotFound},
		"wrap without a token":           {wrapNoToken, errs.Config},
	} {
		if _, err := tc.f.LoadOrCreate(ctx); !errs.Is(err, tc.want) {
			t.Errorf("%s: %v, want kind %v", name, err, tc.want)
		}
	}
	if after, _ := os.ReadFile(wrapped.Path); !bytes.Equal(after, content) {
		t.Error("a refused load changed the file")
	}
	if _, err := os.Stat(wrapNoToken.Path); err == nil {
		t.Error("wrap without a token created a file")
	}

	for name, body := range map[string]string{
		"not hex":           "zz\n",
		"short key":         "abcd\n",
		"wrapped garbage":   wrappedKEKPrefix + "gateway-kek:xyz\n",
		"wrapped, no label": wrappedKEKPrefix + ":00\n",
	} {
		f := kekFile(t, tok, false)
		os.WriteFile(f.Path, []byte(body), 0o600)
		if _, err := f.LoadOrCreate(ctx); !errs.Is(err, errs.Config) {
			t.Errorf("%s: %v, want a Config error", name, err)
		}
	}
}

// Creating never replaces a file another process wrote meanwhile, and
// leaves no temporary file behind either way.
func TestInstallFileCreateDoesNotReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if err := installFile(path, "first\n", false); err != nil {
		t.Fatal(err)
	}
	if err := installFile(path, "second\n", false); err == nil {
		t.Fatal("a second create replaced the file")
	}
	if b, _ := os.ReadFile(path); string(b) != "first\n" {
		t.Errorf("file = %q after a refused create", b)
	}
	if err := installFile(path, "third\n", true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "third\n" {
		t.Errorf("file = %q after a replace", b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("%d files in the directory, want the one", len(entries))
	}
}

// Without a token the keys stay in the clear, one a line: a rotation puts
// the new one first and keeps the old; retiring drops it.
func TestKEKFileRotateClear(t *testing.T) {
	ctx := context.Background()
	f := kekFile(t, nil, false)
	k1, err := f.LoadOrCreate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := f.Rotate(ctx, storage.AuditEvent{})
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[1], k1) {
		t.Fatalf("Rotate: %d keys, %v", len(keys), err)
	}
	again, err := f.LoadKeys(ctx)
	if err != nil || len(again) != 2 || !bytes.Equal(again[0], keys[0]) || !bytes.Equal(again[1], k1) {
		t.Fatalf("LoadKeys after the rotation: %d keys, %v", len(again), err)
	}
	if b, _ := os.ReadFile(f.Path); string(b) != hex.EncodeToString(keys[0])+"\n"+hex.EncodeToString(k1)+"\n" {
		t.Fatalf("file %q", b)
	}
	if retired, err := f.Retire(ctx, func(string) bool { return false }, storage.AuditEvent{}); err != nil || len(retired) != 1 || retired[0] != KEKID(k1) {
		t.Fatalf("Retire: %v, %v", retired, err)
	}
	if now, err := f.LoadKeys(ctx); err != nil || len(now) != 1 || !bytes.Equal(now[0], keys[0]) {
		t.Fatalf("LoadKeys after Retire: %d keys, %v", len(now), err)
	}
}

// following runs FollowKEKs on f's keys until the test ends; tick has it
// look at the file and returns once that look is done.
func following(t *testing.T, f KEKFile) (sealer *Sealer, tick func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	keys, err := f.LoadKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ = NewSealer(keys...)
	now := make(chan struct{})
	done := make(chan struct{})
	go func() { FollowKEKs(ctx, f, sealer, time.Hour, now, slog.New(slog.DiscardHandler)); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sealer, func() {
		now <- struct{}{}
		now <- struct{}{} // the first look is done once the loop takes the second
	}
}

// A running gateway takes a rotation made by another process up: at the
// next tick, or at once when told.
func TestFollowKEKs(t *testing.T) {
	f := kekFile(t, nil, false)
	sealer, tick := following(t, f)
	rotated, err := f.Rotate(context.Background(), storage.AuditEvent{})
	if err != nil {
		t.Fatal(err)
	}
	tick()
	if sealer.Current() != KEKID(rotated[0]) || !sealer.Holds(rotated) {
		t.Fatalf("current %s after the reload, want %s", sealer.Current(), KEKID(rotated[0]))
	}
}

// With wrapped keys, the token unwraps them again only when the file
// changed.
func TestFollowKEKsUnwrapsOnChange(t *testing.T) {
	tok := &countingToken{fakeToken: fakeToken{keys: map[string]cipher.AEAD{}}}
	f := kekFile(t, tok, true)
	sealer, tick := following(t, f)
	tick() // the first look loads the file
	before := tok.unwraps.Load()
	tick()
	tick()
	if n := tok.unwraps.Load() - before; n != 0 {
		t.Errorf("%d unwraps over ticks of an unchanged file, want none", n)
	}
	rotated, err := f.Rotate(context.Background(), storage.AuditEvent{})
	if err != nil {
		t.Fatal(err)
	}
	tick()
	if sealer.Current() != KEKID(rotated[0]) {
		t.Fatalf("current %s after the rotation, want %s", sealer.Current(), KEKID(rotated[0]))
	}
}
