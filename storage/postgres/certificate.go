package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// certColumns is what every read of a certificate selects, in the order
// scanCertificate reads it.
const certColumns = `serial, ca, profile, method, requester, status, sans::text,
	not_before, not_after, der, created_at, revoked_at, revocation_reason,
	key_pem, auto_renew, renew_at, COALESCE(replaces, ''), COALESCE(renewed_by, ''), subject, COALESCE(acme_order, ''), chain`

// InsertPendingCertificate implements storage.Store.
//
// The claim of an ACME order skips an order that another transaction has
// locked rather than wait for it (see insertPending). A ready order can be
// locked for a moment by a write that leaves it ready (the late validation
// of another challenge of its authorization, say), so a claim that found
// its order locked but ready is tried again, a few times over about half a
// second, before it gives up with Unavailable; only an order that is not
// ready is ErrACMEOrderNotReady.
func (s *Store) InsertPendingCertificate(ctx context.Context, c storage.Certificate) error {
	delay := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.insertPending(ctx, c)
		if !errors.Is(err, errOrderLocked) {
			return err
		}
		if attempt == claimAttempts {
			return errs.New(errs.Unavailable, "postgres: insert certificate %s: ACME order %s stayed locked by another transaction; try again", c.Serial, c.ACMEOrder)
		}
		select {
		case <-ctx.Done():
			return wrap(ctx.Err(), "insert certificate %s", c.Serial)
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// claimAttempts bounds the tries of InsertPendingCertificate on a locked
// ready order: 2+4+...+128 ms of waits between them.
const claimAttempts = 8

// errOrderLocked is insertPending's error when the order was ready but
// locked by another transaction: nothing was written.
var errOrderLocked = errors.New("the ACME order is locked by another transaction")

func (s *Store) insertPending(ctx context.Context, c storage.Certificate) error {
	sans, err := encodeList(c.SANs)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode SANs of %s", c.Serial)
	}
	return s.writes.DoUnflushed(ctx, "insert certificate "+c.Serial, write{
		// One statement claims the order (if any) and inserts: with no
		// order, or with the order claimed, the SELECT yields the row;
		// otherwise nothing is inserted. An order another transaction is
		// claiming (locked) is skipped rather than waited for: a batch
		// never waits for another batch's lock, so two batches written at
		// once cannot deadlock. The status read at the end, from the
		// statement's snapshot, tells an order skipped while ready (try
		// again) from one that is not ready.
		sql: `WITH claimed AS (
				UPDATE acme_orders SET status = $19
				WHERE id = (SELECT id FROM acme_orders WHERE id = $18 AND status = $20 FOR UPDATE SKIP LOCKED)
				RETURNING id),
			inserted AS (
				INSERT INTO certificates
				(serial, ca, profile, method, requester, status, sans, sans_lower, not_before, not_after, created_at,
				 key_pem, auto_renew, renew_at, replaces, renewed_by, subject, acme_order, chain)
				SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $21
				WHERE $18::text IS NULL OR EXISTS (SELECT FROM claimed)
				RETURNING true)
			SELECT EXISTS (SELECT FROM inserted), (SELECT status FROM acme_orders WHERE id = $18)`,
		args: []any{c.Serial, c.CA, c.Profile, c.Method, c.Requester, string(storage.StatusPending), sans, certquery.SANText(c.SANs),
			c.NotBefore, c.NotAfter, c.CreatedAt,
			nullBytes(c.KeyPEM), c.AutoRenew, nullTime(c.RenewAt), nullString(c.Replaces), nullString(c.RenewedBy), c.Subject, nullString(c.ACMEOrder),
			storage.ACMEProcessing, storage.ACMEReady, nullBytes(c.Chain)},
		result: func(row pgx.Row) error {
			var (
				inserted bool
				status   *string // of the order; NULL: none or no such order
			)
			if err := row.Scan(&inserted, &status); err != nil {
				return wrap(err, "insert certificate %s (CA %q)", c.Serial, c.CA)
			}
			switch {
			case inserted:
				return nil
			case status != nil && *status == storage.ACMEReady:
				// Nothing was written: no savepoint needed.
				return errOrderLocked
			default:
				return errs.Wrap(errs.Conflict, storage.ErrACMEOrderNotReady, "postgres: insert certificate %s: ACME order %s", c.Serial, c.ACMEOrder)
			}
		},
	})
}

// ActivateCertificate implements storage.Store. The UPDATE is conditional on
// the row being pending, so of several replicas activating one certificate
// at once exactly one changes it; the others wait for its commit, find the
// row no longer pending and see Conflict. The statement also reads the
// row's status, so that one round trip tells a missing serial from a
// finished one (a batched write is one statement, see batch.go). That read
// sees the row as it was when the statement began: when the UPDATE waited
// for another activation, the status it reports may still be pending, but a
// status never goes back to pending, so the answer, Conflict, stands.
func (s *Store) ActivateCertificate(ctx context.Context, serial string, der []byte, notBefore, notAfter time.Time) error {
	if len(der) == 0 {
		return errs.New(errs.Internal, "postgres: activate certificate %s: empty DER", serial)
	}
	return s.writes.Do(ctx, "activate certificate "+serial, write{
		sql: `WITH activated AS (
				UPDATE certificates
				SET status = $1, der = $2, not_before = $3, not_after = $4
				WHERE serial = $5 AND status = $6
				RETURNING serial)
			SELECT EXISTS (SELECT FROM activated), (SELECT status FROM certificates WHERE serial = $5)`,
		args: []any{string(storage.StatusActive), der, notBefore, notAfter, serial, string(storage.StatusPending)},
		result: func(row pgx.Row) error {
			var (
				activated bool
				status    *string // NULL: no such certificate
			)
			if err := row.Scan(&activated, &status); err != nil {
				return wrap(err, "activate certificate %s", serial)
			}
			switch {
			case activated:
				return nil
			case status == nil:
				return errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
			default:
				return errs.New(errs.Conflict, "postgres: certificate %s is %s, not pending", serial, *status)
			}
		},
	})
}

// GetCertificate implements storage.Store.
func (s *Store) GetCertificate(ctx context.Context, serial string) (storage.Certificate, error) {
	c, err := scanCertificate(s.pool.QueryRow(ctx, `SELECT `+certColumns+` FROM certificates WHERE serial = $1`, serial))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Certificate{}, errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
	}
	if err != nil {
		return storage.Certificate{}, wrap(err, "get certificate %s", serial)
	}
	return c, nil
}

// queryCertificates runs a SELECT of certColumns and returns every row (nil
// for none). what names the operation in errors.
func (s *Store) queryCertificates(ctx context.Context, what, query string, args ...any) ([]storage.Certificate, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	certs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Certificate, error) { return scanCertificate(r) })
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	if len(certs) == 0 {
		return nil, nil
	}
	return certs, nil
}

// scanCertificate reads one row of certColumns.
func scanCertificate(r pgx.Row) (storage.Certificate, error) {
	var (
		c                  storage.Certificate
		status, sans       string
		revokedAt, renewAt *time.Time
		reason             *int
	)
	err := r.Scan(
		&c.Serial, &c.CA, &c.Profile, &c.Method, &c.Requester, &status, &sans,
		&c.NotBefore, &c.NotAfter, &c.DER, &c.CreatedAt, &revokedAt, &reason,
		&c.KeyPEM, &c.AutoRenew, &renewAt, &c.Replaces, &c.RenewedBy, &c.Subject, &c.ACMEOrder, &c.Chain)
	if err != nil {
		return storage.Certificate{}, err
	}
	if c.SANs, err = decodeList(sans); err != nil {
		return storage.Certificate{}, fmt.Errorf("decode SANs of %s: %w", c.Serial, err)
	}
	c.Status = storage.CertStatus(status)
	c.NotBefore = utc(c.NotBefore)
	c.NotAfter = utc(c.NotAfter)
	c.CreatedAt = utc(c.CreatedAt)
	c.RevokedAt = fromNullTime(revokedAt)
	if reason != nil {
		c.RevocationReason = *reason
	}
	c.RenewAt = fromNullTime(renewAt)
	c.DER = nullBytes(c.DER)
	c.KeyPEM = nullBytes(c.KeyPEM)
	c.Chain = nullBytes(c.Chain)
	return c, nil
}
