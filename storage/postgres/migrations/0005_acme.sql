-- 0005: ACME accounts, orders, authorizations, challenges, nonces.
--
-- Everything an ACME client's session needs is here, so that any replica
-- can serve its next request. Lists and problem
-- documents are JSON in text.

-- UNLOGGED: a nonce is worth nothing after a crash (clients retry on
-- badNonce, RFC 8555 6.5), so its writes skip the WAL and a commit that
-- touches only nonces does not wait for the disk. Every ACME request makes
-- two of them.
CREATE UNLOGGED TABLE acme_nonces (
    nonce   text PRIMARY KEY NOT NULL,
    expires timestamptz NOT NULL
);
CREATE INDEX acme_nonces_expires_idx ON acme_nonces (expires);

CREATE TABLE acme_accounts (
    id           text PRIMARY KEY NOT NULL CHECK (id <> ''),
    profile      text NOT NULL,
    thumbprint   text NOT NULL,
    jwk          bytea NOT NULL,
    status       text NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    contact      text NOT NULL DEFAULT '[]',
    terms_agreed boolean NOT NULL DEFAULT false,
    eab_kid      text,
    created_at   timestamptz NOT NULL,
    UNIQUE (profile, thumbprint)
);

CREATE TABLE acme_eab_keys (
    kid        text PRIMARY KEY NOT NULL CHECK (kid <> ''),
    profile    text NOT NULL,
    hmac_key   bytea NOT NULL,
    created_at timestamptz NOT NULL,
    account_id text UNIQUE REFERENCES acme_accounts (id)
);

CREATE TABLE acme_orders (
    id          text PRIMARY KEY NOT NULL CHECK (id <> ''),
    account_id  text NOT NULL REFERENCES acme_accounts (id),
    profile     text NOT NULL,
    status      text NOT NULL,
    identifiers text NOT NULL,
    expires     timestamptz NOT NULL,
    error       bytea,
    cert_serial text,
    replaces    text,
    created_at  timestamptz NOT NULL
);
CREATE INDEX acme_orders_account_idx ON acme_orders (account_id, created_at);

CREATE TABLE acme_authzs (
    id         text PRIMARY KEY NOT NULL CHECK (id <> ''),
    order_id   text NOT NULL REFERENCES acme_orders (id),
    account_id text NOT NULL REFERENCES acme_accounts (id),
    position   integer NOT NULL,
    id_type    text NOT NULL,
    id_value   text NOT NULL,
    wildcard   boolean NOT NULL DEFAULT false,
    status     text NOT NULL,
    expires    timestamptz NOT NULL
);
CREATE INDEX acme_authzs_order_idx ON acme_authzs (order_id, position);

CREATE TABLE acme_challenges (
    id        text PRIMARY KEY NOT NULL CHECK (id <> ''),
    authz_id  text NOT NULL REFERENCES acme_authzs (id),
    position  integer NOT NULL,
    type      text NOT NULL,
    token     text NOT NULL,
    status    text NOT NULL,
    validated timestamptz,
    error     bytea
);
CREATE INDEX acme_challenges_authz_idx ON acme_challenges (authz_id, position);
