-- 0013: when an order's background issuance started.
--
-- Forward-only and additive. An order of a profile backed by an external
-- CA is processing while its issuance runs on after the finalize answer;
-- processing_at says since when, so that a sweeper can fail the ones whose
-- replica stopped mid-issuance (StaleACMEOrders). An order claimed by a
-- certificate's pending record (0007) has none: the reconcile step
-- finishes it, so it never counts as stale.
ALTER TABLE acme_orders ADD COLUMN processing_at INTEGER; -- microseconds since the Unix epoch, UTC
CREATE INDEX acme_orders_processing_idx ON acme_orders (processing_at) WHERE status = 'processing';
