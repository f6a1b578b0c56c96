-- 0004: EST enrollment credentials (RFC 7030 section 3.2.3, HTTP Basic).
--
-- One row per user of a profile. Only a password hash is kept (argon2id in
-- the PHC string format, written and read by protocols/est); a copy of the
-- database yields no usable password.

CREATE TABLE est_credentials (
    profile    text NOT NULL CHECK (profile <> ''),
    username   text NOT NULL CHECK (username <> ''),
    hash       text NOT NULL CHECK (hash <> ''),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (profile, username)
);
