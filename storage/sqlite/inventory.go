package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// ListCertificates implements storage.Store. It reads one row more than
// the page holds: if that row exists there is a next page, whose cursor is
// the page's last row. So the last page never comes with a cursor that
// leads to an empty one.
func (s *Store) ListCertificates(ctx context.Context, f storage.CertificateFilter) ([]storage.Certificate, string, error) {
	query, args, ok, err := listQuery(f)
	if err != nil {
		return nil, "", errs.Wrap(errs.Malformed, err, "sqlite: list certificates")
	}
	if !ok {
		return nil, "", nil
	}
	certs, err := s.queryCertificates(ctx, "list certificates", query, args...)
	if err != nil {
		return nil, "", err
	}
	limit := f.EffectiveLimit()
	if len(certs) <= limit {
		return certs, "", nil
	}
	certs = certs[:limit]
	last := certs[limit-1]
	return certs, certquery.Cursor{CreatedAt: last.CreatedAt, Serial: last.Serial}.Encode(), nil
}

// listQuery builds the SELECT for f. Only the filters that are set become
// conditions, so that the planner can use the (profile, created_at, serial)
// or (created_at, serial) index and walk it backwards in page order. ok is
// false when f can match nothing (see certquery.SANPattern).
func listQuery(f storage.CertificateFilter) (query string, args []any, ok bool, err error) {
	if err := certquery.CheckFilter(f); err != nil {
		return "", nil, false, err
	}
	var where []string
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Profile != "" {
		add("profile = ?", f.Profile)
	}
	if f.CA != "" {
		add("ca = ?", f.CA)
	}
	// Literal statuses, not parameters, so that the planner sees them.
	switch f.Status {
	case certquery.StatusPending:
		add("status = 'pending'")
	case certquery.StatusActive:
		add("status = 'active' AND not_after > ?", micros(f.Now))
	case certquery.StatusExpired:
		add("status = 'active' AND not_after <= ?", micros(f.Now))
	case certquery.StatusRevoked:
		add("status = 'revoked'")
	}
	if f.SAN != "" {
		pattern, ok := certquery.SANPattern(f.SAN)
		if !ok {
			return "", nil, false, nil
		}
		add(`sans_lower LIKE ? ESCAPE '\'`, pattern)
	}
	if f.Subject != "" {
		add("instr(subject, ?) > 0", f.Subject) // a byte substring: case-sensitive
	}
	if f.Serial != "" {
		add("serial = ?", f.Serial)
	}
	if f.Requester != "" {
		add("requester = ?", f.Requester)
	}
	if f.Method != "" {
		add("method = ?", f.Method)
	}
	if !f.ExpiringBefore.IsZero() {
		add("not_after < ?", micros(f.ExpiringBefore))
	}
	if f.Cursor != "" {
		c, err := certquery.DecodeCursor(f.Cursor)
		if err != nil {
			return "", nil, false, err
		}
		// A row value comparison is exactly the keyset condition and uses
		// the index (SQLite 3.15 and later).
		add("(created_at, serial) < (?, ?)", micros(c.CreatedAt), c.Serial)
	}
	var b strings.Builder
	b.WriteString("SELECT " + certColumns + " FROM certificates")
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY created_at DESC, serial DESC LIMIT ?")
	args = append(args, f.EffectiveLimit()+1)
	return b.String(), args, true, nil
}

// LatestCertificate implements storage.Store.
func (s *Store) LatestCertificate(ctx context.Context, profile string, now time.Time) (storage.Certificate, error) {
	certs, err := s.queryCertificates(ctx, fmt.Sprintf("latest certificate of profile %q", profile),
		`SELECT `+certColumns+` FROM certificates
		WHERE profile = ? AND status = 'active' AND not_after > ?
		ORDER BY not_before DESC, created_at DESC, serial DESC LIMIT 1`,
		profile, micros(now))
	if err != nil {
		return storage.Certificate{}, err
	}
	if len(certs) == 0 {
		return storage.Certificate{}, errs.New(errs.NotFound, "sqlite: no active certificate of profile %q", profile)
	}
	return certs[0], nil
}

// CountExpiring implements storage.Store (on the not_after index).
func (s *Store) CountExpiring(ctx context.Context, now, until time.Time) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT profile, count(*) FROM certificates
		WHERE not_after >= ? AND not_after < ? AND status = 'active' AND renewed_by IS NULL
		GROUP BY profile`, micros(now), micros(until))
	if err != nil {
		return nil, wrap(err, "count expiring certificates")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var profile string
		var n int
		if err := rows.Scan(&profile, &n); err != nil {
			return nil, wrap(err, "count expiring certificates")
		}
		out[profile] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "count expiring certificates")
	}
	return out, nil
}

// PendingCertificates implements storage.Store.
func (s *Store) PendingCertificates(ctx context.Context, olderThan time.Time, limit int) ([]storage.Certificate, error) {
	n, err := certquery.CheckLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "sqlite: pending certificates")
	}
	return s.queryCertificates(ctx, "pending certificates",
		`SELECT `+certColumns+` FROM certificates
		WHERE status = 'pending' AND created_at < ?
		ORDER BY created_at, serial LIMIT ?`,
		micros(olderThan), n)
}

// ExpiringUntold implements storage.Store.
func (s *Store) ExpiringUntold(ctx context.Context, profile string, now, until time.Time, limit int) ([]storage.Certificate, error) {
	n, err := certquery.CheckLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "sqlite: expiring certificates")
	}
	return s.queryCertificates(ctx, "expiring certificates",
		`SELECT `+certColumns+` FROM certificates
		WHERE not_after >= ? AND not_after < ? AND status = 'active' AND renewed_by IS NULL
			AND profile = ? AND expiry_told_at IS NULL
		ORDER BY not_after, serial LIMIT ?`,
		micros(now), micros(until), profile, n)
}

// MarkExpiryTold implements storage.Store.
func (s *Store) MarkExpiryTold(ctx context.Context, serial string, at time.Time) (bool, error) {
	var marked bool
	err := s.writes.Do(ctx, "mark expiry told", func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET expiry_told_at = ? WHERE serial = ? AND expiry_told_at IS NULL`, micros(at), serial)
		if err != nil {
			return wrap(err, "mark expiry of %s told", serial)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "mark expiry of %s told", serial)
		}
		marked = n == 1
		return nil
	})
	return marked, err
}
