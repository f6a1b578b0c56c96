-- 0032: an Idempotency-Key answered 202 keeps the request it answered
-- (storage.IdempotencyKey.RequestID), so that a retry with the key gets
-- that request's outcome instead of a second request.
--
-- Forward-only and additive.
ALTER TABLE idempotency_keys ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
