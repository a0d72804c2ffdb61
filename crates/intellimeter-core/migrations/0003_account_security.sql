-- Account security (SECURITY.md):
-- * user ids are never reused (AUTOINCREMENT), so nothing that names a
--   deleted user (a session, a cached key lookup) can open a later one;
-- * every user has a session stamp: a session is valid only while the
--   stamp it was issued with is the user's current one, so changing the
--   password or logging out everywhere ends all of the user's sessions;
-- * the login throttle remembers each subject's last attempt, to space
--   out password guesses against one username.
-- SQLite cannot add AUTOINCREMENT to a table, so users is rebuilt with
-- every existing id kept.

CREATE TABLE users_v3 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL REFERENCES projects (id),
    username       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email          TEXT    NOT NULL,
    -- argon2id PHC string.
    password_hash  TEXT    NOT NULL,
    joined_at      INTEGER NOT NULL,
    prefers_xml    INTEGER NOT NULL DEFAULT 0,
    -- SHA-256 (hex) of the API key, for lookup.
    api_key_hash   TEXT    NOT NULL UNIQUE,
    -- The API key sealed with ChaCha20-Poly1305 under a key that is not in
    -- this database (see SECURITY.md).
    api_key_sealed BLOB    NOT NULL,
    -- 128 random bits (hex), replaced to end every session of the user.
    session_stamp  TEXT    NOT NULL
);

INSERT INTO users_v3 (id, project_id, username, email, password_hash, joined_at,
                      prefers_xml, api_key_hash, api_key_sealed, session_stamp)
SELECT id, project_id, username, email, password_hash, joined_at,
       prefers_xml, api_key_hash, api_key_sealed, lower(hex(randomblob(16)))
FROM users;

DROP TABLE users;

ALTER TABLE users_v3 RENAME TO users;

CREATE INDEX users_by_project ON users (project_id, id);

ALTER TABLE login_failures ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;
