-- Metering points and their readings.

CREATE TABLE points (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects (id),
    -- The MeterId the site's collector announces: the point's identity,
    -- never changed by the API.
    site_meter_id TEXT    NOT NULL,
    -- The name the API shows (MeterId in /point, MeterParam in /data);
    -- starts as site_meter_id, changed by POST /point.
    name          TEXT    NOT NULL,
    modbus_id     INTEGER,
    port          TEXT,
    no_phases     TEXT,
    meter_type    TEXT,
    modbus_map    TEXT,
    save_every    INTEGER,
    start_address INTEGER,
    UNIQUE (project_id, site_meter_id),
    UNIQUE (project_id, name)
);

-- Cumulative register values. The primary key makes (point, time) unique
-- and orders a project's readings by time then point, the order of file
-- exports; the second index serves per-point queries (latest readings,
-- single-meter exports).
CREATE TABLE readings (
    project_id INTEGER NOT NULL,
    ts         INTEGER NOT NULL,
    point_id   INTEGER NOT NULL REFERENCES points (id),
    value      REAL    NOT NULL,
    PRIMARY KEY (project_id, ts, point_id)
) WITHOUT ROWID;

CREATE INDEX readings_by_point ON readings (point_id, ts);
