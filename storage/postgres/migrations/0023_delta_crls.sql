-- 0023: delta CRLs (cas[].crl.delta_validity).
--
-- Forward-only and additive. A CA that publishes delta CRLs builds one
-- with every complete CRL; it is stored in the complete CRL's row, so
-- that PublishCRL replaces both at once and they never disagree. NULL for
-- a CA without delta CRLs and for rows written before.
ALTER TABLE crls
    ADD COLUMN delta_number bigint,
    ADD COLUMN delta_base bigint,
    ADD COLUMN delta_base_this_update timestamptz,
    ADD COLUMN delta_base_generation bigint,
    ADD COLUMN delta_next_update timestamptz,
    ADD COLUMN delta_der bytea;
