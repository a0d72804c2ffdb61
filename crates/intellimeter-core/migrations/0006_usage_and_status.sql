-- Units, the collector's last contact, and peak demand in the rollups
-- (GET /usage, GET /status).

-- The unit of a point's value as the collector announces it (`kWh`);
-- NULL when it never said.
ALTER TABLE points ADD COLUMN unit TEXT;

-- Each project's collector as its last batch found it: when, which
-- version, how many readings it still held, whether its clock was
-- synchronised (NULL: the collector did not say).
CREATE TABLE collectors (
    project_id         INTEGER PRIMARY KEY REFERENCES projects (id),
    last_contact       INTEGER NOT NULL,
    version            TEXT,
    backlog            INTEGER,
    clock_synchronised INTEGER
);

-- The largest demand of a rollup's intervals: an interval's energy over
-- its duration, per hour (interval × 3600 / seconds since the reading it
-- is measured from), and when that interval ran. Ties keep the earliest.
ALTER TABLE interval_rollups ADD COLUMN peak REAL NOT NULL DEFAULT 0;
ALTER TABLE interval_rollups ADD COLUMN peak_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE interval_rollups ADD COLUMN peak_end INTEGER NOT NULL DEFAULT 0;

-- The rollups stored before, recomputed hour by hour with their peaks
-- (the CASE is readings::interval, as in 0004; a glitch's interval is
-- measured from the reading before the drop, and so is its duration).
-- An hour now holds the intervals that end in (start, start + 3600]
-- (readings::span_of): the energy from the reading at its start to the
-- one at its end; 0004 counted those ending in [start, start + 3600).
DELETE FROM interval_rollups;

INSERT INTO interval_rollups
    (project_id, point_id, span, start, total, low, high, count, peak, peak_start, peak_end)
SELECT project_id, point_id, 3600, hour, SUM(interval), MIN(interval), MAX(interval), COUNT(*),
       MAX(CASE WHEN rank = 1 THEN rate END), MAX(CASE WHEN rank = 1 THEN base_ts END),
       MAX(CASE WHEN rank = 1 THEN ts END)
FROM (
    SELECT project_id, point_id, ts, base_ts, interval, (ts - 1) / 3600 * 3600 AS hour,
           interval * 3600.0 / (ts - base_ts) AS rate,
           ROW_NUMBER() OVER (PARTITION BY point_id, (ts - 1) / 3600
                              ORDER BY interval * 3600.0 / (ts - base_ts) DESC, ts) AS rank
    FROM (
        SELECT project_id, point_id, ts, base_ts,
               CASE WHEN abs(difference) > 1.7976931348623157e308 THEN 0.0
                    ELSE difference END AS interval
        FROM (
            SELECT project_id, point_id, ts,
                   CASE WHEN previous IS NULL THEN NULL
                        WHEN value < previous THEN 0.0
                        WHEN before IS NOT NULL AND previous < before AND value >= before
                            THEN value - before
                        ELSE value - previous END AS difference,
                   CASE WHEN before IS NOT NULL AND value >= previous AND previous < before
                             AND value >= before
                            THEN before_ts
                        ELSE previous_ts END AS base_ts
            FROM (
                SELECT project_id, point_id, ts, value,
                       LAG(value, 1) OVER by_point AS previous,
                       LAG(value, 2) OVER by_point AS before,
                       LAG(ts, 1) OVER by_point AS previous_ts,
                       LAG(ts, 2) OVER by_point AS before_ts
                FROM readings
                WINDOW by_point AS (PARTITION BY point_id ORDER BY ts)
            )
        )
        WHERE difference IS NOT NULL
    )
)
GROUP BY project_id, point_id, hour;

INSERT INTO interval_rollups
    (project_id, point_id, span, start, total, low, high, count, peak, peak_start, peak_end)
SELECT project_id, point_id, 21600, block, SUM(total), MIN(low), MAX(high), SUM(count),
       MAX(CASE WHEN rank = 1 THEN peak END), MAX(CASE WHEN rank = 1 THEN peak_start END),
       MAX(CASE WHEN rank = 1 THEN peak_end END)
FROM (
    SELECT *, start / 21600 * 21600 AS block,
           ROW_NUMBER() OVER (PARTITION BY point_id, start / 21600
                              ORDER BY peak DESC, peak_end) AS rank
    FROM interval_rollups
    WHERE span = 3600
)
GROUP BY project_id, point_id, block;
