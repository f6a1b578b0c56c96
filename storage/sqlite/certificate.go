package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// InsertPendingCertificate implements storage.Store.
func (s *Store) InsertPendingCertificate(ctx context.Context, c storage.Certificate) error {
	sans, err := encodeList(c.SANs)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode SANs of %s", c.Serial)
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO certificates
		(serial, ca, profile, method, requester, status, sans, not_before, not_after, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Serial, c.CA, c.Profile, c.Method, c.Requester, string(storage.StatusPending), sans,
		micros(c.NotBefore), micros(c.NotAfter), micros(c.CreatedAt))
	if err != nil {
		return wrap(err, "insert certificate %s (CA %q)", c.Serial, c.CA)
	}
	return nil
}

// ActivateCertificate implements storage.Store.
func (s *Store) ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error {
	if len(der) == 0 {
		return errs.New(errs.Internal, "sqlite: activate certificate %s: empty DER", serial)
	}
	res, err := s.write.ExecContext(ctx, `UPDATE certificates
		SET status = ?, der = ?, not_before = ?, not_after = ?
		WHERE serial = ? AND status = ?`,
		string(storage.StatusActive), der, micros(notBefore), micros(notAfter),
		serial, string(storage.StatusPending))
	if err != nil {
		return wrap(err, "activate certificate %s", serial)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "activate certificate %s", serial)
	}
	if n == 1 {
		return nil
	}
	// Nothing was pending: tell a missing serial from a finished one. A
	// status never goes back to pending, so this answer cannot go stale.
	var status string
	err = s.write.QueryRowContext(ctx, `SELECT status FROM certificates WHERE serial = ?`, serial).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
	}
	if err != nil {
		return wrap(err, "activate certificate %s", serial)
	}
	return errs.New(errs.Conflict, "sqlite: certificate %s is %s, not pending", serial, status)
}

// GetCertificate implements storage.Store.
func (s *Store) GetCertificate(ctx context.Context, serial string) (storage.Certificate, error) {
	var (
		c                            storage.Certificate
		status, sans                 string
		notBefore, notAfter, created int64
		revokedAt, reason            sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT serial, ca, profile, method, requester, status, sans,
			not_before, not_after, der, created_at, revoked_at, revocation_reason
		FROM certificates WHERE serial = ?`, serial).Scan(
		&c.Serial, &c.CA, &c.Profile, &c.Method, &c.Requester, &status, &sans,
		&notBefore, &notAfter, &c.DER, &created, &revokedAt, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Certificate{}, errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
	}
	if err != nil {
		return storage.Certificate{}, wrap(err, "get certificate %s", serial)
	}
	if c.SANs, err = decodeList(sans); err != nil {
		return storage.Certificate{}, errs.Wrap(errs.Internal, err, "sqlite: decode SANs of %s", serial)
	}
	c.Status = storage.CertStatus(status)
	c.NotBefore = fromMicros(notBefore)
	c.NotAfter = fromMicros(notAfter)
	c.CreatedAt = fromMicros(created)
	c.RevokedAt = fromNullMicros(revokedAt)
	c.RevocationReason = int(reason.Int64)
	c.DER = nullBytes(c.DER)
	return c, nil
}
