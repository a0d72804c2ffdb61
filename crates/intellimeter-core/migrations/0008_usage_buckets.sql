-- GET /usage's kept buckets (domain/usage_days.rs): each point's local
-- days (kind 1) and hours (kind 2), each bucket's tally one packed
-- 64-byte value (`PackedBucket`). A request reads its range as one value,
-- the buckets' bytes end to end: a year of days of 100 meters is 36,500
-- of them, a month of their hours 74,400, which Spin lowered into the
-- component as as many rows of seven to nine columns. Everything
-- 0007_usage_days.sql says holds: one row per point and bucket, kept also
-- when it has no intervals, computed the first time a request needs it,
-- deleted by every write that may change it, emptied by a migration that
-- changes readings or rollups. Derived data: the old table is dropped, not
-- converted.
DROP TABLE usage_days;
CREATE TABLE usage_buckets (
    project_id INTEGER NOT NULL,
    kind       INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    point_id   INTEGER NOT NULL,
    bucket     BLOB    NOT NULL,
    PRIMARY KEY (project_id, kind, until, point_id)
) WITHOUT ROWID;
