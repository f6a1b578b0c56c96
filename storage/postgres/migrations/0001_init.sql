-- 0001: the initial schema of the PostgreSQL store.
--
-- Times are timestamptz (microsecond precision, UTC on the wire). Lists are
-- jsonb arrays, so a later inventory search can index SANs with GIN.

CREATE TABLE cas (
    name       text PRIMARY KEY CHECK (name <> ''),
    parent     text REFERENCES cas (name),           -- NULL for a root
    key_uri    text NOT NULL,
    cert_der   bytea NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE certificates (
    serial            text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]+$'),
    ca                text NOT NULL REFERENCES cas (name),
    profile           text NOT NULL,
    method            text NOT NULL,
    requester         text NOT NULL,
    status            text NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    sans              jsonb NOT NULL DEFAULT '[]',
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    der               bytea,                          -- NULL while pending
    created_at        timestamptz NOT NULL,
    revoked_at        timestamptz,                    -- NULL unless revoked
    revocation_reason smallint,                       -- RFC 5280 CRLReason
    CHECK (status = 'pending' OR der IS NOT NULL),
    CHECK (status <> 'revoked' OR revoked_at IS NOT NULL)
);

CREATE INDEX certificates_profile_idx   ON certificates (profile);
CREATE INDEX certificates_status_idx    ON certificates (status);
CREATE INDEX certificates_not_after_idx ON certificates (not_after);
-- CRL and OCSP work per CA: revoked certificates of one issuer.
CREATE INDEX certificates_ca_status_idx ON certificates (ca, status);

CREATE TABLE api_tokens (
    id         text PRIMARY KEY CHECK (id <> ''),
    name       text NOT NULL,
    hash       bytea NOT NULL UNIQUE,                 -- SHA-256 of the secret
    scopes     jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL
);

-- The audit trail is append-only. IDs come from a sequence: they increase,
-- are never reused, and may have gaps (a rolled-back insert burns one).
CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    profile text NOT NULL DEFAULT '',
    serial  text NOT NULL DEFAULT '',
    detail  text NOT NULL DEFAULT '',
    der     bytea
);

CREATE INDEX audit_at_idx      ON audit (at);
CREATE INDEX audit_serial_idx  ON audit (serial, at);
CREATE INDEX audit_profile_idx ON audit (profile, at);
