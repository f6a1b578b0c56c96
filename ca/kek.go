package ca

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// KEKWrapper encrypts the key-encryption key under a secret key that never
// leaves the token (signer.Pool does, with AES-256-GCM inside the token).
type KEKWrapper interface {
	Wrap(ctx context.Context, label string, plaintext, ad []byte) ([]byte, error)
	Unwrap(ctx context.Context, label string, wrapped, ad []byte) ([]byte, error)
}

// kekAD is the additional data of a wrapped key-encryption key: the token
// key that wraps it unwraps nothing else into a KEK.
var kekAD = []byte("certgw keystore key-encryption key")

// wrappedKEKPrefix starts a KEK file that holds a wrapped key:
// "pkcs11-aes-gcm:LABEL:HEX", LABEL naming the token's secret key and HEX
// the nonce and ciphertext. A file without it holds the key in hex.
const wrappedKEKPrefix = "pkcs11-aes-gcm:"

// KEKFile is where the key-encryption key lives. With Wrap the key is kept
// wrapped under Token's secret key labelled Label (created on first use);
// without, a new key is kept in the clear, in hex. Token (nil without a
// PKCS#11 token) unwraps a wrapped file in either case.
type KEKFile struct {
	Path  string
	Token KEKWrapper
	Wrap  bool
	Label string
	// Shared, if set, is the store every replica shares: with Wrap, the
	// wrapped key is published there and each replica's file follows it
	// (syncShared).
	Shared KEKStore
	Log    *slog.Logger
}

// KEKStore keeps the wrapped key-encryption key that replicas share
// (storage.KeystoreStore).
type KEKStore interface {
	SharedKEK(ctx context.Context) (string, error)
	InsertSharedKEK(ctx context.Context, wrapped string, audit storage.AuditEvent) error
	UpdateSharedKEK(ctx context.Context, old, wrapped string, audit storage.AuditEvent) error
}

// LoadOrCreate returns the current 32-byte key-encryption key (see
// LoadKeys).
func (f KEKFile) LoadOrCreate(ctx context.Context) ([]byte, error) {
	keys, err := f.LoadKeys(ctx)
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// LoadKeys returns the 32-byte key-encryption keys of the file, one a
// line: the current one first (it seals), then those of earlier rotations
// (they open what they sealed). A missing file is created (mode 0600) with
// a new random key. A file that holds keys in the clear while Wrap is set
// is rewritten with the same keys wrapped (write, sync, rename), so that
// keys sealed before still open and the clear copy is gone. A wrapped line
// is unwrapped with the label it names, whatever Wrap says; a token that
// does not hold that key is an error, never a new key.
func (f KEKFile) LoadKeys(ctx context.Context) ([][]byte, error) {
	if f.Wrap && f.Token == nil {
		return nil, errs.New(errs.Config, "keystore: wrapping the key-encryption key needs a PKCS#11 token")
	}
	if f.Wrap && f.Shared != nil {
		if err := f.syncShared(ctx); err != nil {
			return nil, err
		}
	}
	return f.load(ctx)
}

// Rotate makes a new key-encryption key the current one, keeping the
// others to open what they sealed: the file gets it as its first line
// and, where the replicas share the keys, the store gets the file in one
// compare-and-swap with audit (another rotation at the same moment is an
// errs.Conflict, and this one changes nothing). It returns the keys,
// the new one first. Keys sealed before stay under their keys until they
// are sealed again (gateway keystore rotate does).
func (f KEKFile) Rotate(ctx context.Context, audit storage.AuditEvent) ([][]byte, error) {
	keys, text, err := f.loadText(ctx)
	if err != nil {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	line := hex.EncodeToString(k)
	if f.Wrap {
		if line, err = f.wrap(ctx, k); err != nil {
			return nil, err
		}
	}
	next := strings.TrimSpace(line) + "\n" + text
	if err := f.publish(ctx, text, next, audit); err != nil {
		return nil, err
	}
	return append([][]byte{k}, keys...), nil
}

// Retire drops the key-encryption keys, but the current one, for which
// keep is false (no sealed key uses them), as Rotate writes: the file,
// and the store in one compare-and-swap with audit where the replicas
// share the keys. It returns the IDs (KEKID) of the keys dropped.
func (f KEKFile) Retire(ctx context.Context, keep func(id string) bool, audit storage.AuditEvent) ([]string, error) {
	keys, text, err := f.loadText(ctx)
	if err != nil {
		return nil, err
	}
	lines := kekLines(text)
	if len(lines) != len(keys) {
		return nil, errs.New(errs.Internal, "key-encryption keys %s: %d lines, %d keys", f.Path, len(lines), len(keys))
	}
	kept, retired := lines[:1], []string(nil)
	for i, k := range keys[1:] {
		if id := KEKID(k); keep(id) {
			kept = append(kept, lines[i+1])
		} else {
			retired = append(retired, id)
		}
	}
	if len(retired) == 0 {
		return nil, nil
	}
	if err := f.publish(ctx, text, strings.Join(kept, "\n"), audit); err != nil {
		return nil, err
	}
	return retired, nil
}

// loadText is LoadKeys with the file's text, which a change publishes over
// (compare-and-swap).
func (f KEKFile) loadText(ctx context.Context) ([][]byte, string, error) {
	keys, err := f.LoadKeys(ctx)
	if err != nil {
		return nil, "", err
	}
	text, err := f.line()
	if err != nil {
		return nil, "", errs.Wrap(errs.Config, err, "read key-encryption keys")
	}
	return keys, text, nil
}

// followedText is the file's text once it follows the store's keys
// (where the replicas share them).
func (f KEKFile) followedText(ctx context.Context) (string, error) {
	if f.SharesKeys() {
		if err := f.syncShared(ctx); err != nil {
			return "", err
		}
	}
	return f.line()
}

// SharesKeys reports whether the replicas share the keys through the
// store (a wrapped key and a store): Rotate and Retire then audit in the
// store's commit.
func (f KEKFile) SharesKeys() bool { return f.Wrap && f.Shared != nil }

// publish replaces the file's keys old with next: in the store first
// where the replicas share them (a compare-and-swap), then in the file.
func (f KEKFile) publish(ctx context.Context, old, next string, audit storage.AuditEvent) error {
	if f.SharesKeys() {
		if err := f.Shared.UpdateSharedKEK(ctx, old, next, audit); err != nil {
			return err
		}
	}
	if err := installFile(f.Path, next+"\n", true); err != nil {
		return errs.Wrap(errs.Config, err, "write key-encryption keys %s", f.Path)
	}
	return nil
}

// kekLines splits a file's text into its keys' lines.
func kekLines(text string) []string {
	var out []string
	for l := range strings.Lines(text) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// syncShared makes this replica's file hold the wrapped key the replicas
// share through the store. The first replica publishes its own: the
// file's (wrapped first if it was clear) or, without a file, a new one.
// A replica without a file gets the shared one. A file that holds another
// key is an error, since keys sealed under it would no longer open; but
// the file a replica created a moment ago, losing the race to publish, is
// replaced, as nothing was sealed under it yet.
func (f KEKFile) syncShared(ctx context.Context) error {
	shared, err := f.Shared.SharedKEK(ctx)
	if errs.Is(err, errs.NotFound) {
		_, statErr := os.Stat(f.Path)
		created := errors.Is(statErr, fs.ErrNotExist)
		if _, err := f.load(ctx); err != nil { // creates, or wraps a clear key in place
			return err
		}
		line, err := f.line()
		if err != nil {
			return err
		}
		err = f.Shared.InsertSharedKEK(ctx, line, storage.AuditEvent{
			At: time.Now(), Actor: "gateway", Action: "keystore-kek-publish", Detail: "wrapped by token key " + f.Label,
		})
		if err == nil {
			f.logger().Info("key-encryption key published to the store for the other replicas", "file", f.Path)
			return nil
		}
		if !errs.Is(err, errs.Conflict) {
			return err
		}
		if shared, err = f.Shared.SharedKEK(ctx); err != nil {
			return err
		}
		if created && strings.TrimSpace(line) != strings.TrimSpace(shared) {
			if err := installFile(f.Path, shared+"\n", true); err != nil {
				return errs.Wrap(errs.Config, err, "write the shared key-encryption key to %s", f.Path)
			}
			f.logger().Info("another replica published the key-encryption key first; this one uses it", "file", f.Path)
			return nil
		}
	} else if err != nil {
		return err
	}
	line, err := f.line()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := installFile(f.Path, shared+"\n", false); err != nil {
			return errs.Wrap(errs.Config, err, "write the shared key-encryption key to %s", f.Path)
		}
		f.logger().Info("key-encryption key taken from the store, which the replicas share", "file", f.Path)
		return nil
	case err != nil:
		return err
	case strings.TrimSpace(line) == strings.TrimSpace(shared):
	case !slices.ContainsFunc(kekLines(line), func(l string) bool { return slices.Contains(kekLines(shared), l) }):
		return errs.New(errs.Config, "key-encryption key %s differs from the one the replicas share in the store: keys sealed under either would not open under the other; move %s aside to take the shared one", f.Path, f.Path)
	default:
		// Another replica rotated or retired keys of the same keystore:
		// the store has its keys, and the keys it still seals under.
		if err := installFile(f.Path, strings.TrimSpace(shared)+"\n", true); err != nil {
			return errs.Wrap(errs.Config, err, "write the shared key-encryption keys to %s", f.Path)
		}
		f.logger().Info("key-encryption keys taken from the store, where another replica rotated them", "file", f.Path)
	}
	return nil
}

func (f KEKFile) logger() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// line is the file's content, trimmed.
func (f KEKFile) line() (string, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// load reads (or creates) the file and returns its keys, current first.
func (f KEKFile) load(ctx context.Context) ([][]byte, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.create(ctx)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "read key-encryption key")
	}
	lines := kekLines(string(b))
	if len(lines) == 0 {
		return nil, errs.New(errs.Config, "key-encryption key %s is empty", f.Path)
	}
	var keys [][]byte
	rewrapped := false
	for i, line := range lines {
		if rest, ok := strings.CutPrefix(line, wrappedKEKPrefix); ok {
			k, err := f.unwrap(ctx, rest)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
			continue
		}
		k, err := hex.DecodeString(line)
		if err != nil || len(k) != 32 {
			return nil, errs.New(errs.Config, "key-encryption key %s, line %d: neither 32 bytes in hex nor a wrapped key", f.Path, i+1)
		}
		keys = append(keys, k)
		if f.Wrap {
			if lines[i], err = f.wrap(ctx, k); err != nil {
				return nil, err
			}
			lines[i], rewrapped = strings.TrimSpace(lines[i]), true
		}
	}
	if rewrapped {
		if err := installFile(f.Path, strings.Join(lines, "\n")+"\n", true); err != nil {
			return nil, errs.Wrap(errs.Config, err, "rewrite key-encryption key %s wrapped", f.Path)
		}
		f.logger().Info("key-encryption key now wrapped by the token; the clear copy is gone", "file", f.Path, "label", f.Label)
	}
	return keys, nil
}

func (f KEKFile) create(ctx context.Context) ([][]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	line := hex.EncodeToString(k) + "\n"
	if f.Wrap {
		var err error
		if line, err = f.wrap(ctx, k); err != nil {
			return nil, err
		}
	}
	// Not replacing: of two processes creating the file at once, one wins
	// and the other fails instead of overwriting a key already in use.
	if err := installFile(f.Path, line, false); err != nil {
		return nil, errs.Wrap(errs.Config, err, "create key-encryption key")
	}
	return [][]byte{k}, nil
}

// wrap returns the file's line for k wrapped under f.Label.
func (f KEKFile) wrap(ctx context.Context, k []byte) (string, error) {
	w, err := f.Token.Wrap(ctx, f.Label, k, kekAD)
	if err != nil {
		return "", fmt.Errorf("wrap the key-encryption key with token key %q (a token without AES-GCM needs keystore.wrap: none): %w", f.Label, err)
	}
	return wrappedKEKPrefix + f.Label + ":" + hex.EncodeToString(w) + "\n", nil
}

// unwrap reads "LABEL:HEX", the part of a wrapped file after the prefix.
func (f KEKFile) unwrap(ctx context.Context, rest string) ([]byte, error) {
	label, h, ok := strings.Cut(rest, ":")
	w, err := hex.DecodeString(h)
	if !ok || label == "" || err != nil {
		return nil, errs.New(errs.Config, "key-encryption key %s: malformed wrapped key", f.Path)
	}
	if f.Token == nil {
		return nil, errs.New(errs.Config, "key-encryption key %s is wrapped by token key %q; it needs the pkcs11 signer", f.Path, label)
	}
	k, err := f.Token.Unwrap(ctx, label, w, kekAD)
	if err != nil {
		return nil, fmt.Errorf("unwrap key-encryption key %s with token key %q: %w", f.Path, label, err)
	}
	if len(k) != 32 {
		return nil, errs.New(errs.Config, "key-encryption key %s: unwrapped %d bytes, want 32", f.Path, len(k))
	}
	return k, nil
}

// installFile puts content at path in one step, so that a crash leaves
// the old file or the new one, never part of one: a temporary file beside
// it (mode 0600), synced, then renamed over path (replace) or linked to
// path, which fails if path exists (!replace); then the directory synced.
func installFile(path, content string, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a rename, finds nothing
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && replace {
		err = os.Rename(tmp.Name(), path)
	} else if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// FollowKEKs keeps sealer's keys those of the file (and the store the
// replicas share) until ctx ends: it reads them every interval and on each
// receive from now, and replaces the sealer's when they changed, so that
// a rotation made by another process seals under the new key here within
// an interval. The keys are unwrapped through the token only when the
// file's text (after following the store) differs from the last one
// loaded. A failed read leaves the keys as they are.
func FollowKEKs(ctx context.Context, f KEKFile, sealer *Sealer, interval time.Duration, now <-chan struct{}, log *slog.Logger) {
	var loaded string // the file's text the sealer's keys came from
	every(ctx, interval, now, func() {
		if text, err := f.followedText(ctx); err == nil && text != "" && text == loaded {
			return
		}
		keys, err := f.LoadKeys(ctx)
		if err == nil {
			// LoadKeys may have rewritten it (a key wrapped since).
			loaded, _ = f.line()
		}
		if err == nil && sealer.Holds(keys) {
			return
		}
		if err == nil {
			err = sealer.Set(keys...)
		}
		if err != nil {
			log.Error("key-encryption keys not reloaded; the current ones stay", "err", err)
			return
		}
		log.Info("key-encryption keys reloaded", "current", sealer.Current(), "keys", len(keys))
	})
}
