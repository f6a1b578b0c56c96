-- 0028: checkpoints of the audit trail (ca.Checkpointer): each seals the
-- events after the one before with a hash chain signed by a key in the
-- token.
--
-- Forward-only and additive.
CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY CHECK (seq > 0),
    last_id   INTEGER NOT NULL,
    events    INTEGER NOT NULL CHECK (events >= 0),
    hash      BLOB NOT NULL,
    signature BLOB NOT NULL,
    key_uri   TEXT NOT NULL,
    at        INTEGER NOT NULL -- microseconds since the Unix epoch, UTC
) STRICT;
