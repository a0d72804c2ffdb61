-- GET /usage's kept buckets, a row per bucket rather than per point and
-- bucket: the row's `buckets` holds every point's packed bucket
-- (`PackedBucket`, 64 bytes) end to end. A month of hours of 100 meters
-- is then 744 rows where it was 74,400: SQLite's group_concat step per
-- row was most of reading them (13 ms on Spin, now 6). A request for
-- one point reads its range's rows and takes its own buckets, and sums
-- what they lack for itself, storing nothing; a request for every point
-- computes and stores the rows it lacks. Everything
-- 0008_usage_buckets.sql says holds otherwise: computed the first time a
-- request needs it, deleted by every write that may change it, emptied
-- by a migration that changes readings or rollups. Derived data: the old
-- table is dropped, not converted.
DROP TABLE usage_buckets;
CREATE TABLE usage_buckets (
    project_id INTEGER NOT NULL,
    kind       INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    buckets    BLOB    NOT NULL,
    PRIMARY KEY (project_id, kind, until)
) WITHOUT ROWID;
