-- 0001: the initial schema of the embedded store.
--
-- Times are INTEGER microseconds since the Unix epoch, UTC: exact, compact
-- and ordered, so range scans on not_after and audit.at use the indexes.
-- (Read them with datetime(col / 1000000, 'unixepoch').) Lists are JSON
-- arrays in TEXT. Tables are STRICT so a wrong type is an error, not a
-- silent conversion.

CREATE TABLE cas (
    name       TEXT PRIMARY KEY NOT NULL CHECK (name <> ''),
    parent     TEXT REFERENCES cas (name),           -- NULL for a root
    key_uri    TEXT NOT NULL,
    cert_der   BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY NOT NULL
                      CHECK (serial <> '' AND serial NOT GLOB '*[^0-9a-f]*'),
    ca                TEXT NOT NULL REFERENCES cas (name),
    profile           TEXT NOT NULL,
    method            TEXT NOT NULL,
    requester         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    sans              TEXT NOT NULL DEFAULT '[]',     -- JSON array of strings
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    der               BLOB,                           -- NULL while pending
    created_at        INTEGER NOT NULL,
    revoked_at        INTEGER,                        -- NULL unless revoked
    revocation_reason INTEGER,                        -- RFC 5280 CRLReason
    CHECK (status = 'pending' OR der IS NOT NULL),
    CHECK (status <> 'revoked' OR revoked_at IS NOT NULL)
) STRICT;

CREATE INDEX certificates_profile_idx   ON certificates (profile);
CREATE INDEX certificates_status_idx    ON certificates (status);
CREATE INDEX certificates_not_after_idx ON certificates (not_after);
-- CRL and OCSP work per CA: revoked certificates of one issuer.
CREATE INDEX certificates_ca_status_idx ON certificates (ca, status);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,                  -- SHA-256 of the secret
    scopes     TEXT NOT NULL DEFAULT '[]',            -- JSON array of strings
    created_at INTEGER NOT NULL
) STRICT;

-- The audit trail is append-only. AUTOINCREMENT keeps IDs from ever being
-- reused, even after the newest rows are deleted by a retention job.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '',
    serial  TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT '',
    der     BLOB
) STRICT;

CREATE INDEX audit_at_idx      ON audit (at);
CREATE INDEX audit_serial_idx  ON audit (serial, at);
CREATE INDEX audit_profile_idx ON audit (profile, at);
