package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// certColumns is what every read of a certificate selects, in the order
// scanCertificate reads it.
const certColumns = `serial, ca, profile, method, requester, status, sans,
	not_before, not_after, der, created_at, revoked_at, revocation_reason,
	key_pem, auto_renew, renew_at, COALESCE(replaces, ''), COALESCE(renewed_by, ''), subject, COALESCE(acme_order, ''), chain`

// InsertPendingCertificate implements storage.Store.
func (s *Store) InsertPendingCertificate(ctx context.Context, c storage.Certificate) error {
	sans, err := encodeList(c.SANs)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode SANs of %s", c.Serial)
	}
	return s.writes.DoUnflushed(ctx, "insert certificate "+c.Serial, func(ctx context.Context, tx *txn) error {
		if c.ACMEOrder != "" {
			res, err := tx.ExecContext(ctx, `UPDATE acme_orders SET status = ? WHERE id = ? AND status = ?`,
				storage.ACMEProcessing, c.ACMEOrder, storage.ACMEReady)
			if err != nil {
				return wrap(err, "claim ACME order %s", c.ACMEOrder)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return wrap(err, "claim ACME order %s", c.ACMEOrder)
			}
			if n != 1 {
				return errs.Wrap(errs.Conflict, storage.ErrACMEOrderNotReady, "sqlite: insert certificate %s: ACME order %s", c.Serial, c.ACMEOrder)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO certificates
			(serial, ca, profile, method, requester, status, sans, sans_lower, not_before, not_after, created_at,
			 key_pem, auto_renew, renew_at, replaces, renewed_by, subject, acme_order, chain)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Serial, c.CA, c.Profile, c.Method, c.Requester, string(storage.StatusPending), sans, certquery.SANText(c.SANs),
			micros(c.NotBefore), micros(c.NotAfter), micros(c.CreatedAt),
			nullBytes(c.KeyPEM), boolInt(c.AutoRenew), nullMicros(c.RenewAt), nullString(c.Replaces), nullString(c.RenewedBy), c.Subject, nullString(c.ACMEOrder), nullBytes(c.Chain))
		if err != nil {
			return wrap(err, "insert certificate %s (CA %q)", c.Serial, c.CA)
		}
		return nil
	})
}

// ActivateCertificate implements storage.Store.
func (s *Store) ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error {
	if len(der) == 0 {
		return errs.New(errs.Internal, "sqlite: activate certificate %s: empty DER", serial)
	}
	return s.writes.Do(ctx, "activate certificate "+serial, func(ctx context.Context, tx *txn) error {
		return activate(ctx, tx, serial, der, notBefore, notAfter)
	})
}

// activate stores the DER of a pending certificate and marks it active, in
// tx; ActivateCertificate and CompleteIssuance share it.
func activate(ctx context.Context, tx *txn, serial string, der []byte, notBefore, notAfter time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE certificates
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
	// Nothing was pending: tell a missing serial from a finished one.
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM certificates WHERE serial = ?`, serial).Scan(&status)
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
	row := s.read.QueryRowContext(ctx, `SELECT `+certColumns+` FROM certificates WHERE serial = ?`, serial)
	c, err := scanCertificate(row)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Certificate{}, errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
	}
	if err != nil {
		return storage.Certificate{}, wrap(err, "get certificate %s", serial)
	}
	return c, nil
}

// queryCertificates runs a SELECT of certColumns on the read pool and
// returns every row (nil for none). what names the operation in errors.
func (s *Store) queryCertificates(ctx context.Context, what, query string, args ...any) ([]storage.Certificate, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	defer rows.Close()
	var certs []storage.Certificate
	for rows.Next() {
		c, err := scanCertificate(rows)
		if err != nil {
			return nil, wrap(err, "%s", what)
		}
		certs = append(certs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "%s", what)
	}
	return certs, nil
}

// scanCertificate reads one row of certColumns.
func scanCertificate(r scanner) (storage.Certificate, error) {
	var (
		c                            storage.Certificate
		status, sans                 string
		notBefore, notAfter, created int64
		revokedAt, reason, renewAt   sql.NullInt64
	)
	err := r.Scan(
		&c.Serial, &c.CA, &c.Profile, &c.Method, &c.Requester, &status, &sans,
		&notBefore, &notAfter, &c.DER, &created, &revokedAt, &reason,
		&c.KeyPEM, &c.AutoRenew, &renewAt, &c.Replaces, &c.RenewedBy, &c.Subject, &c.ACMEOrder, &c.Chain)
	if err != nil {
		return storage.Certificate{}, err
	}
	if c.SANs, err = decodeList(sans); err != nil {
		return storage.Certificate{}, fmt.Errorf("decode SANs of %s: %w", c.Serial, err)
	}
	c.Status = storage.CertStatus(status)
	c.NotBefore = fromMicros(notBefore)
	c.NotAfter = fromMicros(notAfter)
	c.CreatedAt = fromMicros(created)
	c.RevokedAt = fromNullMicros(revokedAt)
	c.RevocationReason = int(reason.Int64)
	c.RenewAt = fromNullMicros(renewAt)
	c.DER = nullBytes(c.DER)
	c.KeyPEM = nullBytes(c.KeyPEM)
	c.Chain = nullBytes(c.Chain)
	return c, nil
}
