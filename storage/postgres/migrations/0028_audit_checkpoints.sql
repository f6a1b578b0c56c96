-- 0028: checkpoints of the audit trail (ca.Checkpointer): each seals the
-- events after the one before with a hash chain signed by a key in the
-- token.
--
-- Forward-only and additive.
CREATE TABLE audit_checkpoints (
    seq       bigint PRIMARY KEY CHECK (seq > 0),
    last_id   bigint NOT NULL,
    events    integer NOT NULL CHECK (events >= 0),
    hash      bytea NOT NULL,
    signature bytea NOT NULL,
    key_uri   text NOT NULL,
    at        timestamptz NOT NULL
);
