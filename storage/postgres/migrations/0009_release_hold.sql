-- 0009: a certificate on hold can be released.
--
-- Forward-only and additive. A certificate revoked with certificateHold
-- (RFC 5280 5.3.1) may go back to active (ReleaseHold). Replicas learn of
-- it as they learn of revocations: the release takes the CA's next
-- generation and logs an event with the serial (the function of 0003), so
-- that every OCSP responder signs the serial's response again and every
-- CRL is rebuilt without it. An event says "this serial's status changed",
-- nothing more.
CREATE TRIGGER certificates_released AFTER UPDATE OF status ON certificates
FOR EACH ROW WHEN (OLD.status = 'revoked' AND NEW.status IS DISTINCT FROM 'revoked')
EXECUTE FUNCTION certificates_revoked();
