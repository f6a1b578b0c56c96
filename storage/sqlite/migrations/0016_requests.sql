-- 0016: enrollment requests held for an operator's approval.
--
-- Forward-only and additive. Times as in 0001; names is a JSON array of
-- strings as in 0001. A request is inserted pending, decided (approved or
-- rejected) or expired once, and an approved one ends issued or failed; rows are
-- never deleted. A client that repeats its request is matched by
-- (profile, csr_hash), a SCEP CertPoll by (profile, transaction_id).

CREATE TABLE requests (
    id             TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    profile        TEXT NOT NULL CHECK (profile <> ''),
    method         TEXT NOT NULL,
    requester      TEXT NOT NULL,
    csr            BLOB NOT NULL CHECK (length(csr) > 0),       -- DER PKCS#10
    csr_hash       BLOB NOT NULL CHECK (length(csr_hash) = 32), -- what the CSR asks for (ca.requestHash)
    transaction_id TEXT NOT NULL DEFAULT '',                    -- SCEP only
    names          TEXT NOT NULL DEFAULT '[]',                  -- JSON array of strings
    status         TEXT NOT NULL
                   CHECK (status IN ('pending', 'approved', 'rejected', 'issued', 'failed', 'expired')),
    created_at     INTEGER NOT NULL,
    decided_at     INTEGER,                                     -- NULL while pending
    decided_by     TEXT NOT NULL DEFAULT '',
    reason         TEXT NOT NULL DEFAULT '',
    serial         TEXT NOT NULL DEFAULT '',                    -- once issued
    CHECK (status = 'pending' OR decided_at IS NOT NULL),
    CHECK (status <> 'issued' OR serial <> '')
) STRICT;
CREATE INDEX requests_profile_hash_idx ON requests (profile, csr_hash);
CREATE INDEX requests_profile_transaction_idx ON requests (profile, transaction_id);
CREATE INDEX requests_status_created_idx ON requests (status, created_at);
CREATE INDEX requests_created_idx ON requests (created_at);
-- One live request per CSR and profile: a second insert while the first
-- is pending or approved is errs.Conflict, so a client repeating its
-- request is answered from the first (FindRequest) instead of queueing
-- another for the operator. Once the first is rejected, issued or
-- failed, the same CSR may come again.
CREATE UNIQUE INDEX requests_live_hash_idx ON requests (profile, csr_hash)
    WHERE status IN ('pending', 'approved');
