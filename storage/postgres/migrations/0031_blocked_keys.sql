-- 0031: keys the gateway certifies no more (storage.BlockedKey): the keys
-- of certificates revoked for keyCompromise, and keys an operator blocked.
--
-- Forward-only and additive.
CREATE TABLE blocked_keys (
    hash       bytea PRIMARY KEY,
    blocked_at timestamptz NOT NULL,
    serial     text NOT NULL,
    blocked_by text NOT NULL,
    reason     text NOT NULL
);
