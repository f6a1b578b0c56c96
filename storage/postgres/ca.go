package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

const caColumns = `name, COALESCE(parent, ''), key_uri, cert_der, chain_der, created_at`

// InsertCA implements storage.Store.
func (s *Store) InsertCA(ctx context.Context, ca storage.CA, audit storage.AuditEvent) error {
	var parent *string
	if ca.Parent != "" {
		parent = &ca.Parent
	}
	return s.audited(ctx, "insert CA "+ca.Name, audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cas (name, parent, key_uri, cert_der, chain_der, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			ca.Name, parent, ca.KeyURI, ca.CertDER, nullBytes(ca.Chain), ca.CreatedAt)
		if err != nil {
			return wrap(err, "insert CA %q (parent %q)", ca.Name, ca.Parent)
		}
		return nil
	})
}

// ReplaceCACertificate implements storage.Store.
func (s *Store) ReplaceCACertificate(ctx context.Context, name string, old, der, chain []byte, audit storage.AuditEvent) error {
	if len(der) == 0 {
		return errs.New(errs.Malformed, "postgres: CA %q: no certificate to store", name)
	}
	return s.audited(ctx, "replace the certificate of CA "+name, audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cas SET cert_der = $1, chain_der = $2 WHERE name = $3 AND cert_der = $4`, der, nullBytes(chain), name, old)
		if err != nil {
			return wrap(err, "replace the certificate of CA %q", name)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM cas WHERE name = $1`, name).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return errs.New(errs.NotFound, "postgres: CA %q not found", name)
		} else if err != nil {
			return wrap(err, "replace the certificate of CA %q", name)
		}
		return errs.New(errs.Conflict, "postgres: the certificate of CA %q has changed since it was read", name)
	})
}

// GetCA implements storage.Store.
func (s *Store) GetCA(ctx context.Context, name string) (storage.CA, error) {
	ca, err := scanCA(s.pool.QueryRow(ctx, `SELECT `+caColumns+` FROM cas WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.CA{}, errs.New(errs.NotFound, "postgres: CA %q not found", name)
	}
	if err != nil {
		return storage.CA{}, wrap(err, "get CA %q", name)
	}
	return ca, nil
}

// ListCAs implements storage.Store.
func (s *Store) ListCAs(ctx context.Context) ([]storage.CA, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+caColumns+` FROM cas ORDER BY created_at, name`)
	if err != nil {
		return nil, wrap(err, "list CAs")
	}
	cas, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.CA, error) { return scanCA(r) })
	if err != nil {
		return nil, wrap(err, "list CAs")
	}
	if len(cas) == 0 {
		return nil, nil
	}
	return cas, nil
}

func scanCA(r pgx.Row) (storage.CA, error) {
	var ca storage.CA
	if err := r.Scan(&ca.Name, &ca.Parent, &ca.KeyURI, &ca.CertDER, &ca.Chain, &ca.CreatedAt); err != nil {
		return storage.CA{}, err
	}
	ca.CreatedAt = utc(ca.CreatedAt)
	// An upstream's row has an empty certificate (stored empty: cert_der
	// is NOT NULL); it comes back nil like every empty byte slice.
	ca.CertDER = nullBytes(ca.CertDER)
	ca.Chain = nullBytes(ca.Chain)
	return ca, nil
}
