-- 0026: CAs certified by a CA outside the gateway (cas[].external, an
-- offline root): the certificates above such a CA, up to and including its
-- root, as DER one after the other, nearest first. NULL for the gateway's
-- own CAs, whose chain is their parents'.
--
-- Forward-only and additive.
ALTER TABLE cas ADD COLUMN chain_der bytea;
