-- 0010: certificates from external ACME CAs (upstreams), and what the
-- gateway needs as their ACME client.
--
-- Forward-only and additive. Times are INTEGER microseconds since the Unix
-- epoch, UTC, as in 0001. A certificate an upstream issued names the
-- upstream in certificates.ca; the caller stores the upstream in cas (an
-- empty cert_der, a key_uri "acme:" + the directory URL) so that the
-- foreign key holds.

-- The PEM issuer chain (issuer first) the upstream returned with the
-- certificate; NULL for the gateway's own CAs, whose chain is in cas.
ALTER TABLE certificates ADD COLUMN chain BLOB;

-- The gateway's account at each upstream's directory. The key is sealed by
-- the caller; the store keeps opaque bytes. Every process reads the same
-- account: the first to register it wins (primary key), the others read it.
CREATE TABLE upstream_accounts (
    upstream   TEXT NOT NULL CHECK (upstream <> ''),
    directory  TEXT NOT NULL CHECK (directory <> ''),
    url        TEXT NOT NULL CHECK (url <> ''),
    key_pem    BLOB NOT NULL CHECK (length(key_pem) > 0),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (upstream, directory)
) STRICT;

-- The key authorizations an upstream's http-01 challenges expect at
-- /.well-known/acme-challenge/TOKEN (RFC 8555 section 8.3). Rows live for
-- the few minutes of a validation; DeleteHTTP01 sweeps the expired ones by
-- expires_at.
CREATE TABLE upstream_http01 (
    token      TEXT PRIMARY KEY NOT NULL CHECK (token <> ''),
    key_auth   TEXT NOT NULL CHECK (key_auth <> ''),
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX upstream_http01_expires_idx ON upstream_http01 (expires_at);
