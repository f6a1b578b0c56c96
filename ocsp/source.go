package ocsp

import (
	"context"
	"time"

	"github.com/certgw/gateway/crl"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Status is what the responder says of one certificate.
type Status struct {
	Kind      Kind
	RevokedAt time.Time // when Revoked
	Reason    int       // RFC 5280 CRLReason when Revoked; 0 (unspecified) is not sent
	// Final is false for an answer that may change without a revocation:
	// a certificate being issued right now is unknown until it is signed.
	// Such answers are not cached.
	Final bool
}

// Source says what became of the certificates of an issuer.
type Source interface {
	// Status returns the status of the certificate with the serial
	// (lowercase hex) that the CA named issuer issued. A serial the CA
	// never issued is Unknown, not an error.
	Status(ctx context.Context, issuer, serial string) (Status, error)
}

// StatusStore is what StoreSource needs of the store.
type StatusStore interface {
	CertificateStatus(ctx context.Context, serial string) (storage.CertificateStatus, error)
}

// StoreSource answers from the certificate inventory.
type StoreSource struct{ Store StatusStore }

// Status implements Source.
func (s StoreSource) Status(ctx context.Context, issuer, serial string) (Status, error) {
	c, err := s.Store.CertificateStatus(ctx, serial)
	if errs.Is(err, errs.NotFound) {
		return Status{Kind: Unknown, Final: true}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if c.CA != issuer {
		// The serial exists, but another CA issued it: this one did not.
		return Status{Kind: Unknown, Final: true}, nil
	}
	switch c.Status {
	case storage.StatusActive:
		return Status{Kind: Good, Final: true}, nil
	case storage.StatusRevoked:
		return Status{Kind: Revoked, RevokedAt: c.RevokedAt, Reason: crl.EntryReason(c.Reason), Final: true}, nil
	}
	// Pending: reserved, maybe being signed this very moment.
	return Status{Kind: Unknown}, nil
}
