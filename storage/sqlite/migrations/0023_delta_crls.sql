-- 0023: delta CRLs (cas[].crl.delta_validity).
--
-- Forward-only and additive. A CA that publishes delta CRLs builds one
-- with every complete CRL; it is stored in the complete CRL's row, so
-- that PublishCRL replaces both at once and they never disagree. NULL for
-- a CA without delta CRLs and for rows written before.
ALTER TABLE crls ADD COLUMN delta_number INTEGER;
ALTER TABLE crls ADD COLUMN delta_base INTEGER;
ALTER TABLE crls ADD COLUMN delta_base_this_update INTEGER;
ALTER TABLE crls ADD COLUMN delta_base_generation INTEGER;
ALTER TABLE crls ADD COLUMN delta_next_update INTEGER;
ALTER TABLE crls ADD COLUMN delta_der BLOB;
