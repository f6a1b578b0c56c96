-- 0008: when a challenge's validation started.
--
-- Forward-only and additive. A challenge is processing only while a
-- validation that outlived the answer's head start runs; processing_at
-- says since when, so that a sweeper can fail the ones whose replica
-- stopped mid-validation (StaleACMEChallenges). Rows processing from
-- before this migration have none and count as stale.
ALTER TABLE acme_challenges ADD COLUMN processing_at INTEGER; -- microseconds since the Unix epoch, UTC
CREATE INDEX acme_challenges_processing_idx ON acme_challenges (processing_at) WHERE status = 'processing';
