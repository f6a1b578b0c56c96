-- 0024: the outbox of webhook posts (notify.Outbox).
--
-- Forward-only and additive. A notification waits here from the moment it
-- is decided until its webhook takes it or it is given up; a claim moves
-- next_attempt_at a lease ahead, so one replica posts it at a time.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target          TEXT NOT NULL,
    event           TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    created_at      INTEGER NOT NULL,
    last_error      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at, id);
