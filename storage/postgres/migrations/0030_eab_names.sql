-- 0030: an External Account Binding key may restrict the identifiers its
-- account orders (storage.ACMEEABKey.Names): a JSON array of name rules,
-- empty for whatever the profile allows.
--
-- Forward-only and additive.
ALTER TABLE acme_eab_keys ADD COLUMN names jsonb NOT NULL DEFAULT '[]';
