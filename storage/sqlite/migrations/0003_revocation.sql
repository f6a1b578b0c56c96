-- 0003: revocation data (CRL numbers, published CRLs, OCSP responders).
-- Placeholder until the revocation service lands; filled in by that change.
SELECT 1;
