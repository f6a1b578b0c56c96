-- 0004: EST enrollment credentials.
-- Placeholder until the EST server lands; filled in by that change.
SELECT 1;
