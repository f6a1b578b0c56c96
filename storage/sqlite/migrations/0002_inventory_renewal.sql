-- 0002: inventory search, revocation and server-driven renewal.
--
-- Forward-only and additive: every new column is NULL or has a default, so
-- rows written under 0001 read back as "no generated key, no renewal, no
-- subject". ALTER TABLE ... ADD COLUMN checks each CHECK against the
-- existing rows. Times are INTEGER microseconds since the Unix epoch, UTC,
-- as in 0001. Serials in replaces and renewed_by have the form 0001 enforces
-- on certificates.serial but are not foreign keys: MarkRenewed may record a
-- replacement before its row is written, and a re-issue may replace a
-- certificate this store never held.

-- A private key the gateway generated for the requester, sealed by the
-- caller; NULL when the requester holds its own key.
ALTER TABLE certificates ADD COLUMN key_pem BLOB;
ALTER TABLE certificates ADD COLUMN auto_renew INTEGER NOT NULL DEFAULT 0
    CHECK (auto_renew IN (0, 1));
ALTER TABLE certificates ADD COLUMN renew_at INTEGER;           -- NULL: never
ALTER TABLE certificates ADD COLUMN replaces TEXT               -- NULL: none
    CHECK (replaces <> '' AND replaces NOT GLOB '*[^0-9a-f]*');
ALTER TABLE certificates ADD COLUMN renewed_by TEXT             -- NULL: not renewed
    CHECK (renewed_by <> '' AND renewed_by NOT GLOB '*[^0-9a-f]*' AND renewed_by <> serial);
ALTER TABLE certificates ADD COLUMN subject TEXT NOT NULL DEFAULT '';  -- RFC 4514
-- The SANs with ASCII letters lowercased, one per line: the text that SAN
-- search matches with LIKE (see storage/internal/certquery/san.go).
ALTER TABLE certificates ADD COLUMN sans_lower TEXT NOT NULL DEFAULT '';
-- A lease on renewing the certificate, so that only one process renews it:
-- who holds it and until when. Both NULL when nobody ever claimed it.
ALTER TABLE certificates ADD COLUMN renewal_claimant TEXT
    CHECK (renewal_claimant <> '');
ALTER TABLE certificates ADD COLUMN renewal_claim_until INTEGER
    CHECK ((renewal_claimant IS NULL) = (renewal_claim_until IS NULL));

-- lower() without ICU folds ASCII only, like certquery.SANText.
UPDATE certificates
SET sans_lower = (SELECT COALESCE(group_concat(lower(value), char(10)), '')
                  FROM json_each(certificates.sans))
WHERE sans <> '[]';

-- ListCertificates pages by keyset in (created_at DESC, serial DESC); with
-- and without a profile. The second index makes the profile index of 0001
-- redundant.
CREATE INDEX certificates_created_idx ON certificates (created_at, serial);
CREATE INDEX certificates_profile_created_idx ON certificates (profile, created_at, serial);
DROP INDEX certificates_profile_idx;

-- LatestCertificate: the active certificates of a profile by not_before.
CREATE INDEX certificates_latest_idx ON certificates (profile, not_before, created_at, serial)
    WHERE status = 'active';

-- DueForRenewal: only the certificates server-driven renewal may touch.
-- The query repeats this WHERE term by term, so SQLite can use the index.
CREATE INDEX certificates_renew_at_idx ON certificates (renew_at, serial)
    WHERE status = 'active' AND auto_renew = 1 AND key_pem IS NOT NULL AND renewed_by IS NULL;

-- The status index of 0001 goes: three values make a poor index, and with
-- no statistics SQLite's planner would take it over the partial indexes
-- above and below. Queries by status use those, the keyset indexes, or
-- (ca, status).
DROP INDEX certificates_status_idx;

-- PendingCertificates: the (few) rows an issuance left pending.
CREATE INDEX certificates_pending_idx ON certificates (created_at, serial)
    WHERE status = 'pending';
