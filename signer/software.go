package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/certgw/gateway/errs"
)

// Software keeps keys as PKCS#8 PEM files (mode 0600) in a directory.
//
// NOT FOR PRODUCTION. The keys are plain files that anyone who can read
// the directory can copy. It exists so that the gateway runs, and its
// tests run, on a machine without any PKCS#11 module; it implements the
// same interface as the PKCS#11 pool so that nothing else changes.
type Software struct {
	dir  string
	mu   sync.Mutex
	keys map[string]*softKey
}

var _ Signer = (*Software)(nil)

// NewSoftware returns a software signer over dir, creating it (mode 0700)
// if needed. It logs a warning: this signer is not for production.
func NewSoftware(dir string, log *slog.Logger) (*Software, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.Wrap(errs.Config, err, "software signer")
	}
	if log != nil {
		log.Warn("using the software signer: CA keys are plain files; NOT FOR PRODUCTION", "dir", dir)
	}
	return &Software{dir: dir, keys: map[string]*softKey{}}, nil
}

// URI implements Signer: file URIs name the key files.
func (s *Software) URI(label string) string {
	u := url.URL{Scheme: "file", Path: s.path(label)}
	return u.String()
}

func (s *Software) path(label string) string {
	abs, err := filepath.Abs(filepath.Join(s.dir, label+".key"))
	if err != nil {
		return filepath.Join(s.dir, label+".key")
	}
	return abs
}

func labelOK(label string) bool {
	return label != "" && !strings.ContainsAny(label, `/\`) && label != "." && label != ".."
}

// filePath returns the path a file: URI names.
func filePath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return "", errs.New(errs.Config, "software signer: %q is not a file: URI", uri)
	}
	return u.Path, nil
}

// Key implements Signer.
func (s *Software) Key(ctx context.Context, uri string) (Key, error) {
	path, err := filePath(uri)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[path]; ok {
		return k, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.New(errs.NotFound, "software signer: no key at %s", path)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "software signer")
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errs.New(errs.Config, "software signer: %s holds no PKCS#8 PEM key", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "software signer: %s", path)
	}
	cs, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errs.New(errs.Config, "software signer: %s is not a signing key", path)
	}
	k := &softKey{uri: uri, s: cs}
	s.keys[path] = k
	return k, nil
}

// Destroy implements Signer: the key file is removed. Only a file this
// signer would have generated (LABEL.key in its directory) is removed, so
// a stray URI cannot delete anything else.
func (s *Software) Destroy(ctx context.Context, uri string) error {
	path, err := filePath(uri)
	if err != nil {
		return err
	}
	if label, ok := strings.CutSuffix(filepath.Base(path), ".key"); !ok || !labelOK(label) || s.path(label) != filepath.Clean(path) {
		return errs.New(errs.Config, "software signer: %s is not a key of %s", path, s.dir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, path)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errs.Wrap(errs.Internal, err, "software signer: destroy %s", path)
	}
	return nil
}

// Generate implements Signer.
func (s *Software) Generate(ctx context.Context, label string, kt KeyType) (Key, error) {
	if !labelOK(label) {
		return nil, errs.New(errs.Config, "software signer: invalid label %q", label)
	}
	var priv crypto.Signer
	var err error
	switch kt {
	case ECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		priv, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, errs.New(errs.Config, "software signer: unsupported key type %q", kt)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "software signer: generate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "software signer: marshal")
	}
	path := s.path(label)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, errs.New(errs.Conflict, "software signer: a key labelled %q already exists", label)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "software signer")
	}
	werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, errs.Wrap(errs.Internal, werr, "software signer: write %s", path)
	}
	return s.Key(ctx, s.URI(label))
}

// Check implements Signer.
func (s *Software) Check(ctx context.Context) error {
	if _, err := os.Stat(s.dir); err != nil {
		return errs.Wrap(errs.Unavailable, err, "software signer")
	}
	return nil
}

// Close implements Signer.
func (s *Software) Close() error { return nil }

type softKey struct {
	uri string
	s   crypto.Signer
}

func (k *softKey) Public() crypto.PublicKey { return k.s.Public() }
func (k *softKey) URI() string              { return k.uri }

func (k *softKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.s.Sign(rand.Reader, digest, opts)
}

func (k *softKey) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "software signer")
	}
	return k.s.Sign(rand.Reader, digest, opts)
}

func (k *softKey) WithContext(ctx context.Context) crypto.Signer { return ctxSigner{ctx, k} }

// Decrypt decrypts with an RSA key (crypto.Decrypter), as poolKey does.
func (k *softKey) Decrypt(r io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	d, ok := k.s.(*rsa.PrivateKey)
	if !ok {
		return nil, errs.New(errs.Internal, "software key %s is not an RSA key and cannot decrypt", k.uri)
	}
	return d.Decrypt(rand.Reader, ciphertext, opts)
}

// String keeps the key out of logs.
func (k *softKey) String() string { return fmt.Sprintf("software key %s", k.uri) }
