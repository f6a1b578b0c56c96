-- 0002: inventory search, revocation and server-driven renewal.
--
-- Forward-only and additive: every new column is NULL or has a default, so
-- rows written under 0001 read back as "no generated key, no renewal, no
-- subject", and PostgreSQL adds them without rewriting the table. Serials
-- in replaces and renewed_by have the form 0001 enforces on
-- certificates.serial but are not foreign keys: MarkRenewed may record a
-- replacement before its row is written, and a re-issue may replace a
-- certificate this store never held.

ALTER TABLE certificates
    -- A private key the gateway generated for the requester, sealed by the
    -- caller; NULL when the requester holds its own key.
    ADD COLUMN key_pem             bytea,
    ADD COLUMN auto_renew          boolean NOT NULL DEFAULT false,
    ADD COLUMN renew_at            timestamptz,                  -- NULL: never
    ADD COLUMN replaces            text CHECK (replaces ~ '^[0-9a-f]+$'),    -- NULL: none
    ADD COLUMN renewed_by          text CHECK (renewed_by ~ '^[0-9a-f]+$'),  -- NULL: not renewed
    ADD COLUMN subject             text NOT NULL DEFAULT '',     -- RFC 4514
    -- The SANs with ASCII letters lowercased, one per line: the text that
    -- SAN search matches with LIKE (see storage/internal/certquery/san.go).
    ADD COLUMN sans_lower          text NOT NULL DEFAULT '',
    -- A lease on renewing the certificate, so that only one replica renews
    -- it: who holds it and until when. Both NULL when nobody ever claimed it.
    ADD COLUMN renewal_claimant    text CHECK (renewal_claimant <> ''),
    ADD COLUMN renewal_claim_until timestamptz,
    ADD CHECK (renewed_by <> serial),
    ADD CHECK ((renewal_claimant IS NULL) = (renewal_claim_until IS NULL));

-- translate(), not lower(): lower() follows the database's locale, while
-- certquery.SANText folds ASCII only.
UPDATE certificates
SET sans_lower = (SELECT COALESCE(string_agg(translate(v, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
                                                          'abcdefghijklmnopqrstuvwxyz'), E'\n'), '')
                  FROM jsonb_array_elements_text(sans) AS v)
WHERE sans <> '[]'::jsonb;

-- ListCertificates pages by keyset in (created_at DESC, serial DESC); with
-- and without a profile. Serials are ordered bytewise (COLLATE "C") whatever
-- the database's collation, as in SQLite; the queries say the same. The
-- second index makes the profile index of 0001 redundant.
CREATE INDEX certificates_created_idx ON certificates (created_at, serial COLLATE "C");
CREATE INDEX certificates_profile_created_idx ON certificates (profile, created_at, serial COLLATE "C");
DROP INDEX certificates_profile_idx;

-- LatestCertificate: the active certificates of a profile by not_before.
CREATE INDEX certificates_latest_idx ON certificates (profile, not_before, created_at, serial COLLATE "C")
    WHERE status = 'active';

-- DueForRenewal: only the certificates server-driven renewal may touch.
CREATE INDEX certificates_renew_at_idx ON certificates (renew_at, serial COLLATE "C")
    WHERE status = 'active' AND auto_renew AND key_pem IS NOT NULL AND renewed_by IS NULL;

-- The status index of 0001 goes: three values make a poor index, and with
-- no statistics SQLite's planner would take it over the partial indexes
-- above and below. Queries by status use those, the keyset indexes, or
-- (ca, status).
DROP INDEX certificates_status_idx;

-- PendingCertificates: the (few) rows an issuance left pending.
CREATE INDEX certificates_pending_idx ON certificates (created_at, serial COLLATE "C")
    WHERE status = 'pending';
