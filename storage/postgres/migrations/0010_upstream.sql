-- 0010: certificates from external ACME CAs (upstreams), and what the
-- gateway needs as their ACME client.
--
-- Forward-only and additive. A certificate an upstream issued names the
-- upstream in certificates.ca; the caller stores the upstream in cas (an
-- empty cert_der, a key_uri "acme:" + the directory URL) so that the
-- foreign key holds.

-- The PEM issuer chain (issuer first) the upstream returned with the
-- certificate; NULL for the gateway's own CAs, whose chain is in cas.
-- A nullable column without a default: added without rewriting the table.
ALTER TABLE certificates ADD COLUMN chain bytea;

-- The gateway's account at each upstream's directory. The key is sealed by
-- the caller; the store keeps opaque bytes. Every replica reads the same
-- account: the first to register it wins (primary key), the others read it.
CREATE TABLE upstream_accounts (
    upstream   text NOT NULL CHECK (upstream <> ''),
    directory  text NOT NULL CHECK (directory <> ''),
    url        text NOT NULL CHECK (url <> ''),
    key_pem    bytea NOT NULL CHECK (length(key_pem) > 0),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (upstream, directory)
);

-- The key authorizations an upstream's http-01 challenges expect at
-- /.well-known/acme-challenge/TOKEN (RFC 8555 section 8.3), which any
-- replica may be asked for. Rows live for the few minutes of a validation;
-- DeleteHTTP01 sweeps the expired ones by expires_at. Logged, unlike
-- acme_nonces: a standby promoted during a validation must still answer.
CREATE TABLE upstream_http01 (
    token      text PRIMARY KEY CHECK (token <> ''),
    key_auth   text NOT NULL CHECK (key_auth <> ''),
    expires_at timestamptz NOT NULL
);
CREATE INDEX upstream_http01_expires_idx ON upstream_http01 (expires_at);
