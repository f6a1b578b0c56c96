package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// The outbox of webhook posts (storage.NotificationStore).

// EnqueueNotification implements storage.NotificationStore.
func (s *Store) EnqueueNotification(ctx context.Context, n storage.Notification) (int64, error) {
	if err := certquery.CheckNotification(n); err != nil {
		return 0, errs.Wrap(errs.Malformed, err, "postgres: enqueue notification")
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO notifications (target, event, subject, body, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		n.Target, n.Event, n.Subject, n.Body, n.NextAttempt.UTC(), n.CreatedAt.UTC()).Scan(&id)
	if err != nil {
		return 0, wrap(err, "enqueue notification %s", n.Event)
	}
	return id, nil
}

// ClaimNotifications implements storage.NotificationStore: one UPDATE
// moves the due rows a lease ahead; SKIP LOCKED lets concurrent claims of
// other replicas take other rows instead of waiting for these.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.Notification, error) {
	if limit < 1 {
		return nil, errs.New(errs.Malformed, "postgres: claim notifications: limit must be at least 1")
	}
	rows, err := s.pool.Query(ctx, `UPDATE notifications SET next_attempt_at = $1, attempts = attempts + 1
		WHERE id IN (SELECT id FROM notifications WHERE next_attempt_at <= $2 AND given_up_at IS NULL ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id, target, event, subject, body, attempts, next_attempt_at, created_at, last_error, given_up_at`,
		now.Add(lease).UTC(), now.UTC(), limit)
	if err != nil {
		return nil, wrap(err, "claim notifications")
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order; the oldest due were picked.
	slices.SortFunc(out, func(a, b storage.Notification) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// RetryNotification implements storage.NotificationStore.
func (s *Store) RetryNotification(ctx context.Context, id int64, at time.Time, lastErr string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET next_attempt_at = $1, given_up_at = NULL,
		last_error = CASE WHEN $2 = '' THEN last_error ELSE $2 END WHERE id = $3`, at.UTC(), lastErr, id)
	if err != nil {
		return false, wrap(err, "retry notification %d", id)
	}
	return tag.RowsAffected() == 1, nil
}

// GiveUpNotification implements storage.NotificationStore: the row moves
// past every claim (next_attempt_at at the end of time) and is marked.
func (s *Store) GiveUpNotification(ctx context.Context, id int64, at time.Time, lastErr string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE notifications SET given_up_at = $1, next_attempt_at = $2,
		last_error = CASE WHEN $3 = '' THEN last_error ELSE $3 END WHERE id = $4`, at.UTC(), storage.Never, lastErr, id); err != nil {
		return wrap(err, "give up notification %d", id)
	}
	return nil
}

// DeleteNotification implements storage.NotificationStore.
func (s *Store) DeleteNotification(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM notifications WHERE id = $1`, id); err != nil {
		return wrap(err, "delete notification %d", id)
	}
	return nil
}

// CountNotifications implements storage.NotificationStore.
func (s *Store) CountNotifications(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT target, count(*) FROM notifications WHERE given_up_at IS NULL GROUP BY target`)
	if err != nil {
		return nil, wrap(err, "count notifications")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			target string
			n      int
		)
		if err := rows.Scan(&target, &n); err != nil {
			return nil, wrap(err, "count notifications")
		}
		out[target] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "count notifications")
	}
	return out, nil
}

// ListNotifications implements storage.NotificationStore.
func (s *Store) ListNotifications(ctx context.Context, limit int, givenUp bool) ([]storage.Notification, error) {
	if limit < 1 || limit > storage.MaxNotificationsLimit {
		return nil, errs.New(errs.Malformed, "postgres: list notifications: limit must be 1 to %d", storage.MaxNotificationsLimit)
	}
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE given_up_at IS NULL ORDER BY next_attempt_at, id LIMIT $1`
	if givenUp {
		q = `SELECT ` + notificationColumns + ` FROM notifications WHERE given_up_at IS NOT NULL ORDER BY given_up_at DESC, id DESC LIMIT $1`
	}
	rows, err := s.pool.Query(ctx, q, limit)
	if err != nil {
		return nil, wrap(err, "list notifications")
	}
	return scanNotifications(rows)
}

// notificationColumns is what scanNotifications reads, in its order.
const notificationColumns = `id, target, event, subject, body, attempts, next_attempt_at, created_at, last_error, given_up_at`

// scanNotifications reads the rows of a claim or a list
// (notificationColumns) and closes them.
func scanNotifications(rows pgx.Rows) ([]storage.Notification, error) {
	defer rows.Close()
	var out []storage.Notification
	for rows.Next() {
		var n storage.Notification
		var givenUp *time.Time
		if err := rows.Scan(&n.ID, &n.Target, &n.Event, &n.Subject, &n.Body, &n.Attempts, &n.NextAttempt, &n.CreatedAt, &n.LastError, &givenUp); err != nil {
			return nil, wrap(err, "read notifications")
		}
		n.NextAttempt, n.CreatedAt = utc(n.NextAttempt), utc(n.CreatedAt)
		if givenUp != nil {
			n.GivenUp = utc(*givenUp)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read notifications")
	}
	return out, nil
}
