//! The durable spool: a SQLite database in WAL mode with `synchronous =
//! FULL`, so a reading committed here survives a power cut. Every reading
//! is in exactly one of three places: `pending` (not yet acknowledged by
//! the server), `quarantine` (refused by the server: kept for a person,
//! never retried by itself), or delivered (deleted from `pending` after a
//! 2xx and counted). A batch is taken oldest first and leaves `pending`
//! only after the server acknowledged it; a crash in between sends it
//! again, which ingest stores once (it is idempotent).

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Numbered migrations, applied in order; `PRAGMA user_version` is the
/// number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_spool.sql"),
    include_str!("../migrations/0002_newest_stamp.sql"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct NewReading {
    pub meter_id: String,
    pub ts: i64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpooledReading {
    pub id: i64,
    pub meter_id: String,
    pub ts: i64,
    pub value: f64,
}

/// What the spool holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpoolStats {
    pub pending: u64,
    pub quarantined: u64,
    /// The stamp of the oldest reading still waiting for the server
    /// (quarantined and delivered readings are not pending); `None` when
    /// nothing is pending.
    pub oldest_pending: Option<i64>,
    /// Acknowledged by the server since the spool was made (a count: the
    /// readings themselves leave the spool).
    pub delivered: u64,
    /// Readings dropped because the spool was full.
    pub dropped: u64,
}

/// What [`Spool::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inserted {
    pub added: u64,
    /// Oldest pending readings dropped to stay within the bound.
    pub dropped: u64,
}

pub struct Spool {
    inner: Mutex<Inner>,
    max_pending: u64,
}

struct Inner {
    db: Connection,
    pending: u64,
    /// The newest stamp of any reading ever inserted (`newest_stamp`).
    newest_stamp: Option<i64>,
}

pub type Result<T> = rusqlite::Result<T>;

/// Why the spool could not be used from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot open the spool {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the spool failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("a spool task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Opens the spool at `path` for sharing between the cycles and the
/// outbox.
pub fn open_shared(path: &Path, max_pending: u64) -> std::result::Result<Arc<Spool>, SpoolError> {
    Spool::open(path, max_pending)
        .map(Arc::new)
        .map_err(|source| SpoolError::Open {
            path: path.to_owned(),
            source,
        })
}

/// Runs `job` on `spool` on a blocking thread: SQLite waits for the disk,
/// the async threads must not.
pub async fn blocking<T: Send + 'static>(
    spool: &Arc<Spool>,
    job: impl FnOnce(&Spool) -> Result<T> + Send + 'static,
) -> std::result::Result<T, SpoolError> {
    let spool = spool.clone();
    Ok(tokio::task::spawn_blocking(move || job(&spool)).await??)
}

/// Applies every migration `db` has not had, each in its own transaction.
pub fn migrate(db: &mut Connection) -> Result<()> {
    let applied: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = db.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", number as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl Spool {
    /// Opens (creating) the spool at `path`, holding at most `max_pending`
    /// pending readings.
    pub fn open(path: &Path, max_pending: u64) -> Result<Spool> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut db)?;
        let pending: i64 = db.query_row("SELECT COUNT(*) FROM pending", [], |row| row.get(0))?;
        let pending = pending as u64;
        let newest_stamp = read_newest_stamp(&db)?;
        Ok(Spool {
            inner: Mutex::new(Inner {
                db,
                pending,
                newest_stamp,
            }),
            max_pending: max_pending.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Commits `readings` (one transaction; a reading already pending for
    /// the same meter and time is kept as it was). When the bound is
    /// passed, the oldest pending readings are dropped, counted and
    /// reported.
    pub fn insert(&self, readings: &[NewReading]) -> Result<Inserted> {
        let mut inner = self.lock();
        let before = inner.pending;
        let tx = inner.db.transaction()?;
        let mut added = 0u64;
        {
            let mut statement = tx.prepare_cached(
                "INSERT OR IGNORE INTO pending (meter_id, ts, value) VALUES (?, ?, ?)",
            )?;
            for r in readings {
                added += statement.execute(params![r.meter_id, r.ts, r.value])? as u64;
            }
        }
        let newest = readings.iter().map(|r| r.ts).max();
        if let Some(newest) = newest {
            tx.execute(
                "INSERT INTO newest_stamp (id, ts) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET ts = MAX(ts, excluded.ts)",
                [newest],
            )?;
        }
        let total = before + added;
        let dropped = total.saturating_sub(self.max_pending);
        if dropped > 0 {
            tx.execute(
                "DELETE FROM pending WHERE id IN (SELECT id FROM pending ORDER BY id LIMIT ?)",
                [dropped as i64],
            )?;
            bump(&tx, "dropped", dropped)?;
        }
        tx.commit()?;
        inner.pending = total - dropped;
        inner.newest_stamp = inner.newest_stamp.max(newest);
        Ok(Inserted { added, dropped })
    }

    /// The oldest `limit` pending readings, oldest first.
    pub fn oldest(&self, limit: usize) -> Result<Vec<SpooledReading>> {
        let inner = self.lock();
        let mut statement = inner
            .db
            .prepare_cached("SELECT id, meter_id, ts, value FROM pending ORDER BY id LIMIT ?")?;
        let rows = statement.query_map([limit as i64], |row| {
            Ok(SpooledReading {
                id: row.get(0)?,
                meter_id: row.get(1)?,
                ts: row.get(2)?,
                value: row.get(3)?,
            })
        })?;
        rows.collect()
    }

    /// The server acknowledged `batch` (taken with [`Spool::oldest`]): it
    /// leaves the spool.
    pub fn delivered(&self, batch: &[SpooledReading]) -> Result<()> {
        let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
        let mut inner = self.lock();
        let tx = inner.db.transaction()?;
        let removed = delete(&tx, &ids)?;
        bump(&tx, "delivered", removed)?;
        tx.commit()?;
        inner.pending -= removed.min(inner.pending);
        Ok(())
    }

    /// The server refused `batch`: it moves to quarantine with `reason`.
    pub fn quarantine(&self, batch: &[SpooledReading], reason: &str, now: i64) -> Result<()> {
        let ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
        let mut inner = self.lock();
        let tx = inner.db.transaction()?;
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut values: Vec<rusqlite::types::Value> =
                vec![reason.to_owned().into(), now.into()];
            values.extend(chunk.iter().map(|id| rusqlite::types::Value::from(*id)));
            tx.execute(
                &format!(
                    "INSERT INTO quarantine (id, meter_id, ts, value, reason, quarantined_at) \
                     SELECT id, meter_id, ts, value, ?, ? FROM pending WHERE id IN ({marks})"
                ),
                rusqlite::params_from_iter(values),
            )?;
        }
        let removed = delete(&tx, &ids)?;
        tx.commit()?;
        inner.pending -= removed.min(inner.pending);
        Ok(())
    }

    /// Pending readings, without a query.
    pub fn pending(&self) -> u64 {
        self.lock().pending
    }

    /// The newest stamp of any reading the spool ever took (pending,
    /// delivered or quarantined), without a query.
    pub fn newest_stamp(&self) -> Option<i64> {
        self.lock().newest_stamp
    }

    pub fn stats(&self) -> Result<SpoolStats> {
        let inner = self.lock();
        let db = &inner.db;
        let counter = |name: &str| -> Result<u64> {
            let value: Option<i64> = db
                .query_row("SELECT value FROM counters WHERE name = ?", [name], |row| {
                    row.get(0)
                })
                .optional()?;
            Ok(value.unwrap_or(0) as u64)
        };
        let quarantined: i64 =
            db.query_row("SELECT COUNT(*) FROM quarantine", [], |row| row.get(0))?;
        Ok(SpoolStats {
            pending: inner.pending,
            quarantined: quarantined as u64,
            oldest_pending: db.query_row("SELECT MIN(ts) FROM pending", [], |row| row.get(0))?,
            delivered: counter("delivered")?,
            dropped: counter("dropped")?,
        })
    }

    /// Quarantined readings, oldest first: `(meter, ts, value, reason)`.
    pub fn quarantined(&self) -> Result<Vec<(String, i64, f64, String)>> {
        let inner = self.lock();
        let mut statement = inner
            .db
            .prepare("SELECT meter_id, ts, value, reason FROM quarantine ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
        rows.collect()
    }
}

/// The newest stamp the spool at `path` ever took, read without changing
/// anything (no file is made, no migration applied): for `collector
/// check`, which may run as another user than the daemon. `None` when
/// there is no spool yet.
pub fn newest_stamp_at(path: &Path) -> Result<Option<i64>> {
    if !path.exists() {
        return Ok(None);
    }
    let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    let applied: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if applied < 2 {
        // Made before the mark was kept: the newest pending reading.
        return db.query_row("SELECT MAX(ts) FROM pending", [], |row| row.get(0));
    }
    read_newest_stamp(&db)
}

fn read_newest_stamp(db: &Connection) -> Result<Option<i64>> {
    db.query_row("SELECT ts FROM newest_stamp WHERE id = 1", [], |row| {
        row.get(0)
    })
    .optional()
}

fn delete(db: &Connection, ids: &[i64]) -> Result<u64> {
    let mut removed = 0;
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        removed += db.execute(
            &format!("DELETE FROM pending WHERE id IN ({marks})"),
            rusqlite::params_from_iter(chunk),
        )? as u64;
    }
    Ok(removed)
}

fn bump(db: &Connection, name: &str, by: u64) -> Result<()> {
    db.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = value + ?2",
        params![name, by as i64],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(meter: &str, ts: i64, value: f64) -> NewReading {
        NewReading {
            meter_id: meter.into(),
            ts,
            value,
        }
    }

    #[test]
    fn migrations_apply_to_an_empty_database_and_again() {
        let mut db = Connection::open_in_memory().unwrap();
        migrate(&mut db).unwrap();
        migrate(&mut db).unwrap();
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }

    #[test]
    fn a_reading_is_pending_quarantined_or_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("spool.sqlite"), 100).unwrap();
        let readings: Vec<_> = (0..10).map(|i| reading("m", i * 300, i as f64)).collect();
        assert_eq!(
            spool.insert(&readings).unwrap(),
            Inserted {
                added: 10,
                dropped: 0
            }
        );
        // The same meter and time again: kept once.
        assert_eq!(spool.insert(&readings[..2]).unwrap().added, 0);
        let batch = spool.oldest(4).unwrap();
        assert_eq!(
            batch.iter().map(|r| r.ts).collect::<Vec<_>>(),
            [0, 300, 600, 900]
        );
        spool.delivered(&batch).unwrap();
        let refused = spool.oldest(2).unwrap();
        spool
            .quarantine(&refused, "400: readings[0].value: bad", 7)
            .unwrap();
        let stats = spool.stats().unwrap();
        assert_eq!(
            stats,
            SpoolStats {
                pending: 4,
                quarantined: 2,
                oldest_pending: Some(1800),
                delivered: 4,
                dropped: 0
            }
        );
        assert_eq!(stats.pending + stats.quarantined + stats.delivered, 10);
        // Reopened: the same counts.
        drop(spool);
        let spool = Spool::open(&dir.path().join("spool.sqlite"), 100).unwrap();
        assert_eq!(spool.stats().unwrap(), stats);
        assert_eq!(
            spool.quarantined().unwrap()[0].3,
            "400: readings[0].value: bad"
        );
    }

    #[test]
    fn the_newest_stamp_outlives_delivery_and_is_read_without_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.sqlite");
        assert_eq!(newest_stamp_at(&path).unwrap(), None);
        assert!(!path.exists(), "looking made no spool");
        let spool = Spool::open(&path, 100).unwrap();
        assert_eq!(spool.newest_stamp(), None);
        spool
            .insert(&[reading("m", 900, 1.0), reading("m", 600, 2.0)])
            .unwrap();
        // An older reading taken later does not move it back.
        spool.insert(&[reading("n", 300, 3.0)]).unwrap();
        assert_eq!(spool.newest_stamp(), Some(900));
        let all = spool.oldest(10).unwrap();
        spool.delivered(&all).unwrap();
        assert_eq!(spool.pending(), 0);
        assert_eq!(spool.newest_stamp(), Some(900), "delivered, not forgotten");
        assert_eq!(newest_stamp_at(&path).unwrap(), Some(900));
        drop(spool);
        assert_eq!(newest_stamp_at(&path).unwrap(), Some(900));
        assert_eq!(Spool::open(&path, 100).unwrap().newest_stamp(), Some(900));
    }

    #[test]
    fn a_spool_made_before_the_mark_takes_its_newest_pending_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.sqlite");
        {
            let mut db = Connection::open(&path).unwrap();
            let tx = db.transaction().unwrap();
            tx.execute_batch(MIGRATIONS[0]).unwrap();
            tx.pragma_update(None, "user_version", 1).unwrap();
            tx.execute_batch(
                "INSERT INTO pending (meter_id, ts, value) VALUES ('m', 600, 1), ('m', 300, 2)",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        assert_eq!(newest_stamp_at(&path).unwrap(), Some(600));
        assert_eq!(Spool::open(&path, 100).unwrap().newest_stamp(), Some(600));
    }

    #[test]
    fn a_full_spool_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("spool.sqlite"), 5).unwrap();
        let readings: Vec<_> = (0..8).map(|i| reading("m", i, i as f64)).collect();
        assert_eq!(
            spool.insert(&readings).unwrap(),
            Inserted {
                added: 8,
                dropped: 3
            }
        );
        let kept: Vec<i64> = spool.oldest(10).unwrap().iter().map(|r| r.ts).collect();
        assert_eq!(kept, [3, 4, 5, 6, 7]);
        assert_eq!(spool.stats().unwrap().dropped, 3);
    }
}
