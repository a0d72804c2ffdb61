//! Load test (prints numbers; asserts correctness, never time): many
//! concurrent clients on two projects for a bounded time, mixing ingest
//! batches (with exact and overlapping re-sends), /data, /interval, /point
//! reads and renames, /file exports, /series charts and logins. Afterwards
//! every reading sent is counted in `/file`: none may be lost or doubled,
//! no answer may be a 5xx, and no "database is locked" may reach a client.
//! Prints p50/p99 and the status counts per route.
//!
//!     bash functions/build-components && cargo test -p test-host --bench load
//!
//! `LOAD_SECONDS` (default 20) sets the length; `E2E_SPIN=<spin>` runs it
//! on the real Spin CLI (and `E2E_REDIS`/`E2E_SQLD` on its scale-out
//! configuration).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use test_host::client::rfc3339_utc;

const START: i64 = 1_546_300_800; // 2019-01-01 00:00 UTC
const POINTS: i64 = 20;
const STEPS_PER_BATCH: i64 = 50;
const INGESTERS_PER_PROJECT: usize = 2;
const READERS_PER_PROJECT: usize = 6;

/// One route's latencies, answers by status, and the first problems seen.
type RouteStats = (Vec<Duration>, BTreeMap<u16, u64>, Vec<String>);

/// Per route.
#[derive(Default)]
struct Stats(Mutex<BTreeMap<&'static str, RouteStats>>);

impl Stats {
    fn record(&self, route: &'static str, took: Duration, response: &Response) {
        let mut stats = self.0.lock().unwrap();
        let (times, statuses, problems) = stats.entry(route).or_default();
        times.push(took);
        *statuses.entry(response.status).or_default() += 1;
        let text = response.text();
        if (response.status >= 500 || text.contains("database is locked")) && problems.len() < 5 {
            problems.push(format!(
                "{} {}",
                response.status,
                text.chars().take(200).collect::<String>()
            ));
        }
    }
}

struct Project {
    name: &'static str,
    ingest: String,
    user: Auth,
    username: String,
    /// Steps handed out to ingesters: every step below it was sent.
    next_step: AtomicI64,
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn batch(first_step: i64, steps: i64) -> String {
    let mut readings = Vec::with_capacity((steps * POINTS) as usize);
    for step in first_step..first_step + steps {
        for point in 0..POINTS {
            readings.push(format!(
                r#"{{"MeterId": "m{point:02}", "TimeStamping": "{}", "value": {}}}"#,
                rfc3339_utc(START + step * 300),
                step as f64 * (0.5 + point as f64 * 0.01)
            ));
        }
    }
    format!(r#"{{"readings": [{}]}}"#, readings.join(","))
}

async fn send(
    app: &App,
    stats: &Stats,
    route: &'static str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let started = Instant::now();
    let response = app.send(method, path, headers, body).await;
    stats.record(route, started.elapsed(), &response);
    response
}

async fn ingester(
    app: Arc<App>,
    stats: Arc<Stats>,
    project: Arc<Project>,
    until: Instant,
    seed: u64,
) {
    let mut rng = Rng(seed);
    let bearer = format!("Bearer {}", project.ingest);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let mut last: Option<i64> = None;
    while Instant::now() < until {
        let first = match (rng.below(4), last) {
            // The same batch again (a collector that missed the answer).
            (0, Some(last)) => last,
            // Half old, half new.
            (1, Some(last)) => last + STEPS_PER_BATCH / 2,
            _ => project
                .next_step
                .fetch_add(STEPS_PER_BATCH, Ordering::SeqCst),
        };
        // An overlapping batch may reach past what was handed out: take
        // that range too, so that every step below `next_step` is sent.
        let end = first + STEPS_PER_BATCH;
        project.next_step.fetch_max(end, Ordering::SeqCst);
        let body = batch(first, STEPS_PER_BATCH);
        // A collector retries until the batch is taken.
        loop {
            let response = send(
                &app,
                &stats,
                "POST /ingest",
                "POST",
                "/ingest",
                &headers,
                &body,
            )
            .await;
            if response.status == 200 {
                break;
            }
            assert!(
                response.status == 429 || response.status >= 500,
                "ingest refused a valid batch: {} {}",
                response.status,
                response.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last = Some(first);
    }
}

async fn reader(
    app: Arc<App>,
    stats: Arc<Stats>,
    project: Arc<Project>,
    until: Instant,
    seed: u64,
) {
    let mut rng = Rng(seed);
    let user = project.user.headers();
    let mut write_headers = user.clone();
    write_headers.extend([
        ("sec-fetch-site", "same-origin"),
        ("content-type", "application/json"),
    ]);
    let mut renamed = false;
    while Instant::now() < until {
        let latest_day = {
            let step = project.next_step.load(Ordering::SeqCst).max(1) - 1;
            rfc3339_utc(START + step * 300 - 86_400)[..10].to_owned()
        };
        match rng.below(20) {
            0..=4 => {
                send(&app, &stats, "GET /data", "GET", "/data", &user, "").await;
            }
            5..=8 => {
                send(&app, &stats, "GET /interval", "GET", "/interval", &user, "").await;
            }
            9..=10 => {
                send(&app, &stats, "GET /point", "GET", "/point", &user, "").await;
            }
            11..=13 => {
                let path = format!("/file?start={latest_day}&end={latest_day}&type=csv");
                send(&app, &stats, "GET /file (a day)", "GET", &path, &user, "").await;
            }
            14..=15 => {
                let path = format!("/series?type=line&start={latest_day}&width=12&height=4");
                send(&app, &stats, "GET /series (a day)", "GET", &path, &user, "").await;
            }
            16..=17 => {
                // Renames of one point back and forth, during ingest.
                let (from, to) = if renamed {
                    ("m00-renamed", "m00")
                } else {
                    ("m00", "m00-renamed")
                };
                let body = format!(r#"{{"name": "{from}", "new": "{to}"}}"#);
                let response = send(
                    &app,
                    &stats,
                    "POST /point (rename)",
                    "POST",
                    "/point",
                    &write_headers,
                    &body,
                )
                .await;
                if response.status == 200 {
                    renamed = !renamed;
                }
            }
            18 => {
                let body = format!(
                    r#"{{"username": "{}", "password": "password-1"}}"#,
                    project.username
                );
                send(
                    &app,
                    &stats,
                    "PUT /session (log in)",
                    "PUT",
                    "/session",
                    &[("content-type", "application/json")],
                    &body,
                )
                .await;
            }
            _ => {
                send(&app, &stats, "GET /session", "GET", "/session", &user, "").await;
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let app = Arc::new(App::start().await);
    let stats = Arc::new(Stats::default());
    let mut projects = Vec::new();
    for name in ["load-a", "load-b"] {
        let site = app.site(name, name).await;
        projects.push(Arc::new(Project {
            name,
            ingest: site.ingest,
            user: site.user,
            username: name.to_owned(),
            next_step: AtomicI64::new(0),
        }));
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for project in &projects {
        for _ in 0..INGESTERS_PER_PROJECT {
            seed += 1;
            tasks.spawn(ingester(
                app.clone(),
                stats.clone(),
                project.clone(),
                until,
                seed,
            ));
        }
        for _ in 0..READERS_PER_PROJECT {
            seed += 1;
            tasks.spawn(reader(
                app.clone(),
                stats.clone(),
                project.clone(),
                until,
                seed,
            ));
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a client failed");
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "load: {} clients on 2 projects for {elapsed:.1} s ({})",
        2 * (INGESTERS_PER_PROJECT + READERS_PER_PROJECT),
        if std::env::var_os("E2E_SPIN").is_some() {
            "real Spin"
        } else {
            "test host"
        }
    );
    println!(
        "{:<24} {:>7} {:>9} {:>9}  statuses",
        "route", "count", "p50 ms", "p99 ms"
    );
    let mut failures = Vec::new();
    for (route, (times, statuses, problems)) in stats.0.lock().unwrap().iter_mut() {
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
        println!(
            "{route:<24} {:>7} {:>9.1} {:>9.1}  {statuses:?}",
            times.len(),
            at(0.5),
            at(0.99)
        );
        failures.extend(problems.iter().map(|p| format!("{route}: {p}")));
    }

    // Every reading sent is in /file once.
    for project in &projects {
        let steps = project.next_step.load(Ordering::SeqCst);
        let last_day = rfc3339_utc(START + steps * 300 + 86_400)[..10].to_owned();
        let export = app
            .get(
                &format!("/file?start=2018-12-31&end={last_day}&type=csv"),
                &project.user,
            )
            .await;
        assert_eq!(export.status, 200, "{}", export.text());
        let text = export.text();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        let distinct: HashSet<(&str, &str)> = rows
            .iter()
            .map(|row| {
                let mut fields = row.splitn(3, ',');
                (fields.next().unwrap(), fields.next().unwrap())
            })
            .collect();
        let expected = (steps * POINTS) as usize;
        println!(
            "{}: {steps} steps x {POINTS} points sent = {expected} readings; /file has {} rows, {} distinct",
            project.name,
            rows.len(),
            distinct.len()
        );
        if rows.len() != expected || distinct.len() != expected {
            failures.push(format!(
                "{}: {} readings lost, {} doubled",
                project.name,
                expected.saturating_sub(distinct.len()),
                rows.len() - distinct.len()
            ));
        }
    }
    let server_errors: u64 = stats
        .0
        .lock()
        .unwrap()
        .values()
        .flat_map(|(_, statuses, _)| statuses.iter())
        .filter(|(status, _)| **status >= 500)
        .map(|(_, count)| count)
        .sum();
    println!("5xx answers: {server_errors}");
    assert!(
        failures.is_empty() && server_errors == 0,
        "load test failures:\n{}",
        failures.join("\n")
    );
    println!("no 5xx, no database is locked, nothing lost or doubled");
}
