-- 0015: an API token may be limited to some certificate profiles.
--
-- Forward-only and additive. A token with profiles may use only those
-- profiles (issue, read, revoke); one without, as before, any of them.
ALTER TABLE api_tokens ADD COLUMN profiles jsonb NOT NULL DEFAULT '[]'; -- [] for every profile
