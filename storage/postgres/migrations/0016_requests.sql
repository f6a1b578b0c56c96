-- 0016: enrollment requests held for an operator's approval.
--
-- Forward-only and additive. A request is inserted pending, decided
-- (approved or rejected) or expired once, on whichever replica the
-- operator reaches, and an approved one ends issued or failed; rows are
-- never deleted. A client that repeats its request is matched by
-- (profile, csr_hash), a SCEP CertPoll by (profile, transaction_id).

CREATE TABLE requests (
    id             text PRIMARY KEY CHECK (id <> ''),
    profile        text NOT NULL CHECK (profile <> ''),
    method         text NOT NULL,
    requester      text NOT NULL,
    csr            bytea NOT NULL CHECK (length(csr) > 0),       -- DER PKCS#10
    csr_hash       bytea NOT NULL CHECK (length(csr_hash) = 32), -- what the CSR asks for (ca.requestHash)
    transaction_id text NOT NULL DEFAULT '',                     -- SCEP only
    names          jsonb NOT NULL DEFAULT '[]',
    status         text NOT NULL
                   CHECK (status IN ('pending', 'approved', 'rejected', 'issued', 'failed', 'expired')),
    created_at     timestamptz NOT NULL,
    decided_at     timestamptz,                                  -- NULL while pending
    decided_by     text NOT NULL DEFAULT '',
    reason         text NOT NULL DEFAULT '',
    serial         text NOT NULL DEFAULT '',                     -- once issued
    CHECK (status = 'pending' OR decided_at IS NOT NULL),
    CHECK (status <> 'issued' OR serial <> '')
);
CREATE INDEX requests_profile_hash_idx ON requests (profile, csr_hash);
CREATE INDEX requests_profile_transaction_idx ON requests (profile, transaction_id);
CREATE INDEX requests_status_created_idx ON requests (status, created_at);
CREATE INDEX requests_created_idx ON requests (created_at);
-- One live request per CSR and profile: a second insert while the first
-- is pending or approved is errs.Conflict, also when two replicas insert
-- at once, so a client repeating its request is answered from the first
-- (FindRequest) instead of queueing another for the operator. Once the
-- first is rejected, issued or failed, the same CSR may come again.
CREATE UNIQUE INDEX requests_live_hash_idx ON requests (profile, csr_hash)
    WHERE status IN ('pending', 'approved');
