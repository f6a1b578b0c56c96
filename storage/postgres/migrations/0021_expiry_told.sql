-- 0021: expiry notifications told once.
--
-- Forward-only and additive. A profile's webhook is told of each of its
-- certificates about to expire unrenewed, once, by whichever replica marks
-- it first (Store.MarkExpiryTold); expiry_told_at is then set.
ALTER TABLE certificates ADD COLUMN expiry_told_at timestamptz;
