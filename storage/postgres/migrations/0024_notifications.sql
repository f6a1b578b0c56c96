-- 0024: the outbox of webhook posts (notify.Outbox).
--
-- Forward-only and additive. A notification waits here from the moment it
-- is decided until its webhook takes it or it is given up; a claim moves
-- next_attempt_at a lease ahead, so one replica posts it at a time.
CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    target          text NOT NULL,
    event           text NOT NULL,
    subject         text NOT NULL,
    body            bytea NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at, id);
