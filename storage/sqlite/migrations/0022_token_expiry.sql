-- 0022: API tokens that expire.
--
-- Forward-only and additive. expires_at (microseconds since the Unix
-- epoch, UTC) is when a token stops working; NULL: never, as every token
-- made before.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
