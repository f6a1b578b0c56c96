-- 0003: revocation data (CRL numbers, published CRLs, OCSP responders).
--
-- Forward-only and additive. Several replicas share these tables; every
-- guarantee below comes from a row lock or a conditional write, never from
-- one process's memory.

-- One row per CA that revoked a certificate or numbered a CRL:
-- generation counts its revocations (the trigger below keeps it), and
-- crl_number is the last CRLNumber handed out (NextCRLNumber).
CREATE TABLE revocation_state (
    ca         text PRIMARY KEY REFERENCES cas (name),
    generation bigint NOT NULL DEFAULT 0 CHECK (generation >= 0),
    crl_number bigint NOT NULL DEFAULT 0 CHECK (crl_number >= 0)
);

-- Revocations made before this migration count, so that the counter is
-- the number of revoked certificates of the CA from the start.
INSERT INTO revocation_state (ca, generation)
SELECT ca, count(*) FROM certificates WHERE status = 'revoked' GROUP BY ca;

-- Each revocation from now on, by generation: replicas read the serials
-- revoked since the generation they last saw, to refresh exactly those
-- OCSP responses.
CREATE TABLE revocation_events (
    ca         text NOT NULL REFERENCES cas (name),
    generation bigint NOT NULL CHECK (generation > 0),
    serial     text NOT NULL,
    PRIMARY KEY (ca, generation)
);

-- The counter and the event are written in the transaction of the
-- revocation itself, whatever code path revokes. The upsert locks the CA's
-- row until that transaction ends, so concurrent revocations of one CA
-- take generations in commit order, and NextCRLNumber (which updates the
-- same row) waits for revocations in flight.
CREATE FUNCTION certificates_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g bigint;
BEGIN
    INSERT INTO revocation_state AS s (ca, generation) VALUES (NEW.ca, 1)
    ON CONFLICT (ca) DO UPDATE SET generation = s.generation + 1
    RETURNING s.generation INTO g;
    INSERT INTO revocation_events (ca, generation, serial) VALUES (NEW.ca, g, NEW.serial);
    RETURN NEW;
END
$$;

CREATE TRIGGER certificates_revoked AFTER UPDATE OF status ON certificates
FOR EACH ROW WHEN (NEW.status = 'revoked' AND OLD.status IS DISTINCT FROM 'revoked')
EXECUTE FUNCTION certificates_revoked();

-- The latest CRL of each CA: PublishCRL replaces it only with a higher
-- number, so every replica serves the same one and none goes back.
CREATE TABLE crls (
    ca          text PRIMARY KEY REFERENCES cas (name),
    number      bigint NOT NULL CHECK (number > 0),
    this_update timestamptz NOT NULL,
    next_update timestamptz NOT NULL CHECK (next_update >= this_update),
    generation  bigint NOT NULL CHECK (generation >= 0),
    der         bytea NOT NULL
);

-- CRL entries: the revoked certificates of a CA that have not expired, in
-- keyset order (not_after, serial bytewise), covering what an entry needs
-- so that listing them is an index-only scan. The expired ones sort first
-- and are skipped by the range.
CREATE INDEX certificates_revoked_idx
    ON certificates (ca, not_after, serial COLLATE "C") INCLUDE (revoked_at, revocation_reason)
    WHERE status = 'revoked';

-- Delegated OCSP responder certificates, whose keys are in the signer.
CREATE TABLE ocsp_responders (
    key_uri    text PRIMARY KEY CHECK (key_uri <> ''),
    ca         text NOT NULL REFERENCES cas (name),
    cert_der   bytea NOT NULL,
    not_after  timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX ocsp_responders_ca_idx ON ocsp_responders (ca, not_after, created_at, key_uri COLLATE "C");
