-- 0029: how far the audit trail was forwarded to each target
-- (audit.forward): the last event ID a post of it was taken, moved with a
-- compare-and-swap so that replicas go on from each other.
--
-- Forward-only and additive.
CREATE TABLE audit_forward (
    target     TEXT PRIMARY KEY,
    last_id    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
