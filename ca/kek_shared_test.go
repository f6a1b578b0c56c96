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
	"time"

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
		replica := func() KEKFile { return sharedReplica(t, tok, st) }
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

// A rotation on one replica reaches the others through the store: each
// takes up the new keys at its next load, and opens what either sealed;
// retired keys leave every file the same way. Two rotations from the same
// keys at once: the second is refused and changes nothing.
func TestSharedKEKRotation(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		tok := &fakeToken{keys: map[string]cipher.AEAD{}}
		replica := func() KEKFile { return sharedReplica(t, tok, st) }
		a, b := replica(), replica()
		k1, err := a.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.LoadOrCreate(ctx); err != nil {
			t.Fatal(err)
		}
		sealerB, _ := NewSealer(k1)
		old, _ := sealerB.Seal("01", []byte("sealed before"))

		keys, err := a.Rotate(ctx, storage.AuditEvent{At: base(), Actor: "test", Action: "keystore-rotate"})
		if err != nil || len(keys) != 2 || !bytes.Equal(keys[1], k1) || bytes.Equal(keys[0], k1) {
			t.Fatalf("Rotate: %d keys, %v", len(keys), err)
		}
		checkFile(t, a, keys[0], true)
		if shared, _ := st.SharedKEK(ctx); shared != strings.Join(kekLines(readFile(t, a.Path)), "\n") {
			t.Fatalf("the store holds %q, the file %q", shared, readFile(t, a.Path))
		}
		// b takes the rotation up at its next load.
		kb, err := b.LoadKeys(ctx)
		if err != nil || len(kb) != 2 || !bytes.Equal(kb[0], keys[0]) || readFile(t, b.Path) != readFile(t, a.Path) {
			t.Fatalf("b after the rotation: %d keys, %v", len(kb), err)
		}
		sealerA, _ := NewSealer(keys...)
		if pt, err := sealerA.Open("01", old); err != nil || string(pt) != "sealed before" {
			t.Fatalf("a key sealed before the rotation: %q, %v", pt, err)
		}
		// A rotation from stale keys (b's file, then a's rotation again).
		stale := readFile(t, b.Path)
		if _, err := a.Rotate(ctx, storage.AuditEvent{At: base(), Actor: "test", Action: "keystore-rotate"}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateSharedKEK(ctx, strings.TrimSpace(stale), "pkcs11-aes-gcm:x:00", storage.AuditEvent{At: base(), Actor: "test", Action: "keystore-rotate"}); !errs.Is(err, errs.Conflict) {
			t.Fatalf("a rotation from stale keys: %v", err)
		}

		// Retire what no sealed key uses: only the current key stays.
		kr, _ := a.LoadKeys(ctx)
		retired, err := a.Retire(ctx, func(id string) bool { return id == KEKID(k1) }, storage.AuditEvent{At: base(), Actor: "test", Action: "keystore-retire"})
		if err != nil || len(retired) != 1 || retired[0] != KEKID(kr[1]) {
			t.Fatalf("Retire: %v, %v", retired, err)
		}
		kb, err = b.LoadKeys(ctx)
		if err != nil || len(kb) != 2 || !bytes.Equal(kb[0], kr[0]) || !bytes.Equal(kb[1], k1) {
			t.Fatalf("b after the retirement: %d keys, %v", len(kb), err)
		}
		if retired, err := a.Retire(ctx, func(string) bool { return true }, storage.AuditEvent{}); err != nil || retired != nil {
			t.Fatalf("Retire of nothing: %v, %v", retired, err)
		}
	})
}

func base() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sharedReplica is a replica's KEK file, wrapped by tok, shared through st.
func sharedReplica(t *testing.T, tok KEKWrapper, st storage.Store) KEKFile {
	f := kekFile(t, tok, true)
	f.Shared = st
	return f
}
