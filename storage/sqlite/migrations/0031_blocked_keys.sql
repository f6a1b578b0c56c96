-- 0031: keys the gateway certifies no more (storage.BlockedKey): the keys
-- of certificates revoked for keyCompromise, and keys an operator blocked.
--
-- Forward-only and additive.
CREATE TABLE blocked_keys (
    hash       BLOB PRIMARY KEY,
    blocked_at INTEGER NOT NULL,
    serial     TEXT NOT NULL,
    blocked_by TEXT NOT NULL,
    reason     TEXT NOT NULL
) STRICT;
