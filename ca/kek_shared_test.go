package ca

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// Replicas of one store share the wrapped key-encryption key through it:
// the first publishes its own, the others take it, a file with another key
// is refused, and of replicas starting together one key wins everywhere.
func TestSharedKEK(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		tok := &fakeToken{keys: map[string]cipher.AEAD{}}
		replica := func() KEKFile {
			f := kekFile(t, tok, true)
			f.Shared = st
			return f
		}
		a := replica()
		ka, err := a.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := st.SharedKEK(ctx)
		if err != nil || shared != readLine(t, a.Path) {
			t.Fatalf("published %q, %v; file %q", shared, err, readLine(t, a.Path))
		}
		b := replica()
		kb, err := b.LoadOrCreate(ctx)
		if err != nil || !bytes.Equal(ka, kb) {
			t.Fatalf("second replica: same key %v, %v", bytes.Equal(ka, kb), err)
		}
		checkFile(t, b, kb, true)
		// Again: nothing changes.
		if k, err := b.LoadOrCreate(ctx); err != nil || !bytes.Equal(k, ka) {
			t.Fatalf("restart: %v", err)
		}

		c := replica()
		if _, err := (KEKFile{Path: c.Path, Token: tok, Wrap: true, Label: c.Label}).LoadOrCreate(ctx); err != nil { // its own key, made alone
			t.Fatal(err)
		}
		own := readLine(t, c.Path)
		if _, err := c.LoadOrCreate(ctx); !errs.Is(err, errs.Config) || !strings.Contains(err.Error(), "differs") {
			t.Fatalf("a file with another key: %v", err)
		}
		if readLine(t, c.Path) != own {
			t.Error("the refused file was changed")
		}
		if s, _ := st.SharedKEK(ctx); s != shared {
			t.Error("the shared key changed")
		}
	})
}

func TestSharedKEKRace(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		tok := &fakeToken{keys: map[string]cipher.AEAD{}}
		tok.aead("gateway-kek", true) // the token key exists: the fake is not safe for concurrent creation
		var mu sync.Mutex
		var keys [][]byte
		var wg sync.WaitGroup
		for range 4 {
			f := kekFile(t, &lockedToken{t: tok, mu: &mu}, true)
			f.Shared = st
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := f.LoadOrCreate(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				keys = append(keys, k)
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if !bytes.Equal(k, keys[0]) {
				t.Fatalf("replicas starting together use different keys: %s, %s", hex.EncodeToString(keys[0]), hex.EncodeToString(k))
			}
		}
	})
}

// A clear key from before keystore.wrap: token is wrapped in place and
// published, the same key.
func TestSharedKEKFromClearFile(t *testing.T) {
	st := teststore.SQLite(t)
	tok := &fakeToken{keys: map[string]cipher.AEAD{}}
	f := kekFile(t, tok, true)
	f.Shared = st
	clear := bytes.Repeat([]byte{7}, 32)
	os.WriteFile(f.Path, []byte(hex.EncodeToString(clear)+"\n"), 0o600)
	k, err := f.LoadOrCreate(context.Background())
	if err != nil || !bytes.Equal(k, clear) {
		t.Fatalf("key %x, %v", k, err)
	}
	checkFile(t, f, k, true)
	if s, err := st.SharedKEK(context.Background()); err != nil || s != readLine(t, f.Path) {
		t.Fatalf("published %q, %v", s, err)
	}
}

// lockedToken serializes a fakeToken for concurrent replicas.
type lockedToken struct {
	t  *fakeToken
	mu *sync.Mutex
}

func (l *lockedToken) Wrap(ctx context.Context, label string, p, ad []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Wrap(ctx, label, p, ad)
}

func (l *lockedToken) Unwrap(ctx context.Context, label string, w, ad []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Unwrap(ctx, label, w, ad)
}

func readLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
