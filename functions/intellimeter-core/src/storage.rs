//! The storage the core needs, as traits. The Spin layer implements them
//! over `spin_sdk::sqlite` / `spin_sdk::key_value`; the unit tests over
//! in-memory fakes. The core never opens anything itself.

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

/// A storage failure. SQLite's own message is kept for the logs and for
/// recognising constraint violations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    pub message: String,
}

impl StorageError {
    pub fn new(message: impl Into<String>) -> Self {
        StorageError {
            message: message.into(),
        }
    }

    /// True when a UNIQUE constraint refused the write (SQLite and libSQL
    /// both say `UNIQUE constraint failed: table.column`).
    pub fn is_unique_violation(&self) -> bool {
        self.message.contains("UNIQUE constraint failed")
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
}

/// A key-value store with byte values, as Spin's interface: no expiry and
/// no atomic increment (anything that must count lives in SQLite).
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    fn delete(&self, key: &str) -> Result<(), StorageError>;
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

    pub fn blob(&self, index: usize) -> Result<Vec<u8>, StorageError> {
        match self.0.get(index) {
            Some(SqlValue::Blob(bytes)) => Ok(bytes.clone()),
            other => Err(unexpected(index, "blob", other)),
        }
    }
}

fn unexpected(index: usize, wanted: &str, found: Option<&SqlValue>) -> StorageError {
    StorageError::new(format!(
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

/// Runs `body` inside `BEGIN IMMEDIATE … COMMIT` on one connection, rolling
/// back when it fails. IMMEDIATE takes the write lock up front, so two
/// writers queue on SQLite's busy timeout instead of failing mid-way.
pub fn in_transaction<T, E>(
    db: &dyn Sql,
    body: impl FnOnce(&dyn Sql) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError>,
{
    db.execute("BEGIN IMMEDIATE", &[])?;
    match body(db) {
        Ok(value) => {
            if let Err(error) = db.execute("COMMIT", &[]) {
                let _ = db.execute("ROLLBACK", &[]);
                return Err(error.into());
            }
            Ok(value)
        }
        Err(error) => {
            // The original error is what matters; a failed rollback leaves
            // the transaction to be discarded when the connection closes.
            let _ = db.execute("ROLLBACK", &[]);
            Err(error)
        }
    }
}
