-- 0005: ACME accounts, orders, authorizations, challenges.
--
-- Everything an ACME client's session needs is here. Nonces are not: the
-- embedded store serves one process and keeps them in memory (nonce.go).
-- Times as in 0001; lists and problem documents are JSON in TEXT.

CREATE TABLE acme_accounts (
    id           TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    profile      TEXT NOT NULL,
    thumbprint   TEXT NOT NULL,
    jwk          BLOB NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contact      TEXT NOT NULL DEFAULT '[]',
    terms_agreed INTEGER NOT NULL DEFAULT 0,
    eab_kid      TEXT,
    created_at   INTEGER NOT NULL,
    UNIQUE (profile, thumbprint)
) STRICT;

CREATE TABLE acme_eab_keys (
    kid        TEXT PRIMARY KEY NOT NULL CHECK (kid <> ''),
    profile    TEXT NOT NULL,
    hmac_key   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    account_id TEXT UNIQUE REFERENCES acme_accounts (id)
) STRICT;

CREATE TABLE acme_orders (
    id          TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    account_id  TEXT NOT NULL REFERENCES acme_accounts (id),
    profile     TEXT NOT NULL,
    status      TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    expires     INTEGER NOT NULL,
    error       BLOB,
    cert_serial TEXT,
    replaces    TEXT,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_orders_account_idx ON acme_orders (account_id, created_at);

CREATE TABLE acme_authzs (
    id         TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    order_id   TEXT NOT NULL REFERENCES acme_orders (id),
    account_id TEXT NOT NULL REFERENCES acme_accounts (id),
    position   INTEGER NOT NULL,
    id_type    TEXT NOT NULL,
    id_value   TEXT NOT NULL,
    wildcard   INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL,
    expires    INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_authzs_order_idx ON acme_authzs (order_id, position);

CREATE TABLE acme_challenges (
    id        TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
    authz_id  TEXT NOT NULL REFERENCES acme_authzs (id),
    position  INTEGER NOT NULL,
    type      TEXT NOT NULL,
    token     TEXT NOT NULL,
    status    TEXT NOT NULL,
    validated INTEGER,
    error     BLOB
) STRICT;
CREATE INDEX acme_challenges_authz_idx ON acme_challenges (authz_id, position);
