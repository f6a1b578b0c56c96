-- 0012: the keystore's key-encryption key, shared by every process that
-- opens this file.
--
-- Forward-only and additive. Times as in 0001. One row at most (the id is
-- always 1): the first process to publish its wrapped key wins (primary
-- key), the others read it. Only a key wrapped by a token key is stored,
-- so a copy of the database does not open the keystore.

CREATE TABLE keystore_kek (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    wrapped    TEXT NOT NULL CHECK (wrapped <> ''),
    created_at INTEGER NOT NULL
) STRICT;
