-- GET /usage's local days, each day's tally in one packed value
-- (domain/usage_days.rs, `PackedDay`): a year of days of 100 meters is
-- read as the concatenation of 36,500 of them, one value, instead of
-- 36,500 rows of nine columns. The days are derived data, computed again
-- on demand: the old table is dropped, not converted. Everything
-- 0007_usage_days.sql says holds: one row per point and local day, kept
-- also when it has no intervals, deleted by every write that may change
-- it, emptied by a migration that changes readings or rollups.
DROP TABLE usage_days;
CREATE TABLE usage_days (
    project_id INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    point_id   INTEGER NOT NULL,
    day        BLOB    NOT NULL,
    PRIMARY KEY (project_id, until, point_id)
) WITHOUT ROWID;
