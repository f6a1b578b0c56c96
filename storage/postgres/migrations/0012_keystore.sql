-- 0012: the keystore's key-encryption key, shared by every replica.
--
-- Forward-only and additive. One row at most (the id is always 1): the
-- first replica to publish its wrapped key wins (primary key), the others
-- read it. Only a key wrapped by a token key is stored, so a copy of the
-- database (a backup, a standby) does not open the keystore.

CREATE TABLE keystore_kek (
    id         integer PRIMARY KEY CHECK (id = 1),
    wrapped    text NOT NULL CHECK (wrapped <> ''),
    created_at timestamptz NOT NULL
);
