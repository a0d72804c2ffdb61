//! `fermyon:spin/sqlite@2.0.0`, as Spin's `spin-factor-sqlite` with its
//! in-process backend (`spin-sqlite-inproc`) does it.
//!
//! * Only the label `default` is configured (Spin without a runtime config):
//!   the file `<state_dir>/sqlite_db.db`.
//! * `open(label)`: a label not in the component's `sqlite_databases` →
//!   `access-denied`; an unconfigured label → `no-such-database` (the host
//!   refuses at startup to run an app that lists one); more than 256 open
//!   connections in one instance → `io("too many connections opened")`.
//! * Every `open` is a NEW rusqlite connection (Spin's connection-creator
//!   contract), opened lazily on its first `execute`. So `BEGIN` / `COMMIT`
//!   across several `execute` calls on one connection work, and two
//!   connections (or two instances) see only each other's committed writes.
//! * `execute(statement, params)`: `prepare_cached` of exactly one statement
//!   (rusqlite rejects several), params bound positionally, all rows returned
//!   at once. Any SQLite error → `io(<message>)`. A result larger than
//!   [`MAX_HOST_BUFFERED_BYTES`] (counted as Spin counts it) →
//!   `io("query result exceeds limit of N bytes")`.
//! * The blocking SQLite work runs on tokio's blocking pool.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::table::Table;

pub use crate::kv::MAX_HOST_BUFFERED_BYTES;

/// Spin's connection table capacity per instance.
const CONNECTION_TABLE_CAPACITY: usize = 256;

/// File name of the default database in the state directory (as `.spin/`).
pub const DEFAULT_DB_FILENAME: &str = "sqlite_db.db";

/// The labels this host can back with a database.
pub fn is_configured(label: &str) -> bool {
    label == "default"
}

/// One guest connection: its own rusqlite connection, opened on first use.
pub struct DbConnection {
    path: PathBuf,
    connection: OnceLock<Arc<Mutex<rusqlite::Connection>>>,
}

impl DbConnection {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            connection: OnceLock::new(),
        }
    }

    fn db_connection(&self) -> Result<Arc<Mutex<rusqlite::Connection>>, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let connection =
            rusqlite::Connection::open(&self.path).map_err(|e| Error::Io(e.to_string()))?;
        Ok(self
            .connection
            .get_or_init(|| Arc::new(Mutex::new(connection)))
            .clone())
    }

    /// Executes one statement with `params` and returns all rows.
    pub async fn query(
        self: &Arc<Self>,
        statement: &str,
        params: Vec<Value>,
        max_result_bytes: usize,
    ) -> Result<QueryResult, Error> {
        let this = self.clone();
        let statement = statement.to_owned();
        tokio::task::spawn_blocking(move || {
            let connection = this.db_connection()?;
            let guard = connection.lock().unwrap_or_else(|e| e.into_inner());
            execute_query(&guard, &statement, params, max_result_bytes)
        })
        .await
        .map_err(|e| Error::Io(format!("internal runtime error: {e}")))?
    }
}

/// The body of Spin's `execute_query`.
fn execute_query(
    conn: &rusqlite::Connection,
    statement: &str,
    params: Vec<Value>,
    max_result_bytes: usize,
) -> Result<QueryResult, Error> {
    let io = |e: rusqlite::Error| Error::Io(e.to_string());
    let mut prepared = conn.prepare_cached(statement).map_err(io)?;
    let columns: Vec<String> = prepared.column_names().map(ToOwned::to_owned).collect();
    let column_count = columns.len();
    let params = params.into_iter().map(|value| match value {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(r) => SqlValue::Real(r),
        Value::Text(t) => SqlValue::Text(t),
        Value::Blob(b) => SqlValue::Blob(b),
    });
    let mut rows = prepared
        .query(rusqlite::params_from_iter(params))
        .map_err(io)?;

    let mut byte_count = std::mem::size_of::<QueryResult>();
    let mut result_rows = Vec::new();
    while let Some(row) = rows.next().map_err(io)? {
        let mut values = Vec::with_capacity(column_count);
        for column in 0..column_count {
            let value = match row.get_ref(column).map_err(io)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(r) => Value::Real(r),
                // Spin unwraps here (a host panic, reported to the guest as
                // an internal runtime error); this host reports it as io.
                ValueRef::Text(t) => Value::Text(
                    String::from_utf8(t.to_vec())
                        .map_err(|_| Error::Io("internal runtime error".into()))?,
                ),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            };
            values.push(value);
        }
        byte_count += values.iter().map(memory_size).sum::<usize>();
        if byte_count > max_result_bytes {
            return Err(Error::Io(format!(
                "query result exceeds limit of {max_result_bytes} bytes"
            )));
        }
        result_rows.push(RowResult { values });
    }
    Ok(QueryResult {
        columns,
        rows: result_rows,
    })
}

/// Spin's `Value::memory_size`.
fn memory_size(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Null | Value::Integer(_) | Value::Real(_) => 0,
            Value::Text(t) => t.len(),
            Value::Blob(b) => b.len(),
        }
}

/// Faults a test injects into the app's SQL (fault injection is what the
/// test host is for; Spin has none): [`SqlFaults::arm`] makes one later
/// statement fail as an I/O error would.
#[derive(Default)]
pub struct SqlFaults(std::sync::Mutex<Option<(String, u32)>>);

impl SqlFaults {
    /// The statement after the next `skip` whose text contains `pattern`
    /// fails, once.
    pub fn arm(&self, pattern: &str, skip: u32) {
        *self.0.lock().unwrap() = Some((pattern.to_owned(), skip));
    }

    fn check(&self, statement: &str) -> Result<(), Error> {
        let mut armed = self.0.lock().unwrap();
        if let Some((pattern, skip)) = armed.as_mut()
            && statement.contains(pattern.as_str())
        {
            if *skip == 0 {
                *armed = None;
                return Err(Error::Io("injected fault (test host)".into()));
            }
            *skip -= 1;
        }
        Ok(())
    }
}

/// Where the app's SQL time goes, for benchmarks (Spin has no such
/// thing; it changes nothing the guest sees): per statement shape, how
/// many ran, how long the guest waited for them, and how long the guest
/// worked before each (since its previous statement ended, or since its
/// instance was made).
#[derive(Default)]
pub struct SqlProfile(std::sync::Mutex<std::collections::BTreeMap<String, StatementCost>>);

/// What one statement shape cost ([`SqlProfile`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatementCost {
    pub count: u64,
    pub parameters: u64,
    pub rows: u64,
    pub time: std::time::Duration,
    pub guest_before: std::time::Duration,
}

impl SqlProfile {
    fn record(
        &self,
        statement: &str,
        parameters: usize,
        rows: usize,
        guest_before: std::time::Duration,
        time: std::time::Duration,
    ) {
        let mut costs = self.0.lock().unwrap();
        let cost = costs.entry(shape(statement)).or_default();
        cost.count += 1;
        cost.guest_before += guest_before;
        cost.parameters += parameters as u64;
        cost.rows += rows as u64;
        cost.time += time;
    }

    /// The costs since the last call, by statement shape; starts afresh.
    pub fn take(&self) -> std::collections::BTreeMap<String, StatementCost> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A statement's text with its whitespace collapsed, runs of placeholders
/// (`(?,?),(?,?)…`) written `…` and cut to 100 characters: statements
/// that differ only in how many rows they carry share a shape. Reads no
/// further than it needs and allocates little (it runs
/// between two statements, on the guest's time).
fn shape(statement: &str) -> String {
    const LENGTH: usize = 100;
    let (mut out, mut run, mut placeholders) = (String::new(), String::new(), 0);
    let flush = |out: &mut String, run: &mut String, placeholders: &mut usize| {
        out.push_str(if *placeholders > 2 { " … " } else { run });
        run.clear();
        *placeholders = 0;
    };
    let mut after_space = true;
    for c in statement.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        if c == ' ' && after_space {
            continue;
        }
        after_space = c == ' ';
        if matches!(c, '(' | '?' | ',' | ')' | ' ') || c.is_ascii_digit() && placeholders > 0 {
            placeholders += usize::from(c == '?');
            if placeholders <= 2 {
                run.push(c);
            }
            continue;
        }
        flush(&mut out, &mut run, &mut placeholders);
        out.push(c);
        if out.len() >= LENGTH {
            break;
        }
    }
    flush(&mut out, &mut run, &mut placeholders);
    out.trim_end().chars().take(LENGTH).collect()
}

/// Per-instance state of the sqlite interface.
pub struct SqliteInstance {
    allowed: Arc<HashSet<String>>,
    default_path: Arc<Path>,
    connections: Table<Arc<DbConnection>>,
    max_result_bytes: usize,
    faults: Arc<SqlFaults>,
    profile: Arc<SqlProfile>,
    /// When the guest's previous statement ended (or the instance was made).
    last_statement_end: Mutex<std::time::Instant>,
}

impl SqliteInstance {
    pub fn new(allowed: Arc<HashSet<String>>, default_path: Arc<Path>) -> Self {
        Self {
            allowed,
            default_path,
            connections: Table::new(CONNECTION_TABLE_CAPACITY),
            max_result_bytes: MAX_HOST_BUFFERED_BYTES,
            faults: Arc::default(),
            profile: Arc::default(),
            last_statement_end: Mutex::new(std::time::Instant::now()),
        }
    }

    /// Records this instance's statements in the app's profile.
    pub fn with_profile(mut self, profile: Arc<SqlProfile>) -> Self {
        self.profile = profile;
        self
    }

    /// Shares the app's injected faults with this instance.
    pub fn with_faults(mut self, faults: Arc<SqlFaults>) -> Self {
        self.faults = faults;
        self
    }

    /// Lowers the result-size limit (for tests of the limit).
    pub fn with_max_result_bytes(mut self, max: usize) -> Self {
        self.max_result_bytes = max;
        self
    }

    /// `connection.open(label)`; returns the handle's rep.
    pub fn open_connection(&mut self, label: &str) -> Result<u32, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        if !is_configured(label) {
            return Err(Error::NoSuchDatabase);
        }
        let connection = Arc::new(DbConnection::new(self.default_path.to_path_buf()));
        self.connections
            .push(connection)
            .ok_or_else(|| Error::Io("too many connections opened".into()))
    }

    /// `connection.execute(statement, params)`.
    pub async fn execute_statement(
        &self,
        rep: u32,
        statement: &str,
        params: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let connection = self
            .connections
            .get(rep)
            .ok_or(Error::InvalidConnection)?
            .clone();
        self.faults.check(statement)?;
        let (started, parameters) = (std::time::Instant::now(), params.len());
        let result = connection
            .query(statement, params, self.max_result_bytes)
            .await;
        let rows = result.as_ref().map_or(0, |result| result.rows.len());
        let ended = std::time::Instant::now();
        let mut last_end = self.last_statement_end.lock().unwrap();
        let guest_before = started.saturating_duration_since(*last_end);
        *last_end = ended;
        drop(last_end);
        self.profile
            .record(statement, parameters, rows, guest_before, ended - started);
        result
    }

    /// Drops a connection handle (closing its rusqlite connection).
    pub fn close(&mut self, rep: u32) {
        self.connections.remove(rep);
    }
}

impl sqlite::Host for SqliteInstance {}

impl sqlite::HostConnection for SqliteInstance {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<sqlite::Connection>, Error>> {
        Ok(self.open_connection(&database).map(Resource::new_own))
    }

    async fn execute(
        &mut self,
        connection: Resource<sqlite::Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(self
            .execute_statement(connection.rep(), &statement, parameters)
            .await)
    }

    async fn drop(&mut self, connection: Resource<sqlite::Connection>) -> wasmtime::Result<()> {
        self.close(connection.rep());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn statements_of_any_row_count_share_a_shape() {
        let rows = |n: usize| {
            format!(
                "INSERT INTO t (a, b)\n   VALUES {} ON CONFLICT DO NOTHING",
                vec!["(?1,?,?)"; n].join(",")
            )
        };
        assert_eq!(
            shape(&rows(1000)),
            "INSERT INTO t (a, b) VALUES … ON CONFLICT DO NOTHING"
        );
        assert_eq!(shape(&rows(1000)), shape(&rows(7)));
        assert_eq!(
            shape("SELECT id FROM t WHERE x = ? AND y IN (?, ?)"),
            "SELECT id FROM t WHERE x = ? AND y IN (?, ?)"
        );
        assert_eq!(shape(&"SELECT 1 ".repeat(50)).chars().count(), 100);
    }
}
