//! Helpers shared by the end-to-end tests: an app served from the real
//! spin.toml, with its own state directory, and small HTTP helpers.
//!
//! The app is served by the test host, or by the real Spin CLI when the
//! `E2E_SPIN` environment variable names its binary (`tests/run` does
//! both when Spin is available): the same tests, two hosts, so that the
//! test host can never be more lenient than Spin unnoticed.

#![allow(dead_code)] // each test binary uses a different subset

pub mod openapi;
pub mod well_formed;

use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
pub use test_host::client::{Response, request};
use test_host::{HostConfig, RunningApp, serve};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";
pub const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>"#;

/// Every test has a time limit.
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(180), future)
        .await
        .expect("the test took longer than 180 s")
}

pub struct App {
    host: Host,
    _state: std::sync::Arc<tempfile::TempDir>,
    variables: BTreeMap<String, String>,
    /// The Spin log's file name in the state directory.
    log: String,
}

enum Host {
    TestHost(RunningApp),
    Spin(SpinProcess),
}

pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

impl App {
    pub async fn start() -> App {
        Self::start_with(Some(ADMIN_TOKEN)).await
    }

    pub async fn start_with(admin_token: Option<&str>) -> App {
        let mut variables = BTreeMap::new();
        if let Some(token) = admin_token {
            variables.insert("admin_token".to_owned(), token.to_owned());
        }
        Self::start_with_variables(variables).await
    }

    /// The app with [`ADMIN_TOKEN`] and these Spin variables set.
    pub async fn start_with_settings(settings: &[(&str, &str)]) -> App {
        let mut variables = BTreeMap::from([("admin_token".to_owned(), ADMIN_TOKEN.to_owned())]);
        for (name, value) in settings {
            variables.insert((*name).to_owned(), (*value).to_owned());
        }
        Self::start_with_variables(variables).await
    }

    /// The app with exactly these Spin variables set.
    pub async fn start_with_variables(variables: BTreeMap<String, String>) -> App {
        let state = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::instance(state, variables, "spin.log", true).await
    }

    /// Another instance of the app on the same stores (the same database
    /// and key-value files, or the same Redis and sqld), as when several
    /// Spin instances serve one site.
    pub async fn another_instance(&self) -> App {
        static INSTANCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2);
        let number = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = format!("spin-{number}.log");
        Self::instance(self._state.clone(), self.variables.clone(), &log, false).await
    }

    async fn instance(
        state: std::sync::Arc<tempfile::TempDir>,
        variables: BTreeMap<String, String>,
        log: &str,
        first: bool,
    ) -> App {
        let host = match std::env::var_os("E2E_SPIN") {
            Some(spin) => Host::Spin(
                SpinProcess::start(spin.into(), state.path(), &variables, log, first).await,
            ),
            None => Host::TestHost(
                serve(HostConfig {
                    manifest_path: manifest(),
                    state_dir: state.path().to_owned(),
                    listen: "127.0.0.1:0".parse().unwrap(),
                    variables: variables.clone(),
                })
                .await
                .expect(
                    "the test host serves spin.toml (build the components first: bash functions/build-components)",
                ),
            ),
        };
        App {
            host,
            _state: state,
            variables,
            log: log.to_owned(),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The test host serving the app, when it is not Spin (peak guest
    /// memory is measured there).
    pub fn test_host(&self) -> Option<&RunningApp> {
        match &self.host {
            Host::TestHost(app) => Some(app),
            Host::Spin(_) => None,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match &self.host {
            Host::TestHost(app) => app.addr(),
            Host::Spin(spin) => spin.addr,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        checked_request(
            &self.base_url(),
            method,
            path,
            headers,
            body.as_bytes().to_vec(),
        )
        .await
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Response {
        self.send("GET", path, &auth.headers(), "").await
    }

    /// Sends `body` as JSON.
    pub async fn json(&self, method: &str, path: &str, auth: &Auth, body: Json) -> Response {
        let mut headers = auth.headers();
        headers.push(("content-type", "application/json"));
        self.send(method, path, &headers, &body.to_string()).await
    }

    pub async fn provision(&self, name: &str, username: &str) -> Json {
        let response = self
            .json(
                "POST",
                "/admin/projects",
                &Auth::Bearer(format!("Bearer {ADMIN_TOKEN}")),
                json!({"name": name, "timezone": "America/Toronto", "username": username,
                       "password": "password-1", "email": format!("{username}@example.com")}),
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text());
        parse(&response)
    }

    /// Logs in with username and password; returns the session cookie.
    pub async fn log_in(&self, username: &str, password: &str) -> Auth {
        let response = self
            .json(
                "PUT",
                "/session",
                &Auth::None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let cookie = response.header("set-cookie").expect("a session cookie");
        Auth::Cookie(cookie.split(';').next().unwrap().to_owned())
    }

    pub async fn api_key(&self, auth: &Auth) -> String {
        let response = self.get("/key?format=json", auth).await;
        assert_eq!(response.status, 200, "{}", response.text());
        parse(&response)["key"].as_str().unwrap().to_owned()
    }
}

/// A provisioned site (America/Toronto): its ingest token and a logged-in
/// user.
pub struct Site {
    pub ingest: String,
    pub user: Auth,
}

impl App {
    /// Provisions a site with user `username` (password `password-1`) and
    /// logs the user in.
    pub async fn site(&self, name: &str, username: &str) -> Site {
        let provisioned = self.provision(name, username).await;
        Site {
            ingest: provisioned["ingest_token"].as_str().unwrap().to_owned(),
            user: self.log_in(username, "password-1").await,
        }
    }
}

#[derive(Clone)]
pub enum Auth {
    None,
    Cookie(String),
    Bearer(String),
}

impl Auth {
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        match self {
            Auth::None => vec![],
            Auth::Cookie(cookie) => vec![("cookie", cookie.as_str())],
            Auth::Bearer(token) => vec![("authorization", token.as_str())],
        }
    }

    pub fn key(key: &str) -> Auth {
        Auth::Bearer(format!("Bearer {key}"))
    }
}

pub fn parse(response: &Response) -> Json {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

#[track_caller]
pub fn assert_error(response: &Response, status: u16, message_part: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = parse(response);
    let message = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"));
    assert!(
        message.contains(message_part),
        "{message:?} does not say {message_part:?}"
    );
}

pub fn is_local_date_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 19
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b' ',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        })
}

/// Sends a request whose `Content-Length` announces `declared` bytes but
/// only the first `sent` of them, over a plain socket, and reads what the
/// server answers: the way a server that refuses an oversized body before
/// reading it looks to a client. Returns the status code and the body.
pub async fn oversized_request(
    app: &App,
    path: &str,
    headers: &[(&str, &str)],
    declared: usize,
    sent: usize,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {declared}\r\nconnection: close\r\n",
        app.addr()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before it has read all of this.
    let _ = stream.write_all(&vec![b'x'; sent]).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

impl Drop for App {
    /// A failing test shows what Spin logged (the test host logs to stderr
    /// itself); the state directory goes away with the app.
    fn drop(&mut self) {
        if std::thread::panicking() && matches!(self.host, Host::Spin(_)) {
            let log =
                std::fs::read_to_string(self._state.path().join(&self.log)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- last lines of spin.log ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// `spin up` of the repository's spin.toml, and for the scale-out
/// configuration the Redis and libSQL servers it uses, each in its own
/// process group (Spin serves from a child process that a kill of
/// `spin up` alone would leave running), killed with their groups when
/// dropped (Spin first).
struct SpinProcess {
    addr: SocketAddr,
    processes: Vec<Daemon>,
}

/// A process in a process group of its own, killed with it when dropped.
struct Daemon(Child);

impl Daemon {
    fn spawn(command: &mut Command, log: &Path) -> Daemon {
        use std::os::unix::process::CommandExt;
        let file = std::fs::File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let group = self.0.id() as i32;
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created for this child; it touches no memory.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now (bound, read, released).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn wait_until_served(base: &str, path: &str, log: &Path) {
    for _ in 0..300 {
        if let Ok(response) = request(base, "GET", path, &[], Vec::new()).await
            && response.status == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("nothing served {base}{path} within 30 s:\n{log}");
}

impl SpinProcess {
    /// With `E2E_REDIS` and `E2E_SQLD` naming `redis-server` and `sqld`, the
    /// app runs on the scale-out configuration: a Redis key-value store and
    /// a libSQL database of its own, started by the `first` instance; the
    /// others use the same ones (and the same state directory).
    async fn start(
        spin: PathBuf,
        state: &Path,
        variables: &BTreeMap<String, String>,
        log: &str,
        first: bool,
    ) -> Self {
        let mut processes = Vec::new();
        let mut runtime_config = None;
        let existing = state.join("runtime-config.toml");
        if !first && existing.exists() {
            runtime_config = Some(existing);
        } else if let (Some(redis), Some(sqld)) =
            (std::env::var_os("E2E_REDIS"), std::env::var_os("E2E_SQLD"))
        {
            let (redis_addr, sqld_addr) = (free_port(), free_port());
            processes.push(Daemon::spawn(
                Command::new(redis)
                    .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .arg("--port")
                    .arg(redis_addr.port().to_string()),
                &state.join("redis.log"),
            ));
            let sqld_log = state.join("sqld.log");
            processes.push(Daemon::spawn(
                Command::new(sqld)
                    .arg("-d")
                    .arg(state.join("sqld"))
                    .arg("--http-listen-addr")
                    .arg(sqld_addr.to_string()),
                &sqld_log,
            ));
            wait_until_served(&format!("http://{sqld_addr}"), "/health", &sqld_log).await;
            let config = state.join("runtime-config.toml");
            std::fs::write(
                &config,
                format!(
                    "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://{redis_addr}\"\n\n\
                     [sqlite_database.default]\ntype = \"libsql\"\nurl = \"http://{sqld_addr}\"\ntoken = \"unused\"\n"
                ),
            )
            .unwrap();
            runtime_config = Some(config);
        }
        let addr = free_port();
        let mut command = Command::new(&spin);
        command.arg("up");
        if let Some(config) = runtime_config {
            command.arg("--runtime-config-file").arg(config);
        }
        command
            .arg("--from")
            .arg(manifest())
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(state.join("spin"));
        for (name, value) in variables {
            command.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        let spin_log = state.join(log);
        // Spin goes first when dropped: it is the last one pushed, and
        // `Drop` below kills in reverse.
        processes.push(Daemon::spawn(&mut command, &spin_log));
        let process = SpinProcess { addr, processes };
        wait_until_served(&format!("http://{addr}"), "/health", &spin_log).await;
        process
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        while self.processes.pop().is_some() {}
    }
}

/// 2019-10-30 00:00 in America/Toronto (EDT), the sites' time zone: the
/// first reading of [`readings`].
pub const READINGS_START: i64 = 1_572_408_000;

/// `days` days of 5-minute readings from [`READINGS_START`] of each
/// meter (`meter00`, `meter01`, …): meter `i` uses `(i + 1) × 0.1` per
/// interval, and meter 0 has one interval of 5.0 at 12:00 local on the
/// first day.
pub fn readings(meters: usize, days: i64) -> Vec<Json> {
    let mut out = Vec::new();
    for meter in 0..meters {
        let mut value = 1000.0;
        for step in 0..=days * 288 {
            let ts = READINGS_START + step * 300;
            if step > 0 {
                value += if meter == 0 && ts == READINGS_START + 12 * 3600 {
                    5.0
                } else {
                    (meter + 1) as f64 * 0.1
                };
            }
            out.push(json!({"MeterId": format!("meter{meter:02}"), "TimeStamping": test_host::client::rfc3339_utc(ts), "value": value}));
        }
    }
    out
}

/// Sends `readings` to `/ingest` with the project's ingest token, in
/// batches of 10,000.
pub async fn ingest(app: &App, token: &str, readings: Vec<Json>) {
    for batch in readings.chunks(10_000) {
        ingest_body(app, token, &json!({ "readings": batch }).to_string()).await;
    }
}

/// Posts one batch, already JSON, to `/ingest`; it must be accepted.
pub async fn ingest_body(app: &App, token: &str, body: &str) {
    let bearer = format!("Bearer {token}");
    let response = app
        .send(
            "POST",
            "/ingest",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

/// `days` of 5-minute readings of `points` points (`meter000`, …) from
/// `start`, oldest first, posted to /ingest in 10,000-reading batches (so
/// the rollups are built as in production): a cumulative counter with a
/// daily rhythm and, for point 0, one step of 50 halfway through. Answers
/// the readings per second of ingest.
pub async fn ingest_history(app: &App, token: &str, start: i64, points: i64, days: i64) -> f64 {
    let total = days * 288 * points;
    let mut elapsed = Duration::ZERO;
    let mut n = 0;
    while n < total {
        let batch_end = (n + 10_000).min(total);
        let readings: Vec<String> = (n..batch_end)
            .map(|i| {
                let (step, point) = (i / points, i % points);
                let value = step as f64 * (0.2 + point as f64 * 0.01)
                    + (step as f64 / 288.0 * std::f64::consts::TAU).sin() * 0.1
                    + if point == 0 && step > days * 144 {
                        50.0
                    } else {
                        0.0
                    };
                format!(
                    r#"{{"MeterId": "meter{point:03}", "TimeStamping": "{}", "value": {value}}}"#,
                    test_host::client::rfc3339_utc(start + step * 300)
                )
            })
            .collect();
        let body = format!(r#"{{"readings": [{}]}}"#, readings.join(","));
        let started = std::time::Instant::now();
        ingest_body(app, token, &body).await;
        elapsed += started.elapsed();
        n = batch_end;
    }
    total as f64 / elapsed.as_secs_f64()
}

/// One request to the app at `base`, its answer checked as every answer a
/// test gets is: XML well formed, and the whole answer one that the
/// OpenAPI document describes (`openapi::check`). Tests that send from
/// spawned tasks use this rather than the bare client.
pub async fn checked_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> test_host::client::Response {
    let response = request(base, method, path, headers, body).await.unwrap();
    if response
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/xml"))
    {
        well_formed::assert_well_formed(&response.body, &format!("{method} {path}"));
    }
    openapi::check(method, path, &response);
    response
}
