-- Usernames are compared by their key (domain/names.rs: NFKC, lower
-- case, NFKC), so that `test` and its full-width `ｔｅｓｔ` are one user.
-- SQL cannot compute the key: the users made before this migration get
-- theirs from `accounts::key_usernames`, oldest first, before the next
-- login or account write, which the row in `pending_work` asks for (the
-- key's Unicode tables are large, so only the account components carry
-- them). A user whose key an older user already has keeps NULL and logs
-- in by its exact name.
ALTER TABLE users ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
CREATE TABLE pending_work (name TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO pending_work (name) SELECT 'username_keys' WHERE EXISTS (SELECT 1 FROM users);
