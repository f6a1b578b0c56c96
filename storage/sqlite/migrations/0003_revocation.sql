-- 0003: revocation data (CRL numbers, published CRLs, OCSP responders).
--
-- Forward-only and additive. Times are INTEGER microseconds since the Unix
-- epoch, UTC, as in 0001.

-- One row per CA that revoked a certificate or numbered a CRL:
-- generation counts its revocations (the trigger below keeps it), and
-- crl_number is the last CRLNumber handed out (NextCRLNumber).
CREATE TABLE revocation_state (
    ca         TEXT PRIMARY KEY NOT NULL REFERENCES cas (name),
    generation INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    crl_number INTEGER NOT NULL DEFAULT 0 CHECK (crl_number >= 0)
) STRICT;

-- Revocations made before this migration count, so that the counter is
-- the number of revoked certificates of the CA from the start.
INSERT INTO revocation_state (ca, generation)
SELECT ca, count(*) FROM certificates WHERE status = 'revoked' GROUP BY ca;

-- Each revocation from now on, by generation: replicas read the serials
-- revoked since the generation they last saw, to refresh exactly those
-- OCSP responses.
CREATE TABLE revocation_events (
    ca         TEXT NOT NULL REFERENCES cas (name),
    generation INTEGER NOT NULL CHECK (generation > 0),
    serial     TEXT NOT NULL,
    PRIMARY KEY (ca, generation)
) STRICT;

-- The counter and the event are written by the database in the
-- transaction of the revocation itself, whatever code path revokes: a
-- revocation cannot commit without them.
CREATE TRIGGER certificates_revoked AFTER UPDATE OF status ON certificates
WHEN NEW.status = 'revoked' AND OLD.status <> 'revoked'
BEGIN
    INSERT OR IGNORE INTO revocation_state (ca) VALUES (NEW.ca);
    UPDATE revocation_state SET generation = generation + 1 WHERE ca = NEW.ca;
    INSERT INTO revocation_events (ca, generation, serial)
        SELECT NEW.ca, generation, NEW.serial FROM revocation_state WHERE ca = NEW.ca;
END;

-- The latest CRL of each CA: PublishCRL replaces it only with a higher
-- number, so every process serves the same one and none goes back.
CREATE TABLE crls (
    ca          TEXT PRIMARY KEY NOT NULL REFERENCES cas (name),
    number      INTEGER NOT NULL CHECK (number > 0),
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL CHECK (next_update >= this_update),
    generation  INTEGER NOT NULL CHECK (generation >= 0),
    der         BLOB NOT NULL
) STRICT;

-- CRL entries: the revoked certificates of a CA that have not expired, in
-- keyset order (not_after, serial), with the columns a CRL entry needs so
-- that listing them never reads the table (status too: without it SQLite
-- does not count the partial index as covering). The expired ones sort
-- first and are skipped by the range.
CREATE INDEX certificates_revoked_idx
    ON certificates (ca, not_after, serial, revoked_at, revocation_reason, status)
    WHERE status = 'revoked';

-- Delegated OCSP responder certificates, whose keys are in the signer.
CREATE TABLE ocsp_responders (
    key_uri    TEXT PRIMARY KEY NOT NULL CHECK (key_uri <> ''),
    ca         TEXT NOT NULL REFERENCES cas (name),
    cert_der   BLOB NOT NULL,
    not_after  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX ocsp_responders_ca_idx ON ocsp_responders (ca, not_after, created_at, key_uri);
