-- GET /usage's local days (domain/usage_days.rs): each point's tally of
-- the intervals ending in (start, until], one row per local day of the
-- project's zone, computed from the interval rollups the first time a
-- request needs the day and deleted by every write that may change it
-- (from the earliest reading it stores on). A day without intervals is
-- kept too (count 0), so that a missing row always means "not computed".
-- A migration that changes readings or rollups must empty this table.
CREATE TABLE usage_days (
    project_id INTEGER NOT NULL,
    until      INTEGER NOT NULL,
    point_id   INTEGER NOT NULL,
    start      INTEGER NOT NULL,
    total      REAL    NOT NULL,
    count      INTEGER NOT NULL,
    peak       REAL    NOT NULL,
    peak_start INTEGER NOT NULL,
    peak_end   INTEGER NOT NULL,
    PRIMARY KEY (project_id, until, point_id)
) WITHOUT ROWID;
