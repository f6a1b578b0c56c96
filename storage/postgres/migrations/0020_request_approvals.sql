-- 0020: requests that need several operators' approvals.
--
-- Forward-only and additive. approvals is a JSON array of {"by", "at"}
-- (at in RFC 3339 with nanoseconds, UTC), oldest first: the approvals a
-- request held for more than one has gathered (RequestStore.AddApproval).
ALTER TABLE requests ADD COLUMN approvals jsonb NOT NULL DEFAULT '[]';
