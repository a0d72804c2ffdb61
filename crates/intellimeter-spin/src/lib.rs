//! The Spin side of the API: the core's [`Sql`], [`KeyValue`] and [`Env`]
//! over `spin_sdk`, and [`serve`], which turns a wasi-http request into a
//! core request and the core's answer back into a response.
//!
//! Stores are opened on first use, so a component only ever touches the
//! stores its route needs (and spin.toml grants it).

use futures::StreamExt;
use intellimeter_core::env::Env;
use intellimeter_core::error::{ApiError, ErrorKind};
use intellimeter_core::http::request::format_before_handler;
use intellimeter_core::storage::{
    KeyValue, Rows, Sql, SqlValue, StorageError, StorageErrorKind, Transient,
};
use intellimeter_core::{ApiRequest, ApiResponse, Route, Services, http};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::wit::wasi::keyvalue;
use spin_sdk::{sqlite, variables};
use std::cell::{Cell, OnceCell};
use std::time::{Duration, Instant};
use wasi::io::streams::{OutputStream, StreamError};

/// Serves one request with the component's core route that serves its
/// path (a component behind a wildcard trigger has several). The response
/// says how much storage work it took in a `Server-Timing` header (SQL
/// statements and key-value operations with the milliseconds they took,
/// and the milliseconds of the whole answer before its body is sent), for
/// benchmarks and browser developer tools.
pub async fn serve(request: IncomingRequest, out: ResponseOutparam, routes: &[&Route]) {
    let started = Instant::now();
    let db = SpinSql::default();
    let kv = SpinKeyValue::default();
    let mut response = match read_request(request, routes).await {
        Ok((route, api_request)) => {
            let env = SpinEnv;
            http::respond(
                route,
                &api_request,
                Services {
                    db: &db,
                    kv: &kv,
                    env: &env,
                },
            )
        }
        Err(response) => response,
    };
    response.headers.push((
        "server-timing".to_owned(),
        format!(
            "sql;dur={:.1};desc=\"{} statements\", kv;dur={:.1};desc=\"{} operations\", app;dur={:.1}",
            milliseconds(db.busy.get()),
            db.statements.get(),
            milliseconds(kv.busy.get()),
            kv.operations.get(),
            milliseconds(started.elapsed()),
        ),
    ));
    send(out, response, &db);
}

/// Reads method, path and headers, finds the route among `routes` that
/// serves the path (404 otherwise), and reads a body of at most the
/// route's limit; a larger body is refused with 413 before it is read in
/// full.
async fn read_request<'a>(
    request: IncomingRequest,
    routes: &[&'a Route],
) -> Result<(&'a Route, ApiRequest), ApiResponse> {
    let method = request.method().to_string();
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut api_request = ApiRequest::new(&method, &path_and_query);
    for (name, value) in request.headers().entries() {
        api_request.headers.push((
            name.to_ascii_lowercase(),
            String::from_utf8_lossy(&value).into_owned(),
        ));
    }
    let format = format_before_handler(&api_request);
    let route = http::route_for(routes, &api_request.path)
        .map_err(|error| http::error_response(format, &error))?;
    let max_body_bytes = route.max_body_bytes;
    let too_large = || {
        http::error_response(
            format,
            &ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than {max_body_bytes} bytes"),
            ),
        )
    };
    let declared_length = api_request
        .header("content-length")
        .and_then(|length| length.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > max_body_bytes as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = request.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            http::error_response(
                format,
                &ApiError::bad_request(format!("the request body could not be read: {error:?}")),
            )
        })?;
        if body.len() + chunk.len() > max_body_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    api_request.body = body;
    Ok((route, api_request))
}

/// Sends the response; a streamed body goes out chunk by chunk, each sent
/// before the next is read. A failure mid-stream can no longer change the
/// status: it is logged and the body is dropped without `finish`, which
/// WASI defines as an incomplete body ("the implementation should treat
/// the body as incomplete, and that an error has occurred"): Spin (like
/// the test host, both wasmtime-wasi-http) then aborts the transfer, so the
/// client sees an incomplete response, never a short file that looks whole.
/// (spin-sdk's body sink would `finish` the body when dropped, and a trap
/// drops it unfinished but unaborted, which ends the body cleanly; hence
/// the raw WASI body here.)
fn send(out: ResponseOutparam, response: ApiResponse, db: &SpinSql) {
    let headers: Vec<(String, Vec<u8>)> = response
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers).unwrap_or_else(|error| {
        eprintln!("invalid response header: {error:?}");
        Fields::new()
    });
    let outgoing = OutgoingResponse::new(fields);
    if outgoing.set_status_code(response.status).is_err() {
        eprintln!("invalid response status {}", response.status);
    }
    let body = outgoing
        .body()
        .expect("a new response's body is taken once");
    out.set(outgoing);
    let stream = body.write().expect("a new body is written once");
    if let Err(error) = write_all(&stream, &response.body) {
        eprintln!("could not send the response body: {error:?}");
        return;
    }
    if let Some(mut chunks) = response.stream {
        loop {
            match chunks.next_chunk(db) {
                Ok(Some(chunk)) => {
                    if let Err(error) = write_all(&stream, &chunk) {
                        eprintln!("the client went away mid-stream: {error:?}");
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    eprintln!("streamed body failed mid-way: {}", error.message);
                    // Dropped unfinished: the host aborts the transfer.
                    return;
                }
            }
        }
    }
    if let Err(error) = stream.blocking_flush() {
        eprintln!("could not send the response body: {error:?}");
        return;
    }
    drop(stream);
    if let Err(error) = OutgoingBody::finish(body, None) {
        eprintln!("could not finish the response body: {error:?}");
    }
}

/// Writes `bytes` as fast as the host takes them, waiting while its buffer
/// is full (one request per instance: blocking here blocks nobody else).
fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permitted = stream.check_write()?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let count = usize::try_from(permitted)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        stream.write(&bytes[..count])?;
        bytes = &bytes[count..];
    }
    Ok(())
}

/// Spin's SQLite database `default`, opened on first use.
///
/// A statement the write lock refused (`SQLITE_BUSY` after the busy
/// timeout, which a libSQL server answers at once) is run again after a
/// back-off when that is safe: outside a transaction (it did not happen),
/// `BEGIN` (nothing started) and `COMMIT` (SQLite keeps the transaction
/// and allows the retry). Inside a transaction the error goes up, and
/// `storage::in_transaction` runs the whole transaction again.
#[derive(Default)]
struct SpinSql {
    connection: OnceCell<Result<sqlite::Connection, StorageError>>,
    statements: Cell<u32>,
    /// The time spent in statements, the host's work and the rows'
    /// conversion included.
    busy: Cell<Duration>,
    in_transaction: Cell<bool>,
}

/// How often one statement is tried when the lock refuses it.
const STATEMENT_ATTEMPTS: u32 = 8;

impl SpinSql {
    fn run(&self, statement: &str, params: &[sqlite::Value]) -> Result<Rows, StorageError> {
        self.statements.set(self.statements.get() + 1);
        let started = Instant::now();
        let rows = self.run_untimed(statement, params);
        self.busy.set(self.busy.get() + started.elapsed());
        rows
    }

    fn run_untimed(&self, statement: &str, params: &[sqlite::Value]) -> Result<Rows, StorageError> {
        let connection = self
            .connection
            .get_or_init(|| {
                sqlite::Connection::open_default()
                    .map_err(|error| StorageError::other(format!("opening sqlite: {error}")))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let result = connection
            .execute(statement, params)
            .map_err(|error| sql_error(error.to_string()))?;
        Ok(Rows {
            columns: result.columns,
            rows: result
                .rows
                .into_iter()
                .map(|row| row.values.into_iter().map(from_spin_value).collect())
                .collect(),
        })
    }
}

impl Sql for SpinSql {
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        let params: Vec<sqlite::Value> = params.iter().map(to_spin_value).collect();
        let keyword = statement
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let retryable = match keyword.as_str() {
            "BEGIN" => true,
            // Busy only: an interrupted COMMIT was rolled back.
            "COMMIT" => true,
            _ => !self.in_transaction.get(),
        };
        let mut attempt = 1;
        let outcome = loop {
            match self.run(statement, &params) {
                Err(error)
                    if retryable
                        && attempt < STATEMENT_ATTEMPTS
                        && is_busy(&error, keyword == "COMMIT") =>
                {
                    attempt += 1;
                    self.back_off(attempt);
                }
                other => break other,
            }
        };
        match keyword.as_str() {
            "BEGIN" => self.in_transaction.set(outcome.is_ok()),
            "COMMIT" | "ROLLBACK" | "END" => self.in_transaction.set(false),
            _ => {}
        }
        outcome
    }

    /// 5 ms, doubling per attempt up to 320 ms, plus up to as much again
    /// at random (so that writers refused together do not retry together).
    fn back_off(&self, attempt: u32) {
        let base = 5u64 << attempt.saturating_sub(2).min(6);
        let jitter = wasi::random::random::get_random_u64() % base;
        std::thread::sleep(std::time::Duration::from_millis(base + jitter));
    }
}

/// Whether the lock refused the statement (it did not happen). For a
/// COMMIT, only a busy lock counts: an interrupted one was rolled back.
fn is_busy(error: &StorageError, commit: bool) -> bool {
    if commit {
        error.kind == StorageErrorKind::Busy
    } else {
        error.is_transient()
    }
}

/// A failed statement as the core's typed error. Spin's sqlite interface
/// reports every failure of a statement as text (`error::io(string)`), so
/// this is the one place that reads it: SQLite, and libSQL behind Spin's
/// runtime config, word these kinds as below.
fn sql_error(message: String) -> StorageError {
    let kind = if message.contains("database is locked") || message.contains("SQLITE_BUSY") {
        StorageErrorKind::Busy
    } else if message.contains("SQLITE_INTERRUPT") || message.contains("interrupted") {
        StorageErrorKind::Interrupted
    } else if message.contains("UNIQUE constraint failed") {
        StorageErrorKind::Unique
    } else {
        StorageErrorKind::Other
    };
    StorageError::new(kind, message)
}

fn to_spin_value(value: &SqlValue) -> sqlite::Value {
    match value {
        SqlValue::Null => sqlite::Value::Null,
        SqlValue::Integer(n) => sqlite::Value::Integer(*n),
        SqlValue::Real(x) => sqlite::Value::Real(*x),
        SqlValue::Text(text) => sqlite::Value::Text(text.clone()),
        SqlValue::Blob(bytes) => sqlite::Value::Blob(bytes.clone()),
    }
}

fn from_spin_value(value: sqlite::Value) -> SqlValue {
    match value {
        sqlite::Value::Null => SqlValue::Null,
        sqlite::Value::Integer(n) => SqlValue::Integer(n),
        sqlite::Value::Real(x) => SqlValue::Real(x),
        sqlite::Value::Text(text) => SqlValue::Text(text),
        sqlite::Value::Blob(bytes) => SqlValue::Blob(bytes),
    }
}

/// Spin's key-value store `default` through `wasi:keyvalue` (store and
/// batch: `set_many` and `delete_many` are one MSET or DEL on Redis and
/// one transaction on the embedded store), opened on first use: one open
/// per request, because opening a Redis-backed store costs a PING.
#[derive(Default)]
struct SpinKeyValue {
    bucket: OnceCell<Result<keyvalue::store::Bucket, StorageError>>,
    operations: Cell<u32>,
    /// The time spent in operations.
    busy: Cell<Duration>,
}

impl SpinKeyValue {
    fn bucket(&self) -> Result<&keyvalue::store::Bucket, StorageError> {
        self.operations.set(self.operations.get() + 1);
        self.bucket
            .get_or_init(|| {
                keyvalue::store::open("default")
                    .map_err(|error| StorageError::other(format!("opening key-value: {error}")))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `operation` on the store, timed.
    fn timed<T>(
        &self,
        operation: impl FnOnce(&keyvalue::store::Bucket) -> Result<T, keyvalue::store::Error>,
    ) -> Result<T, StorageError> {
        let bucket = self.bucket()?;
        let started = Instant::now();
        let outcome = operation(bucket).map_err(|error| StorageError::other(error.to_string()));
        self.busy.set(self.busy.get() + started.elapsed());
        outcome
    }
}

impl KeyValue for SpinKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.timed(|bucket| bucket.get(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.timed(|bucket| bucket.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.timed(|bucket| bucket.delete(key))
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        self.timed(|bucket| keyvalue::batch::set_many(bucket, entries))
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StorageError> {
        self.timed(|bucket| keyvalue::batch::delete_many(bucket, keys))
    }
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Wall clock, WASI randomness, Spin variables, stderr.
struct SpinEnv;

impl Env for SpinEnv {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as i64)
            .unwrap_or(0)
    }

    fn fill_random(&self, buf: &mut [u8]) {
        let bytes = wasi::random::random::get_random_bytes(buf.len() as u64);
        buf.copy_from_slice(&bytes[..buf.len()]);
    }

    fn variable(&self, name: &str) -> Option<String> {
        variables::get(name).ok()
    }

    fn log(&self, line: &str) {
        eprintln!("{line}");
    }
}
