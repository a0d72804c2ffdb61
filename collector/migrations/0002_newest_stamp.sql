-- The newest stamp of any reading this spool took, delivered ones included
-- (they leave `pending`): a clock nobody vouches for that is far behind it
-- has gone back (a Raspberry Pi without a real-time clock boots at 1970),
-- and the collector stamps nothing with it (src/clock.rs). One row at most.
CREATE TABLE newest_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ts INTEGER NOT NULL
);

INSERT INTO newest_stamp (id, ts)
SELECT 1, ts FROM pending ORDER BY ts DESC LIMIT 1;
