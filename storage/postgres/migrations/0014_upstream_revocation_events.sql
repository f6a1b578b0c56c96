-- 0014: revoking a certificate of an external CA leaves no revocation event.
--
-- Revocation events (0003, 0009) tell the gateway's CRL publishers and
-- OCSP responders which serials to sign again. An external CA (an
-- upstream: its cas row has a key_uri starting "acme:") publishes its own
-- revocation data, so nothing here reads its events, and nothing pruned
-- them: they only grew. The function of both triggers now leaves
-- upstreams out, and the rows written for them before go.
CREATE OR REPLACE FUNCTION certificates_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM cas WHERE name = NEW.ca AND starts_with(key_uri, 'acme:')) THEN
        RETURN NEW;
    END IF;
    INSERT INTO revocation_state AS s (ca, generation) VALUES (NEW.ca, 1)
    ON CONFLICT (ca) DO UPDATE SET generation = s.generation + 1
    RETURNING s.generation INTO g;
    INSERT INTO revocation_events (ca, generation, serial) VALUES (NEW.ca, g, NEW.serial);
    RETURN NEW;
END
$$;
DELETE FROM revocation_events WHERE ca IN (SELECT name FROM cas WHERE starts_with(key_uri, 'acme:'));
DELETE FROM revocation_state WHERE ca IN (SELECT name FROM cas WHERE starts_with(key_uri, 'acme:'));
