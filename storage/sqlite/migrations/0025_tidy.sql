-- 0025: forgetting what has outlived its use (storage.tidy).
--
-- Forward-only and additive: ACME orders are found by their expiry, oldest
-- first. Certificates already have their not_after index (0001), requests
-- their created_at one (0016).
CREATE INDEX acme_orders_expires_idx ON acme_orders (expires, id);
