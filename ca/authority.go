package ca

import (
	"crypto/x509"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/signer"
)

// Authority is one CA ready to sign: its certificate, its key in the
// signer, and the certificates above it. The certificate and chain change
// while the gateway runs when the CA or one above it is renewed (Reload);
// read them through Cert and Chain each time rather than keeping them.
type Authority struct {
	Name string
	Key  signer.Key
	// CRLMirrors follow the gateway's own CRL URL in the CRL distribution
	// point of every certificate this CA issues.
	CRLMirrors []string
	// CRLShards, when 2 or more, partitions the CA's CRL: the CRL
	// distribution point of a certificate names its shard's CRL
	// (URLs.CRLShard, CRLShard) instead of the full one. Mirrors still
	// carry the full CRL.
	CRLShards int
	// Linter, if set, is the lint gate for the certificates this CA
	// issues; otherwise the Issuer's.
	Linter *Linter
	// External is a CA certified by a CA outside the gateway
	// (cas[].external): its chain ends at that CA's root, and a new
	// certificate is imported (Hierarchy.Import), not renewed here.
	External bool

	cur atomic.Pointer[Certified]
}

// Certified is a CA certificate with the certificates above it.
type Certified struct {
	Cert  *x509.Certificate
	Chain []*x509.Certificate // issuers up to and including the root, nearest first; empty for a root
	// Revoked is set when the CA, or one above it, has been revoked
	// (Hierarchy.Revoke): nothing is issued under it.
	Revoked *Revoked
}

// Revoked says which CA was revoked, when and why.
type Revoked struct {
	CA     string
	At     time.Time
	Reason int // RFC 5280 section 5.3.1 CRLReason
}

// NewAuthority is the CA name whose key is certified by cert, under the
// issuers in chain (nearest first, empty for a root).
func NewAuthority(name string, key signer.Key, cert *x509.Certificate, chain []*x509.Certificate) *Authority {
	a := &Authority{Name: name, Key: key}
	a.cur.Store(&Certified{Cert: cert, Chain: chain})
	return a
}

// Cert is the CA's current certificate.
func (a *Authority) Cert() *x509.Certificate { return a.cur.Load().Cert }

// Chain is the issuers of the current certificate, nearest first, up to
// and including the root; empty for a root.
func (a *Authority) Chain() []*x509.Certificate { return a.cur.Load().Chain }

// Certified is the current certificate and its chain, read together. It
// is a new value after each change, so a cache of something made from it
// can tell whether it is still current by comparing pointers (see
// Derived); never modify it.
func (a *Authority) Certified() *Certified { return a.cur.Load() }

// Full is the current certificate followed by its chain.
func (a *Authority) Full() []*x509.Certificate {
	c := a.cur.Load()
	return append([]*x509.Certificate{c.Cert}, c.Chain...)
}

// Derived is a value made from the current certificates of some CAs (a
// certificate pool, a cacerts answer, a chain to send), made again on first
// use after one of them changed.
type Derived[T any] struct {
	cas   []*Authority
	build func() (T, error)
	cur   atomic.Pointer[derived[T]]
}

type derived[T any] struct {
	from []*Certified
	v    T
}

// NewDerived returns a Derived that calls build for its value.
func NewDerived[T any](build func() (T, error), cas ...*Authority) *Derived[T] {
	return &Derived[T]{cas: cas, build: build}
}

// Get returns the value, made again if a CA's certificate or chain changed
// since it was made. Callers that race after a change may each make it;
// every one of them is current.
func (d *Derived[T]) Get() (T, error) {
	if cur := d.cur.Load(); cur != nil && d.current(cur.from) {
		return cur.v, nil
	}
	from := make([]*Certified, len(d.cas))
	for i, a := range d.cas {
		from[i] = a.Certified()
	}
	v, err := d.build()
	if err != nil {
		return v, err
	}
	d.cur.Store(&derived[T]{from: from, v: v})
	return v, nil
}

func (d *Derived[T]) current(from []*Certified) bool {
	for i, a := range d.cas {
		if a.Certified() != from[i] {
			return false
		}
	}
	return true
}

// PoolOf is a certificate pool of the current certificates of cas, the
// trust anchors of the certificates the gateway issued (client
// certificates of EST and SCEP renewals). A revoked CA is left out: what
// it issued authenticates nothing.
func PoolOf(cas map[string]*Authority) *Derived[*x509.CertPool] {
	list := make([]*Authority, 0, len(cas))
	for _, a := range cas {
		list = append(list, a)
	}
	return NewDerived(func() (*x509.CertPool, error) {
		pool := x509.NewCertPool()
		for _, a := range list {
			if cur := a.Certified(); cur.Revoked == nil {
				pool.AddCert(cur.Cert)
			}
		}
		return pool, nil
	}, list...)
}
