-- 0019: the REST API's idempotency keys.
--
-- Forward-only and additive. A request that issues a certificate may carry
-- an Idempotency-Key; its retries get the certificate the first issued
-- (IdempotencyStore). Rows are forgotten once expired.
CREATE TABLE idempotency_keys (
    token_id    TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    claimed_at  INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
    expires_at  INTEGER NOT NULL,
    serial      TEXT NOT NULL DEFAULT '', -- '' while the request is under way
    status      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (token_id, key)
) STRICT;
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
