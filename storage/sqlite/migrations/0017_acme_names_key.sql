-- 0017: an ACME order's set of identifiers, as one key.
--
-- Forward-only and additive. names_key is the order's identifiers
-- ("type:value"), sorted and joined by newlines (certquery.NamesKey), so
-- that the orders for one set of names are found with one index
-- (acme.duplicate_certificates_per_week, CountIssuedACMEOrders). Orders
-- stored before it have none and are not counted.
ALTER TABLE acme_orders ADD COLUMN names_key TEXT;
CREATE INDEX acme_orders_names_idx ON acme_orders (profile, names_key, created_at) WHERE status = 'valid';
