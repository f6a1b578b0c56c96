package ca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/errs"
)

// ServerCert keeps the certificate of the gateway's HTTPS listener. With
// Issuer set (listen.tls.auto) it issues the certificate from the
// gateway's own CA, writes it with its chain and key to CertFile and
// KeyFile, and renews it when two thirds of its lifetime have passed.
// Without Issuer it serves the files as they are.
//
// The TLS key is a software key on disk (mode 0600), not an HSM key: it
// signs every handshake, which an HSM would make slow, and it protects
// only the transport, not what the CA signs.
type ServerCert struct {
	CertFile, KeyFile string
	Issuer            *Issuer
	Authority         *Authority
	DNSNames          []string
	IPAddresses       []net.IP
	Validity          time.Duration
	Log               *slog.Logger

	mu  sync.Mutex // held by Ensure
	cur atomic.Pointer[tls.Certificate]
}

// GetCertificate serves the current certificate (tls.Config).
func (s *ServerCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.cur.Load()
	if c == nil {
		return nil, errors.New("no server certificate")
	}
	return c, nil
}

// Ensure loads the files and, when the gateway manages them, issues a new
// certificate if they are missing, do not match the configuration, or are
// due for renewal.
func (s *ServerCert) Ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil && (s.Issuer == nil || !errors.Is(err, fs.ErrNotExist)) {
		return errs.Wrap(errs.Config, err, "server certificate")
	}
	if err == nil && (s.Issuer == nil || !s.due(c)) {
		s.cur.Store(&c)
		return nil
	}
	return s.issue(ctx)
}

// due reports whether a managed certificate must be replaced: it is not
// for the configured names, two thirds of its life have passed, or its
// chain no longer carries the CA's current certificate (renewed since).
func (s *ServerCert) due(c tls.Certificate) bool {
	leaf := c.Leaf
	if leaf == nil || len(c.Certificate) < 2 || !bytes.Equal(c.Certificate[1], s.Authority.Cert().Raw) {
		return true
	}
	if !bytes.Equal(leaf.RawIssuer, s.Authority.Cert().RawSubject) || leaf.CheckSignatureFrom(s.Authority.Cert()) != nil {
		return true
	}
	names := slices.Clone(leaf.DNSNames)
	slices.Sort(names)
	want := slices.Clone(s.DNSNames)
	slices.Sort(want)
	if !slices.Equal(names, want) || len(leaf.IPAddresses) != len(s.IPAddresses) {
		return true
	}
	for i, ip := range s.IPAddresses {
		if !ip.Equal(leaf.IPAddresses[i]) {
			return true
		}
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return s.Issuer.Now().After(leaf.NotBefore.Add(life * 2 / 3))
}

func (s *ServerCert) issue(ctx context.Context) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "server key")
	}
	now := s.Issuer.Now()
	// No CN: the names are in the SAN, where TLS clients look (RFC 6125),
	// and the BRs discourage repeating one in the CN.
	var subj pkix.Name
	cert, err := s.Issuer.Issue(ctx, s.Authority, LeafParams{
		Subject: subj, DNSNames: s.DNSNames, IPAddresses: s.IPAddresses,
		NotBefore: now.Add(-Backdate), NotAfter: now.Add(s.Validity),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key.Public(), Request{Profile: "", Method: "internal", Requester: "gateway"})
	if err != nil {
		return fmt.Errorf("issue the server certificate: %w", err)
	}
	var chain bytes.Buffer
	pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: s.Authority.Cert().Raw})
	for _, c := range s.Authority.Chain() {
		if !bytes.Equal(c.RawIssuer, c.RawSubject) { // the root is the trust anchor; do not send it
			pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "server key")
	}
	if err := WriteFileAtomic(s.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	if err := WriteFileAtomic(s.CertFile, chain.Bytes(), 0o644); err != nil {
		return err
	}
	c, err := tls.X509KeyPair(chain.Bytes(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err != nil {
		return errs.Wrap(errs.Internal, err, "server certificate")
	}
	s.cur.Store(&c)
	s.Log.Info("server certificate issued", "serial", SerialHex(cert.SerialNumber), "dns", s.DNSNames, "ips", s.IPAddresses, "not_after", cert.NotAfter)
	return nil
}

// Run renews a managed certificate in time until ctx ends.
func (s *ServerCert) Run(ctx context.Context, interval time.Duration) {
	if s.Issuer == nil {
		return
	}
	every(ctx, interval, nil, func() {
		if err := s.Ensure(ctx); err != nil {
			s.Log.Error("server certificate renewal failed; the current one stays", "err", err)
		}
	})
}

// WriteFileAtomic writes data, with mode, to a temporary file beside
// path, synced, and renames it into place, so that a reader (a web server
// of a CRL mirror, the TLS listener) never sees half a file.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return errs.Wrap(errs.Internal, err, "write %s", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return errs.Wrap(errs.Internal, err, "write %s", path)
	}
	defer os.Remove(f.Name()) // after the rename, finds nothing
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return errs.Wrap(errs.Internal, err, "write %s", path)
	}
	return nil
}
