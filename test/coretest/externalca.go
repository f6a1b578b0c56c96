package coretest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

// ExternalCA is an external ACME CA in memory (a ca.Upstream) for the
// tests of profiles backed by one: it signs what it is asked with a CA key
// of its own, or does what its fields say. Set the fields before the
// first Obtain; Gate may be closed at any time.
type ExternalCA struct {
	// Cert is its issuing CA's certificate, the chain of every
	// certificate it issues, as ACME CAs send it; Root certified it, and
	// is what Roots answers (upstreams[].roots_file).
	Cert, Root *x509.Certificate
	// Gate, if set, holds every Obtain until it is closed (a slow
	// validation).
	Gate chan struct{}
	// ObtainErr and RevokeErr, if set, are what Obtain and Revoke return
	// (the CA refuses).
	ObtainErr, RevokeErr error
	// Edit, if set, changes the template before signing (a misbehaving
	// CA); a PublicKey it sets replaces the CSR's.
	Edit func(*x509.Certificate)
	// Serial, if set, is the serial of every certificate.
	Serial *big.Int

	key *ecdsa.PrivateKey
	now func() time.Time

	mu       sync.Mutex
	obtains  int
	revoked  map[string]int // serial → reason
	replaced []string       // what each Obtain said it replaces ("" for nothing)
}

// NewExternalCA makes an external CA whose certificates begin at now().
func NewExternalCA(t testing.TB, now func() time.Time) *ExternalCA {
	t.Helper()
	newCA := func(cn string, serial int64, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now().Add(-time.Hour), NotAfter: now().Add(10 * 365 * 24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	root, rootKey := newCA("External Root CA", 1, nil, nil)
	issuing, key := newCA("External Issuing CA", 7, root, rootKey)
	return &ExternalCA{Cert: issuing, Root: root, key: key, now: now, revoked: map[string]int{}}
}

// Roots answers the root its issuing CA chains to, as an upstream with a
// roots_file does (ca.UpstreamRoots).
func (u *ExternalCA) Roots() []*x509.Certificate { return []*x509.Certificate{u.Root} }

// Register records the external CA in st under name, as the gateway does
// when it starts with an upstream (certificates name it as their CA).
func (u *ExternalCA) Register(t testing.TB, st storage.Store, name string) {
	t.Helper()
	now := u.now()
	if err := st.InsertCA(context.Background(), storage.CA{Name: name, KeyURI: "acme:https://ca.example/" + name + "/directory", CertDER: []byte{}, CreatedAt: now},
		storage.AuditEvent{At: now, Actor: "test", Action: "upstream-add"}); err != nil {
		t.Fatal(err)
	}
}

// Obtain signs a certificate for the CSR's key and names, valid for 90
// days, for TLS servers and clients.
func (u *ExternalCA) Obtain(ctx context.Context, csr *x509.CertificateRequest, replaces *x509.Certificate) (*x509.Certificate, []*x509.Certificate, error) {
	if u.Gate != nil {
		select {
		case <-u.Gate:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.obtains++
	if replaces != nil {
		u.replaced = append(u.replaced, ca.SerialHex(replaces.SerialNumber))
	} else {
		u.replaced = append(u.replaced, "")
	}
	if u.ObtainErr != nil {
		return nil, nil, u.ObtainErr
	}
	serial := u.Serial
	if serial == nil {
		serial, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: csr.Subject.CommonName},
		DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses,
		NotBefore: u.now(), NotAfter: u.now().Add(90 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	pub := csr.PublicKey
	if u.Edit != nil {
		u.Edit(tmpl)
		if tmpl.PublicKey != nil {
			pub = tmpl.PublicKey
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, u.Cert, pub, u.key)
	if err != nil {
		return nil, nil, err
	}
	c, _ := x509.ParseCertificate(der)
	return c, []*x509.Certificate{u.Cert}, nil
}

// Revoke records the revocation.
func (u *ExternalCA) Revoke(ctx context.Context, cert *x509.Certificate, reason int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.RevokeErr != nil {
		return u.RevokeErr
	}
	u.revoked[ca.SerialHex(cert.SerialNumber)] = reason
	return nil
}

// Counts returns how many times it was asked for a certificate and how
// many certificates it revoked.
func (u *ExternalCA) Counts() (obtains, revoked int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.obtains, len(u.revoked)
}

// Revoked returns the reason it revoked the certificate with serial for,
// and whether it did.
func (u *ExternalCA) Revoked(serial string) (reason int, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	reason, ok = u.revoked[serial]
	return reason, ok
}

// Replaced lists what each Obtain said it replaces ("" for nothing), in
// order.
func (u *ExternalCA) Replaced() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.replaced...)
}
