-- 0011: one-time SCEP challenges (the challengePassword of a first
-- enrollment, RFC 8894 section 3.3.1).
--
-- Forward-only and additive. Only the SHA-256 of a challenge is kept, so a
-- copy of the database yields no usable challenge. A challenge is used
-- once, by whichever replica the device reaches: UseSCEPChallenge deletes
-- its row, and sweeps the expired ones by expires_at. Logged, unlike
-- acme_nonces: a challenge handed to a device must survive a crash and a
-- standby's promotion, or the device cannot enroll.

CREATE TABLE scep_challenges (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    profile    text NOT NULL CHECK (profile <> ''),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX scep_challenges_expires_idx ON scep_challenges (expires_at);
