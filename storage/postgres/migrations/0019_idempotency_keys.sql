-- 0019: the REST API's idempotency keys.
--
-- Forward-only and additive. A request that issues a certificate may carry
-- an Idempotency-Key; its retries get the certificate the first issued
-- (IdempotencyStore). Rows are forgotten once expired.
CREATE TABLE idempotency_keys (
    token_id    text NOT NULL,
    key         text NOT NULL,
    fingerprint bytea NOT NULL,
    claimed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    serial      text NOT NULL DEFAULT '', -- '' while the request is under way
    status      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
