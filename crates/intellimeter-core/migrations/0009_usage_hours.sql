-- GET /usage's hours, stored as its days are (0008_usage_days_packed.sql,
-- domain/usage_days.rs): one packed 64-byte value per point and hour
-- bucket, computed the first time a request needs it, deleted by every
-- write that may change it, read as one value. A month of hours of 100
-- meters is 74,400 of them: read from the rollups, Spin lowered them into
-- the component as 74,400 rows of seven columns. Derived data, as
-- usage_days: a migration that changes readings or rollups empties it.
CREATE TABLE usage_hours (
    project_id INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    point_id   INTEGER NOT NULL,
    day        BLOB    NOT NULL,
    PRIMARY KEY (project_id, until, point_id)
) WITHOUT ROWID;
