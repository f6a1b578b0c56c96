-- 0027: notifications given up are kept for an operator (storage.Notification.GivenUp)
-- until storage.tidy.notifications_after.
--
-- Forward-only and additive. A given-up row's next_attempt_at moves to the
-- end of time, past every claim; the partial index finds the given-up rows
-- to list and to tidy.
ALTER TABLE notifications ADD COLUMN given_up_at INTEGER;
CREATE INDEX notifications_given_up_idx ON notifications (given_up_at, id) WHERE given_up_at IS NOT NULL;
