-- 0014: revoking a certificate of an external CA leaves no revocation event.
--
-- Revocation events (0003, 0009) tell the gateway's CRL publishers and
-- OCSP responders which serials to sign again. An external CA (an
-- upstream: its cas row has a key_uri starting "acme:") publishes its own
-- revocation data, so nothing here reads its events, and nothing pruned
-- them: they only grew. The trigger now leaves upstreams out, and the
-- rows written for them before go.
DROP TRIGGER certificates_revocation_event;
CREATE TRIGGER certificates_revocation_event AFTER UPDATE OF status ON certificates
WHEN (NEW.status = 'revoked') <> (OLD.status = 'revoked')
    AND NOT EXISTS (SELECT 1 FROM cas WHERE name = NEW.ca AND substr(key_uri, 1, 5) = 'acme:')
BEGIN
    INSERT OR IGNORE INTO revocation_state (ca) VALUES (NEW.ca);
    UPDATE revocation_state SET generation = generation + 1 WHERE ca = NEW.ca;
    INSERT INTO revocation_events (ca, generation, serial)
        SELECT NEW.ca, generation, NEW.serial FROM revocation_state WHERE ca = NEW.ca;
END;
DELETE FROM revocation_events WHERE ca IN (SELECT name FROM cas WHERE substr(key_uri, 1, 5) = 'acme:');
DELETE FROM revocation_state WHERE ca IN (SELECT name FROM cas WHERE substr(key_uri, 1, 5) = 'acme:');
