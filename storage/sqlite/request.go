package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.RequestStore = (*Store)(nil)

// Enrollment requests held for approval (migration 0016). Every change
// goes through the one writer like every write (see batch.go), which also
// makes a decision atomic: the writer runs one op at a time, so of two
// decisions on one request the second finds it no longer pending. One live
// request per profile and CSR is the partial unique index's to enforce,
// and its violation is errs.Conflict like any unique key's (see kind).
// Messages name the request and its profile, never the CSR or its hash.

// defaultRequestLimit is how many requests ListRequests returns when
// RequestFilter.Limit is not positive.
const defaultRequestLimit = 100

// InsertRequest implements storage.RequestStore. The request is stored
// pending and undecided whatever r says of its status and decision.
func (s *Store) InsertRequest(ctx context.Context, r storage.Request, audit storage.AuditEvent) error {
	if r.ID == "" || r.Profile == "" || len(r.CSR) == 0 || len(r.CSRHash) != sha256.Size {
		return errs.New(errs.Malformed, "sqlite: request %q of profile %q: an ID, a profile, a CSR and a %d-byte CSR hash are required, got %d CSR bytes and %d hash bytes",
			r.ID, r.Profile, sha256.Size, len(r.CSR), len(r.CSRHash))
	}
	names, err := encodeList(r.Names)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode names of request %q", r.ID)
	}
	return s.writes.Do(ctx, "insert request "+r.ID, audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO requests
			(id, profile, method, requester, csr, csr_hash, transaction_id, names, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Profile, r.Method, r.Requester, r.CSR, r.CSRHash, r.TransactionID, names,
			storage.RequestPending, micros(r.CreatedAt))
		if err != nil {
			return wrap(err, "insert request %q of profile %s", r.ID, r.Profile)
		}
		return nil
	}))
}

// requestColumns is what every read of a request selects, in the order
// scanRequest reads it.
const requestColumns = `id, profile, method, requester, csr, csr_hash, transaction_id, names,
	status, created_at, decided_at, decided_by, reason, serial, approvals`

func scanRequest(row interface{ Scan(...any) error }) (storage.Request, error) {
	var (
		r       storage.Request
		names   string
		appr    string
		created int64
		decided sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.Profile, &r.Method, &r.Requester, &r.CSR, &r.CSRHash, &r.TransactionID, &names,
		&r.Status, &created, &decided, &r.DecidedBy, &r.Reason, &r.Serial, &appr); err != nil {
		return storage.Request{}, wrap(err, "read request")
	}
	var err error
	if r.Names, err = decodeList(names); err != nil {
		return storage.Request{}, errs.Wrap(errs.Internal, err, "sqlite: decode names of request %q", r.ID)
	}
	if r.Approvals, err = storage.DecodeApprovals(appr); err != nil {
		return storage.Request{}, errs.Wrap(errs.Internal, err, "sqlite: decode approvals of request %q", r.ID)
	}
	r.CreatedAt = fromMicros(created)
	r.DecidedAt = fromNullMicros(decided)
	return r, nil
}

// GetRequest implements storage.RequestStore.
func (s *Store) GetRequest(ctx context.Context, id string) (storage.Request, error) {
	r, err := scanRequest(s.read.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Request{}, errs.New(errs.NotFound, "sqlite: request %q not found", id)
	}
	if err != nil {
		return storage.Request{}, err
	}
	return r, nil
}

// FindRequest implements storage.RequestStore (on requests_profile_hash_idx).
func (s *Store) FindRequest(ctx context.Context, profile string, csrHash []byte) (storage.Request, error) {
	r, err := scanRequest(s.read.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE profile = ? AND csr_hash = ? ORDER BY created_at DESC, id DESC LIMIT 1`, profile, csrHash))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Request{}, errs.New(errs.NotFound, "sqlite: no request with this CSR in profile %s", profile)
	}
	if err != nil {
		return storage.Request{}, err
	}
	return r, nil
}

// FindSCEPRequest implements storage.RequestStore (on
// requests_profile_transaction_idx). An empty transactionID is no SCEP
// transaction: it finds nothing, rather than the requests of the other
// methods, which have none.
func (s *Store) FindSCEPRequest(ctx context.Context, profile, transactionID string) (storage.Request, error) {
	if transactionID == "" {
		return storage.Request{}, errs.New(errs.NotFound, "sqlite: no SCEP request without a transactionID")
	}
	r, err := scanRequest(s.read.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE profile = ? AND transaction_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`, profile, transactionID))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Request{}, errs.New(errs.NotFound, "sqlite: no SCEP request %q in profile %s", transactionID, profile)
	}
	if err != nil {
		return storage.Request{}, err
	}
	return r, nil
}

// ListRequests implements storage.RequestStore. An unknown f.Status is
// errs.Malformed, as for ListCertificates.
func (s *Store) ListRequests(ctx context.Context, f storage.RequestFilter) ([]storage.Request, error) {
	if f.Status != "" && !storage.KnownRequestStatus(f.Status) {
		return nil, errs.New(errs.Malformed, "sqlite: list requests: unknown status %q", f.Status)
	}
	if f.Profiles != nil && len(f.Profiles) == 0 {
		return nil, nil // limited to no profile at all
	}
	query, args := requestQuery(f)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "list requests")
	}
	defer rows.Close()
	var out []storage.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list requests")
	}
	return out, nil
}

// requestQuery builds the SELECT for f. Only the filters that are set
// become conditions, so the planner can use the (status, created_at) and
// (created_at) indexes.
func requestQuery(f storage.RequestFilter) (string, []any) {
	var c conditions
	if f.Profile != "" {
		c.add("profile = ?", f.Profile)
	}
	if len(f.Profiles) > 0 {
		profiles := make([]any, len(f.Profiles))
		for i, p := range f.Profiles {
			profiles[i] = p
		}
		c.add("profile IN (?"+strings.Repeat(", ?", len(f.Profiles)-1)+")", profiles...)
	}
	if f.Status != "" {
		c.add("status = ?", f.Status)
	}
	if !f.Before.IsZero() && f.BeforeID != "" {
		c.add("(created_at < ? OR created_at = ? AND id < ?)", micros(f.Before), micros(f.Before), f.BeforeID)
	} else if !f.Before.IsZero() {
		c.add("created_at < ?", micros(f.Before))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultRequestLimit
	}
	return c.query("SELECT "+requestColumns+" FROM requests", "created_at DESC, id DESC", limit)
}

// CountPendingRequests implements storage.RequestStore (on
// requests_status_created_idx).
func (s *Store) CountPendingRequests(ctx context.Context) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT profile, count(*) FROM requests WHERE status = ? GROUP BY profile`,
		storage.RequestPending)
	if err != nil {
		return nil, wrap(err, "count pending requests")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			profile string
			n       int
		)
		if err := rows.Scan(&profile, &n); err != nil {
			return nil, wrap(err, "count pending requests")
		}
		out[profile] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "count pending requests")
	}
	return out, nil
}

// DecideRequest implements storage.RequestStore. A zero at is
// errs.Malformed: DecidedAt is zero only while a request is pending.
func (s *Store) DecideRequest(ctx context.Context, id, status, by, reason string, at time.Time, audit storage.AuditEvent) error {
	if status != storage.RequestApproved && status != storage.RequestRejected {
		return errs.New(errs.Malformed, "sqlite: decide request %q: %q is neither %s nor %s",
			id, status, storage.RequestApproved, storage.RequestRejected)
	}
	if at.IsZero() {
		return errs.New(errs.Malformed, "sqlite: decide request %q: no decision time", id)
	}
	return s.writes.Do(ctx, "decide request "+id, audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, decided_at = ?, decided_by = ?, reason = ?
			WHERE id = ? AND status = ?`, status, micros(at), by, reason, id, storage.RequestPending)
		if err != nil {
			return wrap(err, "decide request %q", id)
		}
		return requestChanged(ctx, tx, res, id, storage.RequestPending, "decide request %q")
	}))
}

// CompleteRequest implements storage.RequestStore. An issued request keeps
// the reason of its approval, and reason is not used; a failed one gets
// reason in its place, and serial is not used: Serial names a certificate
// issued for the request, and a failed one has none.
func (s *Store) CompleteRequest(ctx context.Context, id, status, serial, reason string) error {
	var (
		column string
		value  string
	)
	switch status {
	case storage.RequestIssued:
		if serial == "" {
			return errs.New(errs.Malformed, "sqlite: complete request %q: issued without a serial", id)
		}
		column, value = "serial", serial
	case storage.RequestFailed:
		column, value = "reason", reason
	default:
		return errs.New(errs.Malformed, "sqlite: complete request %q: %q is neither %s nor %s",
			id, status, storage.RequestIssued, storage.RequestFailed)
	}
	return s.writes.Do(ctx, "complete request "+id, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, `+column+` = ? WHERE id = ? AND status = ?`,
			status, value, id, storage.RequestApproved)
		if err != nil {
			return wrap(err, "complete request %q", id)
		}
		return requestChanged(ctx, tx, res, id, storage.RequestApproved, "complete request %q")
	})
}

// ExpireRequests implements storage.RequestStore (on
// requests_status_created_idx).
func (s *Store) ExpireRequests(ctx context.Context, profile string, cutoff, at time.Time, reason string) (int, error) {
	var n int64
	err := s.writes.Do(ctx, "expire requests of profile "+profile, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, decided_at = ?, decided_by = 'gateway', reason = ?
			WHERE status = ? AND created_at < ? AND profile = ?`,
			storage.RequestExpired, micros(at), reason, storage.RequestPending, micros(cutoff), profile)
		if err != nil {
			return wrap(err, "expire requests of profile %s", profile)
		}
		if n, err = res.RowsAffected(); err != nil {
			return wrap(err, "expire requests of profile %s", profile)
		}
		return nil
	})
	return int(n), err
}

// requestChanged returns nil if res, an UPDATE of request id that
// required status want, changed it, and otherwise why not: errs.NotFound
// for an unknown request, errs.Conflict for one in another status. what
// is a format with one %q for the ID.
func requestChanged(ctx context.Context, tx *txn, res sql.Result, id, want, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, what, id)
	}
	if n == 1 {
		return nil
	}
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM requests WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.New(errs.NotFound, "sqlite: request %q not found", id)
	}
	if err != nil {
		return wrap(err, what, id)
	}
	return errs.New(errs.Conflict, "sqlite: request %q is %s, not %s", id, status, want)
}

// AddApproval implements storage.RequestStore.
func (s *Store) AddApproval(ctx context.Context, id, by string, at time.Time, audit storage.AuditEvent) ([]storage.Approval, error) {
	var out []storage.Approval
	err := s.writes.Do(ctx, "approve request "+id, audited(audit, func(ctx context.Context, tx *txn) error {
		var status, raw string
		err := tx.QueryRowContext(ctx, `SELECT status, approvals FROM requests WHERE id = ?`, id).Scan(&status, &raw)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "sqlite: request %q not found", id)
		}
		if err != nil {
			return wrap(err, "approve request %q", id)
		}
		list, enc, err := storage.WithApproval(id, status, raw, by, at)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET approvals = ? WHERE id = ?`, enc, id); err != nil {
			return wrap(err, "approve request %q", id)
		}
		out = list
		return nil
	}))
	return out, err
}
