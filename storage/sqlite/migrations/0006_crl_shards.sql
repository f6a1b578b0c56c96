-- 0006: partitioned CRLs (cas[].crl.shards).
--
-- Forward-only and additive. A CA that shards publishes, beside its full
-- CRL in crls, one CRL per shard; all of them come from one rebuild and
-- share the full CRL's number and times, so a shard row is only its DER.
-- PublishCRL replaces a CA's shard rows in the transaction that replaces
-- its crls row, so the two never disagree.
CREATE TABLE crl_shards (
    ca    TEXT NOT NULL REFERENCES cas (name),
    shard INTEGER NOT NULL CHECK (shard >= 0),
    der   BLOB NOT NULL,
    PRIMARY KEY (ca, shard)
) STRICT;
