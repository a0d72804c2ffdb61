-- Per-point rollups of intervals (readings.rs, "Rollups"): for each UTC
-- hour (span 3600) and each 6-hour block (span 21600), the sum, smallest,
-- largest and number of the intervals whose readings fall in it, by the
-- interval rule of /interval. Charts read these instead of a year of raw
-- readings; ingest keeps them exact in the transaction that stores the
-- readings.

CREATE TABLE interval_rollups (
    project_id INTEGER NOT NULL,
    point_id   INTEGER NOT NULL,
    span       INTEGER NOT NULL,
    start      INTEGER NOT NULL,
    total      REAL    NOT NULL,
    low        REAL    NOT NULL,
    high       REAL    NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (project_id, point_id, span, start)
) WITHOUT ROWID;

-- The readings stored before this migration, hour by hour. The CASE is
-- readings::interval: a drop counts 0, a one-reading glitch is measured
-- from the value before it, a non-finite difference counts 0.
INSERT INTO interval_rollups (project_id, point_id, span, start, total, low, high, count)
SELECT project_id, point_id, 3600, ts / 3600 * 3600,
       SUM(interval), MIN(interval), MAX(interval), COUNT(*)
FROM (
    SELECT project_id, point_id, ts,
           CASE WHEN abs(difference) > 1.7976931348623157e308 THEN 0.0
                ELSE difference END AS interval
    FROM (
        SELECT project_id, point_id, ts,
               CASE WHEN previous IS NULL THEN NULL
                    WHEN value < previous THEN 0.0
                    WHEN before IS NOT NULL AND previous < before AND value >= before
                        THEN value - before
                    ELSE value - previous END AS difference
        FROM (
            SELECT project_id, point_id, ts, value,
                   LAG(value, 1) OVER by_point AS previous,
                   LAG(value, 2) OVER by_point AS before
            FROM readings
            WINDOW by_point AS (PARTITION BY point_id ORDER BY ts)
        )
    )
    WHERE difference IS NOT NULL
)
GROUP BY project_id, point_id, ts / 3600;

INSERT INTO interval_rollups (project_id, point_id, span, start, total, low, high, count)
SELECT project_id, point_id, 21600, start / 21600 * 21600,
       SUM(total), MIN(low), MAX(high), SUM(count)
FROM interval_rollups
WHERE span = 3600
GROUP BY project_id, point_id, start / 21600;
