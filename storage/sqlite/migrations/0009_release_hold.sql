-- 0009: a certificate on hold can be released.
--
-- Forward-only and additive. A certificate revoked with certificateHold
-- (RFC 5280 5.3.1) may go back to active (ReleaseHold). Replicas learn of
-- it as they learn of revocations: the release takes the CA's next
-- generation and logs an event with the serial, so that every OCSP
-- responder signs the serial's response again and every CRL is rebuilt
-- without it. The trigger of 0003 gives way to one that fires on any
-- change into or out of revoked; an event says "this serial's status
-- changed", nothing more.
DROP TRIGGER certificates_revoked;
CREATE TRIGGER certificates_revocation_event AFTER UPDATE OF status ON certificates
WHEN (NEW.status = 'revoked') <> (OLD.status = 'revoked')
BEGIN
    INSERT OR IGNORE INTO revocation_state (ca) VALUES (NEW.ca);
    UPDATE revocation_state SET generation = generation + 1 WHERE ca = NEW.ca;
    INSERT INTO revocation_events (ca, generation, serial)
        SELECT NEW.ca, generation, NEW.serial FROM revocation_state WHERE ca = NEW.ca;
END;
