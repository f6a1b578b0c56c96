package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

const caColumns = `name, COALESCE(parent, ''), key_uri, cert_der, chain_der, created_at`

// InsertCA implements storage.Store.
func (s *Store) InsertCA(ctx context.Context, ca storage.CA, audit storage.AuditEvent) error {
	parent := sql.NullString{String: ca.Parent, Valid: ca.Parent != ""}
	return s.writes.Do(ctx, "insert CA "+ca.Name, audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO cas (name, parent, key_uri, cert_der, chain_der, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			ca.Name, parent, ca.KeyURI, ca.CertDER, nullBytes(ca.Chain), micros(ca.CreatedAt))
		if err != nil {
			return wrap(err, "insert CA %q (parent %q)", ca.Name, ca.Parent)
		}
		return nil
	}))
}

// ReplaceCACertificate implements storage.Store.
func (s *Store) ReplaceCACertificate(ctx context.Context, name string, old, der, chain []byte, audit storage.AuditEvent) error {
	if len(der) == 0 {
		return errs.New(errs.Malformed, "sqlite: CA %q: no certificate to store", name)
	}
	return s.writes.Do(ctx, "replace the certificate of CA "+name, audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE cas SET cert_der = ?, chain_der = ? WHERE name = ? AND cert_der = ?`, der, nullBytes(chain), name, old)
		if err != nil {
			return wrap(err, "replace the certificate of CA %q", name)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap(err, "replace the certificate of CA %q", name)
		} else if n == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM cas WHERE name = ?`, name).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "sqlite: CA %q not found", name)
		} else if err != nil {
			return wrap(err, "replace the certificate of CA %q", name)
		}
		return errs.New(errs.Conflict, "sqlite: the certificate of CA %q has changed since it was read", name)
	}))
}

// GetCA implements storage.Store.
func (s *Store) GetCA(ctx context.Context, name string) (storage.CA, error) {
	row := s.read.QueryRowContext(ctx, `SELECT `+caColumns+` FROM cas WHERE name = ?`, name)
	ca, err := scanCA(row)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.CA{}, errs.New(errs.NotFound, "sqlite: CA %q not found", name)
	}
	if err != nil {
		return storage.CA{}, wrap(err, "get CA %q", name)
	}
	return ca, nil
}

// ListCAs implements storage.Store.
func (s *Store) ListCAs(ctx context.Context) ([]storage.CA, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+caColumns+` FROM cas ORDER BY created_at, name`)
	if err != nil {
		return nil, wrap(err, "list CAs")
	}
	defer rows.Close()
	var cas []storage.CA
	for rows.Next() {
		ca, err := scanCA(rows)
		if err != nil {
			return nil, wrap(err, "list CAs")
		}
		cas = append(cas, ca)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list CAs")
	}
	return cas, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanCA(r scanner) (storage.CA, error) {
	var ca storage.CA
	var created int64
	if err := r.Scan(&ca.Name, &ca.Parent, &ca.KeyURI, &ca.CertDER, &ca.Chain, &created); err != nil {
		return storage.CA{}, err
	}
	ca.CreatedAt = fromMicros(created)
	// An upstream's row has an empty certificate (stored empty: cert_der
	// is NOT NULL); it comes back nil like every empty byte slice.
	ca.CertDER = nullBytes(ca.CertDER)
	ca.Chain = nullBytes(ca.Chain)
	return ca, nil
}
