-- 0006: partitioned CRLs (cas[].crl.shards).
--
-- Forward-only and additive. A CA that shards publishes, beside its full
-- CRL in crls, one CRL per shard; all of them come from one rebuild and
-- share the full CRL's number and times, so a shard row is only its DER.
-- PublishCRL replaces a CA's shard rows in the transaction that replaces
-- its crls row (whose row lock orders concurrent publications), so the
-- two never disagree.
CREATE TABLE crl_shards (
    ca    text NOT NULL REFERENCES cas (name),
    shard integer NOT NULL CHECK (shard >= 0),
    der   bytea NOT NULL,
    PRIMARY KEY (ca, shard)
);
