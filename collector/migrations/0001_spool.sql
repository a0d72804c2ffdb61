-- The spool: every reading is in exactly one of `pending` (not yet
-- acknowledged by the server), `quarantine` (refused by the server, kept
-- for a person to look at), or delivered (deleted from `pending` after a
-- 2xx, counted in `counters`).
CREATE TABLE pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    meter_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    UNIQUE (meter_id, ts)
);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    meter_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
