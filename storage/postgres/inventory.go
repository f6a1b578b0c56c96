package postgres

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
		return nil, "", errs.Wrap(errs.Malformed, err, "postgres: list certificates")
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
// or (created_at, serial) index and walk it backwards in page order. Serials
// compare bytewise (COLLATE "C", like the indexes and like SQLite), so the
// order and the cursor do not depend on the database's collation. ok is
// false when f can match nothing (see certquery.SANPattern).
func listQuery(f storage.CertificateFilter) (query string, args []any, ok bool, err error) {
	if err := certquery.CheckFilter(f); err != nil {
		return "", nil, false, err
	}
	var where []string
	// add appends a condition whose %d verbs are the numbers of the
	// parameters a, in order.
	add := func(cond string, a ...any) {
		nums := make([]any, len(a))
		for i, v := range a {
			args = append(args, v)
			nums[i] = len(args)
		}
		where = append(where, fmt.Sprintf(cond, nums...))
	}
	if f.Profile != "" {
		add("profile = $%d", f.Profile)
	}
	if f.CA != "" {
		add("ca = $%d", f.CA)
	}
	switch f.Status {
	case certquery.StatusPending:
		add("status = 'pending'")
	case certquery.StatusActive:
		add("status = 'active' AND not_after > $%d", f.Now)
	case certquery.StatusExpired:
		add("status = 'active' AND not_after <= $%d", f.Now)
	case certquery.StatusRevoked:
		add("status = 'revoked'")
	}
	if f.SAN != "" {
		pattern, ok := certquery.SANPattern(f.SAN)
		if !ok {
			return "", nil, false, nil
		}
		// E'\\' is one backslash whatever standard_conforming_strings says.
		add(`sans_lower LIKE $%d ESCAPE E'\\'`, pattern)
	}
	if f.Subject != "" {
		add("strpos(subject, $%d) > 0", f.Subject) // case-sensitive, as in SQLite
	}
	if f.Serial != "" {
		add("serial = $%d", f.Serial)
	}
	if f.Requester != "" {
		add("requester = $%d", f.Requester)
	}
	if f.Method != "" {
		add("method = $%d", f.Method)
	}
	if !f.ExpiringBefore.IsZero() {
		add("not_after < $%d", f.ExpiringBefore)
	}
	if f.Cursor != "" {
		c, err := certquery.DecodeCursor(f.Cursor)
		if err != nil {
			return "", nil, false, err
		}
		// A row comparison is exactly the keyset condition, and PostgreSQL
		// turns it into an index range.
		add(`(created_at, serial COLLATE "C") < ($%d, $%d)`, c.CreatedAt, c.Serial)
	}
	var b strings.Builder
	b.WriteString("SELECT " + certColumns + " FROM certificates")
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	args = append(args, f.EffectiveLimit()+1)
	fmt.Fprintf(&b, ` ORDER BY created_at DESC, serial COLLATE "C" DESC LIMIT $%d`, len(args))
	return b.String(), args, true, nil
}

// LatestCertificate implements storage.Store.
func (s *Store) LatestCertificate(ctx context.Context, profile string, now time.Time) (storage.Certificate, error) {
	certs, err := s.queryCertificates(ctx, fmt.Sprintf("latest certificate of profile %q", profile),
		`SELECT `+certColumns+` FROM certificates
		WHERE profile = $1 AND status = 'active' AND not_after > $2
		ORDER BY not_before DESC, created_at DESC, serial COLLATE "C" DESC LIMIT 1`,
		profile, now)
	if err != nil {
		return storage.Certificate{}, err
	}
	if len(certs) == 0 {
		return storage.Certificate{}, errs.New(errs.NotFound, "postgres: no active certificate of profile %q", profile)
	}
	return certs[0], nil
}

// CountExpiring implements storage.Store (on the not_after index).
func (s *Store) CountExpiring(ctx context.Context, now, until time.Time) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT profile, count(*) FROM certificates
		WHERE not_after >= $1 AND not_after < $2 AND status = 'active' AND renewed_by IS NULL
		GROUP BY profile`, now, until)
	if err != nil {
		return nil, wrap(err, "count expiring certificates")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var profile string
		var n int64
		if err := rows.Scan(&profile, &n); err != nil {
			return nil, wrap(err, "count expiring certificates")
		}
		out[profile] = int(n)
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
		return nil, errs.Wrap(errs.Malformed, err, "postgres: pending certificates")
	}
	return s.queryCertificates(ctx, "pending certificates",
		`SELECT `+certColumns+` FROM certificates
		WHERE status = 'pending' AND created_at < $1
		ORDER BY created_at, serial COLLATE "C" LIMIT $2`,
		olderThan, n)
}

// ExpiringUntold implements storage.Store.
func (s *Store) ExpiringUntold(ctx context.Context, profile string, now, until time.Time, limit int) ([]storage.Certificate, error) {
	n, err := certquery.CheckLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "postgres: expiring certificates")
	}
	return s.queryCertificates(ctx, "expiring certificates",
		`SELECT `+certColumns+` FROM certificates
		WHERE not_after >= $1 AND not_after < $2 AND status = 'active' AND renewed_by IS NULL
			AND profile = $3 AND expiry_told_at IS NULL
		ORDER BY not_after, serial COLLATE "C" LIMIT $4`,
		now, until, profile, n)
}

// MarkExpiryTold implements storage.Store.
func (s *Store) MarkExpiryTold(ctx context.Context, serial string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE certificates SET expiry_told_at = $1 WHERE serial = $2 AND expiry_told_at IS NULL`, at.UTC(), serial)
	if err != nil {
		return false, wrap(err, "mark expiry of %s told", serial)
	}
	return tag.RowsAffected() == 1, nil
}
