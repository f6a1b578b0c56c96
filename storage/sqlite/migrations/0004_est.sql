-- 0004: EST enrollment credentials (RFC 7030 section 3.2.3, HTTP Basic).
--
-- One row per user of a profile. Only a password hash is kept (argon2id in
-- the PHC string format, written and read by protocols/est); a copy of the
-- database yields no usable password. Times as in 0001.

CREATE TABLE est_credentials (
    profile    TEXT NOT NULL CHECK (profile <> ''),
    username   TEXT NOT NULL CHECK (username <> ''),
    hash       TEXT NOT NULL CHECK (hash <> ''),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (profile, username)
) STRICT;
