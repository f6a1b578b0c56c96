package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// The outbox of webhook posts (storage.NotificationStore); writes go
// through the write queue like every other.

// EnqueueNotification implements storage.NotificationStore.
func (s *Store) EnqueueNotification(ctx context.Context, n storage.Notification) (int64, error) {
	if err := certquery.CheckNotification(n); err != nil {
		return 0, errs.Wrap(errs.Malformed, err, "sqlite: enqueue notification")
	}
	var id int64
	err := s.writes.Do(ctx, "enqueue notification", func(ctx context.Context, tx *txn) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO notifications (target, event, subject, body, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			n.Target, n.Event, n.Subject, n.Body, micros(n.NextAttempt), micros(n.CreatedAt)).Scan(&id)
		if err != nil {
			return wrap(err, "enqueue notification %s", n.Event)
		}
		return nil
	})
	return id, err
}

// ClaimNotifications implements storage.NotificationStore: one UPDATE
// picks the due rows and moves them a lease ahead, in the write queue, so
// that two claims never take the same row.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.Notification, error) {
	if limit < 1 {
		return nil, errs.New(errs.Malformed, "sqlite: claim notifications: limit must be at least 1")
	}
	var out []storage.Notification
	err := s.writes.Do(ctx, "claim notifications", func(ctx context.Context, tx *txn) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET next_attempt_at = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM notifications WHERE next_attempt_at <= ? AND given_up_at IS NULL ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING id, target, event, subject, body, attempts, next_attempt_at, created_at, last_error, given_up_at`,
			micros(now.Add(lease)), micros(now), limit)
		if err != nil {
			return wrap(err, "claim notifications")
		}
		out, err = scanNotifications(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order; the oldest due were picked.
	slices.SortFunc(out, func(a, b storage.Notification) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// RetryNotification implements storage.NotificationStore.
func (s *Store) RetryNotification(ctx context.Context, id int64, at time.Time, lastErr string) (bool, error) {
	var held bool
	err := s.writes.Do(ctx, "retry notification", func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET next_attempt_at = ?, given_up_at = NULL,
			last_error = CASE WHEN ? = '' THEN last_error ELSE ? END WHERE id = ?`, micros(at), lastErr, lastErr, id)
		if err != nil {
			return wrap(err, "retry notification %d", id)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "retry notification %d", id)
		}
		held = n == 1
		return nil
	})
	return held, err
}

// GiveUpNotification implements storage.NotificationStore: the row moves
// past every claim (next_attempt_at at the end of time) and is marked.
func (s *Store) GiveUpNotification(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.writes.Do(ctx, "give up notification", func(ctx context.Context, tx *txn) error {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET given_up_at = ?, next_attempt_at = ?,
			last_error = CASE WHEN ? = '' THEN last_error ELSE ? END WHERE id = ?`, micros(at), micros(storage.Never), lastErr, lastErr, id); err != nil {
			return wrap(err, "give up notification %d", id)
		}
		return nil
	})
}

// DeleteNotification implements storage.NotificationStore.
func (s *Store) DeleteNotification(ctx context.Context, id int64) error {
	return s.writes.Do(ctx, "delete notification", func(ctx context.Context, tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE id = ?`, id); err != nil {
			return wrap(err, "delete notification %d", id)
		}
		return nil
	})
}

// CountNotifications implements storage.NotificationStore.
func (s *Store) CountNotifications(ctx context.Context) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT target, count(*) FROM notifications WHERE given_up_at IS NULL GROUP BY target`)
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
		return nil, errs.New(errs.Malformed, "sqlite: list notifications: limit must be 1 to %d", storage.MaxNotificationsLimit)
	}
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE given_up_at IS NULL ORDER BY next_attempt_at, id LIMIT ?`
	if givenUp {
		q = `SELECT ` + notificationColumns + ` FROM notifications WHERE given_up_at IS NOT NULL ORDER BY given_up_at DESC, id DESC LIMIT ?`
	}
	rows, err := s.read.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, wrap(err, "list notifications")
	}
	return scanNotifications(rows)
}

// notificationColumns is what scanNotifications reads, in its order.
const notificationColumns = `id, target, event, subject, body, attempts, next_attempt_at, created_at, last_error, given_up_at`

// scanNotifications reads the rows of a claim or a list
// (notificationColumns) and closes them.
func scanNotifications(rows *sql.Rows) ([]storage.Notification, error) {
	defer rows.Close()
	var out []storage.Notification
	for rows.Next() {
		var (
			n           storage.Notification
			next, since int64
			givenUp     sql.NullInt64
		)
		if err := rows.Scan(&n.ID, &n.Target, &n.Event, &n.Subject, &n.Body, &n.Attempts, &next, &since, &n.LastError, &givenUp); err != nil {
			return nil, wrap(err, "read notifications")
		}
		n.NextAttempt, n.CreatedAt = fromMicros(next), fromMicros(since)
		if givenUp.Valid {
			n.GivenUp = fromMicros(givenUp.Int64)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "read notifications")
	}
	return out, nil
}
