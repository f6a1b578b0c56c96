-- 0005: ACME accounts, orders, authorizations, challenges, nonces.
-- Placeholder until the ACME server lands; filled in by that change.
SELECT 1;
