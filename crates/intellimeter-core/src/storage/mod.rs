//! The storage the core needs, as traits. The Spin layer implements them
//! over `spin_sdk::sqlite` / `spin_sdk::key_value`; the unit tests over
//! in-memory fakes. The core never opens anything itself.

pub mod migrations;

use std::fmt;

/// One SQL value, as Spin's `sqlite` interface carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for SqlValue {
    fn from(n: i64) -> Self {
        SqlValue::Integer(n)
    }
}

impl From<&str> for SqlValue {
    fn from(text: &str) -> Self {
        SqlValue::Text(text.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(text: String) -> Self {
        SqlValue::Text(text)
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(bytes: Vec<u8>) -> Self {
        SqlValue::Blob(bytes)
    }
}

impl From<bool> for SqlValue {
    fn from(flag: bool) -> Self {
        SqlValue::Integer(i64::from(flag))
    }
}

/// A whole result set (Spin's interface has no cursor).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlValue>>,
}

/// What kind of storage failure, as the host that met it says: callers
/// branch on this, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The write lock was not to be had (`SQLITE_BUSY` after the busy
    /// timeout): the statement did not happen and may be run again.
    Busy,
    /// The database interrupted the statement (a libSQL server ending a
    /// transaction that waited for or held the lock too long): the
    /// transaction was rolled back and may be run again from its start.
    Interrupted,
    /// A UNIQUE constraint refused the write.
    Unique,
    /// Anything else: a fault to log.
    Other,
}

/// A storage failure: its kind, and the store's own message for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    pub kind: StorageErrorKind,
    pub message: String,
}

impl StorageError {
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }

    /// A failure of no particular kind (a row of the wrong shape, a store
    /// that does not open).
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(StorageErrorKind::Other, message)
    }

    /// True when a UNIQUE constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        self.kind == StorageErrorKind::Unique
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StorageError {}

/// One SQLite connection: one statement per call, as Spin's interface.
pub trait Sql {
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, StorageError>;

    /// Waits before `attempt` (2, 3, …) of something the write lock refused
    /// ([`Transient`]), so that retries spread out instead of colliding
    /// again. Hosts that can sleep do (the Spin layer: exponential, with
    /// jitter); the default, for tests, does not.
    fn back_off(&self, _attempt: u32) {}
}

/// A key-value store with byte values, as Spin's interfaces: no expiry and
/// no atomic increment (anything that must count lives in SQLite).
///
/// The `_many` operations are `wasi:keyvalue/batch`: one round trip on
/// Redis (MSET, DEL), one transaction on Spin's embedded store, so what
/// they write is written whole. The defaults do one operation per key, for
/// the in-memory stores of the tests. There is no `get_many`: Spin 3.6's
/// Redis store sends it as `KEYS` (crates/key-value-redis/src/store.rs),
/// which fails for two keys or more.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// (The shapes are the WIT bindings' own, so the Spin layer passes
    /// them on without a copy.)
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        entries
            .iter()
            .try_for_each(|(key, value)| self.set(key, value))
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StorageError> {
        keys.iter().try_for_each(|key| self.delete(key))
    }
}

/// Typed access to one result row by column index.
pub struct Row<'a>(pub &'a [SqlValue]);

impl Row<'_> {
    pub fn int(&self, index: usize) -> Result<i64, StorageError> {
        match self.0.get(index) {
            Some(SqlValue::Integer(n)) => Ok(*n),
            other => Err(unexpected(index, "integer", other)),
        }
    }

    pub fn text(&self, index: usize) -> Result<String, StorageError> {
        match self.0.get(index) {
            Some(SqlValue::Text(text)) => Ok(text.clone()),
            other => Err(unexpected(index, "text", other)),
        }
    }

    /// [`Row::int`], or `None` for NULL.
    pub fn optional_int(&self, index: usize) -> Result<Option<i64>, StorageError> {
        match self.0.get(index) {
            Some(SqlValue::Null) => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    /// [`Row::text`], or `None` for NULL.
    pub fn optional_text(&self, index: usize) -> Result<Option<String>, StorageError> {
        match self.0.get(index) {
            Some(SqlValue::Null) => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    pub fn blob(&self, index: usize) -> Result<Vec<u8>, StorageError> {
        match self.0.get(index) {
            Some(SqlValue::Blob(bytes)) => Ok(bytes.clone()),
            other => Err(unexpected(index, "blob", other)),
        }
    }
}

fn unexpected(index: usize, wanted: &str, found: Option<&SqlValue>) -> StorageError {
    StorageError::other(format!(
        "column {index}: expected {wanted}, found {found:?}"
    ))
}

impl Rows {
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|row| Row(row))
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.rows.first().map(|row| Row(row))
    }
}

/// Errors that say the write lock was not to be had right now (SQLite's
/// `SQLITE_BUSY` after its busy timeout, or a libSQL server interrupting a
/// transaction that waited or held the lock too long): the transaction
/// was rolled back and may simply be run again.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StorageError {
    fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            StorageErrorKind::Busy | StorageErrorKind::Interrupted
        )
    }
}

/// How often [`in_transaction`] runs a body whose transaction was refused
/// or interrupted before it gives up (with [`Sql::back_off`] between).
pub const TRANSACTION_ATTEMPTS: u32 = 6;

/// Runs `body` inside `BEGIN IMMEDIATE … COMMIT` on one connection, rolling
/// back when it fails. IMMEDIATE takes the write lock up front, so two
/// writers queue on SQLite's busy timeout instead of failing mid-way. A
/// transaction refused or interrupted by the lock ([`Transient`]) is run
/// again from the start after [`Sql::back_off`], up to
/// [`TRANSACTION_ATTEMPTS`] times; a failed `COMMIT` is never run again
/// here (it may have landed; the host retries a COMMIT the lock refused,
/// which SQLite allows).
pub fn in_transaction<T, E>(
    db: &dyn Sql,
    mut body: impl FnMut(&dyn Sql) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError> + Transient,
{
    let mut attempt = 1;
    loop {
        let outcome = match db.execute("BEGIN IMMEDIATE", &[]) {
            Err(error) => Err(E::from(error)),
            Ok(_) => match body(db) {
                Ok(value) => {
                    if let Err(error) = db.execute("COMMIT", &[]) {
                        let _ = db.execute("ROLLBACK", &[]);
                        return Err(error.into());
                    }
                    return Ok(value);
                }
                Err(error) => {
                    // The original error is what matters; a failed rollback
                    // leaves the transaction to be discarded when the
                    // connection closes.
                    let _ = db.execute("ROLLBACK", &[]);
                    Err(error)
                }
            },
        };
        match outcome {
            Err(error) if error.is_transient() && attempt < TRANSACTION_ATTEMPTS => {
                attempt += 1;
                db.back_off(attempt);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records statements; fails those named in `failing` once each.
    struct Script {
        log: RefCell<Vec<String>>,
        waits: RefCell<Vec<u32>>,
        failing: RefCell<Vec<(&'static str, StorageErrorKind)>>,
    }

    impl Script {
        fn new(failing: &[(&'static str, StorageErrorKind)]) -> Self {
            Script {
                log: RefCell::new(Vec::new()),
                waits: RefCell::new(Vec::new()),
                failing: RefCell::new(failing.to_vec()),
            }
        }
    }

    impl Sql for Script {
        fn execute(&self, statement: &str, _: &[SqlValue]) -> Result<Rows, StorageError> {
            self.log.borrow_mut().push(statement.to_owned());
            let mut failing = self.failing.borrow_mut();
            if let Some(at) = failing.iter().position(|(s, _)| *s == statement) {
                let (_, kind) = failing.remove(at);
                return Err(StorageError::new(kind, format!("{kind:?}")));
            }
            Ok(Rows::default())
        }

        fn back_off(&self, attempt: u32) {
            self.waits.borrow_mut().push(attempt);
        }
    }

    #[test]
    fn an_interrupted_transaction_runs_again() {
        let db = Script::new(&[("UPDATE x", StorageErrorKind::Interrupted)]);
        let runs = RefCell::new(0);
        let result = in_transaction(&db, |db| {
            *runs.borrow_mut() += 1;
            db.execute("UPDATE x", &[])
        });
        assert!(result.is_ok());
        assert_eq!(*runs.borrow(), 2);
        assert_eq!(
            *db.log.borrow(),
            [
                "BEGIN IMMEDIATE",
                "UPDATE x",
                "ROLLBACK",
                "BEGIN IMMEDIATE",
                "UPDATE x",
                "COMMIT"
            ]
        );
    }

    #[test]
    fn a_busy_lock_is_retried_a_bounded_number_of_times() {
        let busy = StorageErrorKind::Busy;
        let db = Script::new(&[("BEGIN IMMEDIATE", busy); TRANSACTION_ATTEMPTS as usize]);
        let result = in_transaction(&db, |db| db.execute("UPDATE x", &[]));
        assert_eq!(result.unwrap_err().kind, busy);
        assert_eq!(db.log.borrow().len(), 6, "six attempts, no body run");
        assert_eq!(
            *db.waits.borrow(),
            [2, 3, 4, 5, 6],
            "a wait before each retry"
        );

        // Refused five times, taken the sixth.
        let db = Script::new(&[("BEGIN IMMEDIATE", busy); 5]);
        assert!(in_transaction(&db, |db| db.execute("UPDATE x", &[])).is_ok());
        assert_eq!(db.log.borrow().last().unwrap(), "COMMIT");
    }

    #[test]
    fn other_errors_and_failed_commits_are_not_retried() {
        let db = Script::new(&[("UPDATE x", StorageErrorKind::Unique)]);
        assert!(in_transaction(&db, |db| db.execute("UPDATE x", &[])).is_err());
        assert_eq!(
            *db.log.borrow(),
            ["BEGIN IMMEDIATE", "UPDATE x", "ROLLBACK"]
        );

        // A COMMIT that failed may have landed: running the body again
        // could apply it twice.
        let db = Script::new(&[("COMMIT", StorageErrorKind::Interrupted)]);
        assert!(in_transaction(&db, |db| db.execute("UPDATE x", &[])).is_err());
        assert_eq!(
            *db.log.borrow(),
            ["BEGIN IMMEDIATE", "UPDATE x", "COMMIT", "ROLLBACK"]
        );
    }
}
