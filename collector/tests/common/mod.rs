//! Shared by the collector's tests: an in-process ingest endpoint that can
//! be down, slow, or answer 500/400 on cue, a clock the test sets, and site
//! configurations written to a temporary directory.

#![allow(dead_code)] // each test binary uses a different subset

use collector::clock::{Clock, SyncState};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TOKEN: &str = "test-ingest-token-0123456789abcdef";
pub const TOKEN_ENV: &str = "COLLECTOR_TEST_INGEST_TOKEN";

/// Every test has a time limit.
pub async fn within<T>(seconds: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("the test took longer than {seconds} s"))
}

/// Waits until `done` holds, checking every 10 ms, failing after `seconds`.
pub async fn wait_until(seconds: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {seconds} s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A clock the test sets: from the time it is set to, it runs at the real
/// clock's pace, and it says of its synchronisation what it was told.
pub struct FakeClock {
    /// Added to the real clock's milliseconds, and the synchronisation.
    setting: Mutex<(i64, SyncState)>,
    sync_queries: AtomicU64,
}

impl FakeClock {
    /// A clock reading `now_ms` (milliseconds since the epoch) now.
    pub fn at(now_ms: i64, sync: SyncState) -> Arc<FakeClock> {
        let clock = FakeClock {
            setting: Mutex::new((0, SyncState::Synchronised)),
            sync_queries: AtomicU64::new(0),
        };
        clock.set(now_ms, sync);
        Arc::new(clock)
    }

    /// The real time, synchronised: for tests of something else.
    pub fn synchronised() -> Arc<FakeClock> {
        FakeClock::at(real_millis(), SyncState::Synchronised)
    }

    /// From now on it reads `now_ms` and says `sync`, both at once.
    pub fn set(&self, now_ms: i64, sync: SyncState) {
        *self.setting.lock().unwrap() = (now_ms - real_millis(), sync);
    }

    /// How often it was asked whether it is synchronised.
    pub fn sync_queries(&self) -> u64 {
        self.sync_queries.load(Ordering::SeqCst)
    }
}

fn real_millis() -> i64 {
    collector::clock::SystemClock.now_millis()
}

impl Clock for FakeClock {
    fn now_millis(&self) -> i64 {
        real_millis() + self.setting.lock().unwrap().0
    }

    fn sync_state(&self) -> SyncState {
        self.sync_queries.fetch_add(1, Ordering::SeqCst);
        self.setting.lock().unwrap().1.clone()
    }
}

/// How the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Stores the batch and answers 200.
    Up,
    /// Closes every connection without an answer.
    Down,
    /// Stores the batch, then waits this long before answering 200 (a
    /// client with a shorter timeout gives up and sends it again).
    Slow(Duration),
    /// Answers this status and stores nothing.
    Status(u16),
}

#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Stored readings: (meter, ts) → value, the first one kept (as ingest).
    pub stored: BTreeMap<(String, i64), f64>,
    /// Every reading in the order it was stored the first time.
    pub order: Vec<(String, i64)>,
    /// Readings that arrived again after being stored.
    pub duplicates: u64,
    pub requests: u64,
    pub announcements: Vec<ingest_wire::PointAnnouncement>,
}

/// An in-process `POST /ingest`, checking batches with the same
/// `ingest-wire` rules as the real one.
#[derive(Clone)]
pub struct FakeIngest {
    pub addr: SocketAddr,
    pub mode: Arc<Mutex<Mode>>,
    pub received: Arc<Mutex<Received>>,
}

impl FakeIngest {
    pub async fn start(mode: Mode) -> FakeIngest {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeIngest {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::new(Mutex::new(Received::default())),
        };
        let served = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let fake = served.clone();
                tokio::spawn(async move { fake.connection(stream).await });
            }
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// A copy of what was received so far.
    pub fn snapshot(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    pub fn stored(&self) -> usize {
        self.received.lock().unwrap().stored.len()
    }

    pub fn requests(&self) -> u64 {
        self.received.lock().unwrap().requests
    }

    async fn connection(&self, mut stream: tokio::net::TcpStream) {
        let mut buffer = Vec::new();
        loop {
            // Head.
            let head_end = loop {
                if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 8192];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let authorized = head.lines().any(|l| {
                l.trim() == format!("authorization: bearer {}", TOKEN.to_ascii_lowercase())
            });
            while buffer.len() < head_end + length {
                let mut chunk = [0u8; 65536];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let body: Vec<u8> = buffer[head_end..head_end + length].to_vec();
            buffer.drain(..head_end + length);
            let mode = *self.mode.lock().unwrap();
            self.received.lock().unwrap().requests += 1;
            let (status, answer) = match mode {
                Mode::Down => return,
                Mode::Status(status) => (status, format!(r#"{{"error": "on cue: {status}"}}"#)),
                _ if !authorized => (
                    401,
                    r#"{"error": "the ingest token is not valid"}"#.to_owned(),
                ),
                Mode::Up | Mode::Slow(_) => self.store(&body),
            };
            if let Mode::Slow(delay) = mode {
                tokio::time::sleep(delay).await;
            }
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn store(&self, body: &[u8]) -> (u16, String) {
        let batch = match ingest_wire::parse(body) {
            Ok(batch) => batch,
            Err(error) => return (400, format!(r#"{{"error": {:?}}}"#, error.message)),
        };
        let now = collector::schedule::unix_now();
        let checked = match ingest_wire::check(&batch, now) {
            Ok(checked) => checked,
            Err(error) => return (400, format!(r#"{{"error": {:?}}}"#, error.message)),
        };
        let mut received = self.received.lock().unwrap();
        received
            .announcements
            .extend(checked.points.iter().map(|p| (*p).clone()));
        let mut new = 0;
        for reading in &checked.readings {
            let key = (reading.meter_id.to_owned(), reading.ts);
            if received.stored.contains_key(&key) {
                received.duplicates += 1;
            } else {
                received.stored.insert(key.clone(), reading.value);
                received.order.push(key);
                new += 1;
            }
        }
        (
            200,
            format!(
                r#"{{"readings": {}, "new": {new}}}"#,
                checked.readings.len()
            ),
        )
    }
}

/// The maps shipped in `collector/maps`.
pub fn shipped_maps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("maps")
}

/// A site.toml in `dir`: `server`, the token from [`TOKEN_ENV`], fast
/// retries, then `rest` (buses and meters). It does not wait for the
/// kernel to say the clock is synchronised: the kernels of the machines
/// that build this say it is not (a virtual machine without an NTP daemon:
/// adjtimex answers TIME_ERROR), and the tests that run the binary read
/// the system clock. Tests of that wait set `require_clock_sync` and a
/// [`FakeClock`].
pub fn write_site(dir: &Path, server: &str, maps: &Path, rest: &str) -> PathBuf {
    // SAFETY: every test sets the same value; nothing reads it concurrently
    // in another way.
    unsafe { std::env::set_var(TOKEN_ENV, TOKEN) };
    let text = format!(
        "server = \"{server}\"\ntoken_env = \"{TOKEN_ENV}\"\nspool = \"spool.sqlite\"\nmaps = \"{}\"\nrequire_clock_sync = false\n\n\
         [modbus]\ntimeout_ms = 300\nretries = 1\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n\n\
         [upload]\nbatch_readings = 100\ntimeout_ms = 2000\nretry_min_ms = 20\nretry_max_ms = 200\n\n{rest}",
        maps.display()
    );
    let path = dir.join("site.toml");
    std::fs::write(&path, text).unwrap();
    path
}
