-- Projects (sites), their users and the login throttle.
-- One statement per `;` at the end of a line: Spin's sqlite interface runs
-- one statement per call.

CREATE TABLE projects (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL,
    timezone          TEXT    NOT NULL,
    -- SHA-256 (hex) of the collector's ingest token; the token itself is
    -- shown once, at provisioning.
    ingest_token_hash TEXT    NOT NULL UNIQUE,
    created_at        INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
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
    -- this database (see SECURITY.md, "What is stored, and how").
    api_key_sealed BLOB    NOT NULL
);

CREATE INDEX users_by_project ON users (project_id, id);

-- Failed logins per subject ("account:<name>", "client:<ip>") in a fixed
-- window. Counted here, not in the key-value store, because the count must
-- be atomic.
CREATE TABLE login_failures (
    subject      TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL
);
