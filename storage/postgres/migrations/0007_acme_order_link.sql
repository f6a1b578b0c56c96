-- 0007: a certificate names the ACME order it finalizes.
--
-- Forward-only and additive. When such a certificate becomes active (the
-- completion of its issuance, or the reconcile step), the trigger moves its
-- order processing→valid with the certificate's serial in the same
-- transaction: finalizing an order commits once less, and an order whose
-- certificate was signed but not stored at once turns valid when reconcile
-- stores it. An order in any other state is left alone.
ALTER TABLE certificates ADD COLUMN acme_order text;

CREATE FUNCTION certificates_acme_order_valid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE acme_orders SET status = 'valid', cert_serial = NEW.serial
    WHERE id = NEW.acme_order AND status = 'processing';
    RETURN NEW;
END
$$;

CREATE TRIGGER certificates_acme_order_valid AFTER UPDATE OF status ON certificates
FOR EACH ROW WHEN (NEW.status = 'active' AND OLD.status = 'pending' AND NEW.acme_order IS NOT NULL)
EXECUTE FUNCTION certificates_acme_order_valid();
