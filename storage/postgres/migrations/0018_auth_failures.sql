-- 0018: failed authentications, counted by every replica.
--
-- Forward-only and additive. The throttles of EST passwords and SCEP
-- challenges (AuthFailureStore) count a client's recent failures here, so
-- that replicas sharing the store share the count. Rows are forgotten once
-- older than the throttle's window.
CREATE TABLE auth_failures (
    scope text NOT NULL CHECK (scope <> ''),
    key   text NOT NULL,
    at    timestamptz NOT NULL
);
CREATE INDEX auth_failures_key_idx ON auth_failures (scope, key, at);
CREATE INDEX auth_failures_at_idx ON auth_failures (at);
