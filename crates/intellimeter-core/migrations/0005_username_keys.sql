-- Usernames are compared by their key (domain/names.rs: NFKC, lower
-- case, NFKC), so that `test` and its full-width `ｔｅｓｔ` are one user. The
-- migration's second step fills the key of every user created before it,
-- in id order; a user whose key an older user already has keeps NULL and
-- logs in by its exact name.
ALTER TABLE users ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
