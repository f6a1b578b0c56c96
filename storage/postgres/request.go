package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.RequestStore = (*Store)(nil)

// Enrollment requests held for approval (migration 0016). An operator
// decides a request on whichever replica serves the API, and several may
// decide the same one at once: the changes are transactions of their own
// on the pool, not part of a group commit (see batch.go), and a decision
// is one conditional UPDATE, so of concurrent decisions the first takes
// the row and the others, once it commits, find it no longer pending. One
// live request per profile and CSR is the partial unique index's to
// enforce, and its violation is errs.Conflict like any unique key's (see
// kind). Messages name the request and its profile, never the CSR or its
// hash.

// defaultRequestLimit is how many requests ListRequests returns when
// RequestFilter.Limit is not positive.
const defaultRequestLimit = 100

// InsertRequest implements storage.RequestStore. The request is stored
// pending and undecided whatever r says of its status and decision.
func (s *Store) InsertRequest(ctx context.Context, r storage.Request, audit storage.AuditEvent) error {
	if r.ID == "" || r.Profile == "" || len(r.CSR) == 0 || len(r.CSRHash) != sha256.Size {
		return errs.New(errs.Malformed, "postgres: request %q of profile %q: an ID, a profile, a CSR and a %d-byte CSR hash are required, got %d CSR bytes and %d hash bytes",
			r.ID, r.Profile, sha256.Size, len(r.CSR), len(r.CSRHash))
	}
	names, err := encodeList(r.Names)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode names of request %q", r.ID)
	}
	return s.audited(ctx, "insert request "+r.ID, audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO requests
			(id, profile, method, requester, csr, csr_hash, transaction_id, names, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, r.Profile, r.Method, r.Requester, r.CSR, r.CSRHash, r.TransactionID, names,
			storage.RequestPending, r.CreatedAt)
		if err != nil {
			return wrap(err, "insert request %q of profile %s", r.ID, r.Profile)
		}
		return nil
	})
}

// requestColumns is what every read of a request selects, in the order
// scanRequest reads it.
const requestColumns = `id, profile, method, requester, csr, csr_hash, transaction_id, names::text,
	status, created_at, decided_at, decided_by, reason, serial, approvals::text`

func scanRequest(row pgx.Row) (storage.Request, error) {
	var (
		r       storage.Request
		names   string
		appr    string
		decided *time.Time
	)
	if err := row.Scan(&r.ID, &r.Profile, &r.Method, &r.Requester, &r.CSR, &r.CSRHash, &r.TransactionID, &names,
		&r.Status, &r.CreatedAt, &decided, &r.DecidedBy, &r.Reason, &r.Serial, &appr); err != nil {
		return storage.Request{}, wrap(err, "read request")
	}
	var err error
	if r.Names, err = decodeList(names); err != nil {
		return storage.Request{}, errs.Wrap(errs.Internal, err, "postgres: decode names of request %q", r.ID)
	}
	if r.Approvals, err = storage.DecodeApprovals(appr); err != nil {
		return storage.Request{}, errs.Wrap(errs.Internal, err, "postgres: decode approvals of request %q", r.ID)
	}
	r.CreatedAt = utc(r.CreatedAt)
	r.DecidedAt = fromNullTime(decided)
	return r, nil
}

// GetRequest implements storage.RequestStore.
func (s *Store) GetRequest(ctx context.Context, id string) (storage.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Request{}, errs.New(errs.NotFound, "postgres: request %q not found", id)
	}
	return r, err
}

// FindRequest implements storage.RequestStore (on requests_profile_hash_idx).
func (s *Store) FindRequest(ctx context.Context, profile string, csrHash []byte) (storage.Request, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE profile = $1 AND csr_hash = $2 ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT 1`, profile, csrHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Request{}, errs.New(errs.NotFound, "postgres: no request with this CSR in profile %s", profile)
	}
	return r, err
}

// FindSCEPRequest implements storage.RequestStore (on
// requests_profile_transaction_idx). An empty transactionID is no SCEP
// transaction: it finds nothing, rather than the requests of the other
// methods, which have none.
func (s *Store) FindSCEPRequest(ctx context.Context, profile, transactionID string) (storage.Request, error) {
	if transactionID == "" {
		return storage.Request{}, errs.New(errs.NotFound, "postgres: no SCEP request without a transactionID")
	}
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE profile = $1 AND transaction_id = $2 ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT 1`,
		profile, transactionID))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Request{}, errs.New(errs.NotFound, "postgres: no SCEP request %q in profile %s", transactionID, profile)
	}
	return r, err
}

// ListRequests implements storage.RequestStore. An unknown f.Status is
// errs.Malformed, as for ListCertificates.
func (s *Store) ListRequests(ctx context.Context, f storage.RequestFilter) ([]storage.Request, error) {
	if f.Status != "" && !storage.KnownRequestStatus(f.Status) {
		return nil, errs.New(errs.Malformed, "postgres: list requests: unknown status %q", f.Status)
	}
	if f.Profiles != nil && len(f.Profiles) == 0 {
		return nil, nil // limited to no profile at all
	}
	query, args := requestQuery(f)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "list requests")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Request, error) { return scanRequest(r) })
	if err != nil {
		return nil, wrap(err, "list requests")
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// requestQuery builds the SELECT for f. Only the filters that are set
// become conditions, so the planner can use the (status, created_at) and
// (created_at) indexes. IDs sort bytewise (COLLATE "C"), as in SQLite,
// whatever the database's collation.
func requestQuery(f storage.RequestFilter) (string, []any) {
	var c conditions
	if f.Profile != "" {
		c.add("profile = $%d", f.Profile)
	}
	if len(f.Profiles) > 0 {
		c.add("profile = ANY ($%d)", f.Profiles)
	}
	if f.Status != "" {
		c.add("status = $%d", f.Status)
	}
	if !f.Before.IsZero() && f.BeforeID != "" {
		c.addKeyset(f.Before, f.BeforeID)
	} else if !f.Before.IsZero() {
		c.add("created_at < $%d", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultRequestLimit
	}
	return c.query("SELECT "+requestColumns+" FROM requests", `created_at DESC, id COLLATE "C" DESC`, limit)
}

// CountPendingRequests implements storage.RequestStore (on
// requests_status_created_idx).
func (s *Store) CountPendingRequests(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT profile, count(*) FROM requests WHERE status = $1 GROUP BY profile`,
		storage.RequestPending)
	if err != nil {
		return nil, wrap(err, "count pending requests")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			profile string
			n       int64
		)
		if err := rows.Scan(&profile, &n); err != nil {
			return nil, wrap(err, "count pending requests")
		}
		out[profile] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "count pending requests")
	}
	return out, nil
}

// DecideRequest implements storage.RequestStore. A zero at is
// errs.Malformed: DecidedAt is zero only while a request is pending.
//
// The UPDATE runs in audited's READ COMMITTED transaction: a concurrent
// decision waits for the row, and once the first commits, PostgreSQL
// evaluates the WHERE again on the row as committed, which is no longer
// pending; the SELECT that tells why, a statement of its own, sees it so
// too.
func (s *Store) DecideRequest(ctx context.Context, id, status, by, reason string, at time.Time, audit storage.AuditEvent) error {
	if status != storage.RequestApproved && status != storage.RequestRejected {
		return errs.New(errs.Malformed, "postgres: decide request %q: %q is neither %s nor %s",
			id, status, storage.RequestApproved, storage.RequestRejected)
	}
	if at.IsZero() {
		return errs.New(errs.Malformed, "postgres: decide request %q: no decision time", id)
	}
	return s.audited(ctx, "decide request "+id, audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE requests SET status = $1, decided_at = $2, decided_by = $3, reason = $4
			WHERE id = $5 AND status = $6`, status, at, by, reason, id, storage.RequestPending)
		if err != nil {
			return wrap(err, "decide request %q", id)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		return whyUnchanged(ctx, tx, id, storage.RequestPending, "decide request %q")
	})
}

// CompleteRequest implements storage.RequestStore. An issued request keeps
// the reason of its approval, and reason is not used; a failed one gets
// reason in its place, and serial is not used: Serial names a certificate
// issued for the request, and a failed one has none. It appends nothing,
// so it is a statement of its own on the pool, as MarkRenewed is: the
// UPDATE decides, and the SELECT after it only tells why it changed
// nothing (rows are never deleted, so a request it does not find was
// never there).
func (s *Store) CompleteRequest(ctx context.Context, id, status, serial, reason string) error {
	var (
		column string
		value  string
	)
	switch status {
	case storage.RequestIssued:
		if serial == "" {
			return errs.New(errs.Malformed, "postgres: complete request %q: issued without a serial", id)
		}
		column, value = "serial", serial
	case storage.RequestFailed:
		column, value = "reason", reason
	default:
		return errs.New(errs.Malformed, "postgres: complete request %q: %q is neither %s nor %s",
			id, status, storage.RequestIssued, storage.RequestFailed)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE requests SET status = $1, `+column+` = $2 WHERE id = $3 AND status = $4`,
		status, value, id, storage.RequestApproved)
	if err != nil {
		return wrap(err, "complete request %q", id)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return whyUnchanged(ctx, s.pool, id, storage.RequestApproved, "complete request %q")
}

// ExpireRequests implements storage.RequestStore (on
// requests_status_created_idx): one statement on the pool.
func (s *Store) ExpireRequests(ctx context.Context, profile string, cutoff, at time.Time, reason string) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE requests SET status = $1, decided_at = $2, decided_by = 'gateway', reason = $3
		WHERE status = $4 AND created_at < $5 AND profile = $6`,
		storage.RequestExpired, at, reason, storage.RequestPending, cutoff, profile)
	if err != nil {
		return 0, wrap(err, "expire requests of profile %s", profile)
	}
	return int(tag.RowsAffected()), nil
}

// whyUnchanged says why an UPDATE of request id that required status want
// changed nothing: errs.NotFound for an unknown request, errs.Conflict for
// one in another status. what is a format with one %q for the ID.
func whyUnchanged(ctx context.Context, q querier, id, want, what string) error {
	var status string
	err := q.QueryRow(ctx, `SELECT status FROM requests WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.New(errs.NotFound, "postgres: request %q not found", id)
	}
	if err != nil {
		return wrap(err, what, id)
	}
	return errs.New(errs.Conflict, "postgres: request %q is %s, not %s", id, status, want)
}

// querier is a pgx.Tx or the pool.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// AddApproval implements storage.RequestStore: the request's row is locked
// while its approvals are read and written.
func (s *Store) AddApproval(ctx context.Context, id, by string, at time.Time, audit storage.AuditEvent) ([]storage.Approval, error) {
	var out []storage.Approval
	err := s.audited(ctx, "approve request "+id, audit, func(tx pgx.Tx) error {
		var status, raw string
		err := tx.QueryRow(ctx, `SELECT status, approvals::text FROM requests WHERE id = $1 FOR UPDATE`, id).Scan(&status, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.New(errs.NotFound, "postgres: request %q not found", id)
		}
		if err != nil {
			return wrap(err, "approve request %q", id)
		}
		list, enc, err := storage.WithApproval(id, status, raw, by, at)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE requests SET approvals = $1 WHERE id = $2`, enc, id); err != nil {
			return wrap(err, "approve request %q", id)
		}
		out = list
		return nil
	})
	return out, err
}
