-- 0011: one-time SCEP challenges (the challengePassword of a first
-- enrollment, RFC 8894 section 3.3.1).
--
-- Forward-only and additive. Times as in 0001. Only the SHA-256 of a
-- challenge is kept, so a copy of the database yields no usable challenge.
-- A challenge is used once: UseSCEPChallenge deletes its row, and sweeps
-- the expired ones by expires_at.

CREATE TABLE scep_challenges (
    hash       BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    profile    TEXT NOT NULL CHECK (profile <> ''),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX scep_challenges_expires_idx ON scep_challenges (expires_at);
