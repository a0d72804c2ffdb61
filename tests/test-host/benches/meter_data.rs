//! Meter-data benchmarks through the test host (prints numbers, asserts
//! nothing):
//!
//! 1. ingest: readings/s through the ingest component in 10,000-reading
//!    batches, next to a plain rusqlite batched insert into the same schema
//!    (batch by batch in turn), and where a batch's time went: each
//!    statement shape's count, parameters and time, and the component's
//!    own work before it (the test host's SQL profile);
//! 2. /file CSV: rows/s, time to first byte and peak guest memory for a
//!    year of 5-minute readings of 100 points, next to the `sqlite3` CLI
//!    writing the same rows as CSV from the same database file; then the
//!    same rows as JSON, XML and YAML; then all four gzipped
//!    (`Accept-Encoding: gzip`): bytes, rows/s, and how much smaller;
//! 3. /data with 100 points: requests/s and p50/p99, next to the
//!    hello-world `health` component.
//!
//!     bash functions/build-components && cargo test -p test-host --bench meter_data
//!
//! `BENCH_DAYS` (default 365) sets the export's length; `BENCH_POINTS`
//! (default 100) the number of points; `BENCH_ONLY` (ingest, data or
//! export) runs one part.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use test_host::client::{request, request_streamed, rfc3339_utc};
use test_host::{HostConfig, RunningApp, serve};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef0123";
const START: i64 = 1_546_300_800; // 2019-01-01 00:00 UTC

fn env_number(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start(state: &Path) -> RunningApp {
    serve(HostConfig {
        manifest_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml"),
        state_dir: state.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        variables: BTreeMap::from([("admin_token".to_owned(), ADMIN_TOKEN.to_owned())]),
    })
    .await
    .expect("serve spin.toml (run `bash functions/build-components` first)")
}

/// Provisions a project; returns (ingest token, user API key).
async fn provision(base: &str, username: &str) -> (String, String) {
    let body = format!(
        r#"{{"name": "bench", "timezone": "UTC", "username": "{username}", "password": "password-1", "email": "b@example.com"}}"#
    );
    let response = request(
        base,
        "POST",
        "/admin/projects",
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/json"),
        ],
        body.into_bytes(),
    )
    .await
    .expect("provision");
    assert_eq!(response.status, 201, "{}", response.text());
    let created: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    let login = request(
        base,
        "PUT",
        "/session",
        &[("content-type", "application/json")],
        format!(r#"{{"username": "{username}", "password": "password-1"}}"#).into_bytes(),
    )
    .await
    .expect("login");
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let key = request(base, "GET", "/key", &[("cookie", &cookie)], vec![])
        .await
        .unwrap();
    let key: serde_json::Value = serde_json::from_slice(&key.body).unwrap();
    (
        created["ingest_token"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

/// The ingest component against a plain batched rusqlite insert of the
/// same rows into the same schema, batch by batch in turn (which goes
/// first alternates), so that both meet the same load on a shared
/// machine: its disk's sync times vary several times over within minutes.
async fn bench_ingest(points: i64) {
    let batches = 20;
    let per_batch = 10_000;
    let state = tempfile::tempdir().unwrap();
    let app = start(state.path()).await;
    let base = app.base_url();
    let (token, _) = provision(&base, "ingest").await;
    let bearer = format!("Bearer {token}");
    let reading = |n: i64| (START + (n / points) * 300, n % points, n as f64 * 0.25);
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| {
            let readings: Vec<String> = (0..per_batch)
                .map(|i| {
                    let (ts, point, value) = reading(b * per_batch + i);
                    format!(
                        r#"{{"MeterId": "meter{point}", "TimeStamping": "{}", "value": {value}}}"#,
                        rfc3339_utc(ts),
                    )
                })
                .collect();
            format!(r#"{{"readings": [{}]}}"#, readings.join(", ")).into_bytes()
        })
        .collect();

    // The plain side: its own database, the schema made by a second app.
    let plain_state = tempfile::tempdir().unwrap();
    let plain_app = start(plain_state.path()).await;
    provision(&plain_app.base_url(), "plain").await;
    plain_app.shutdown().await;
    let mut db = rusqlite::Connection::open(plain_state.path().join("sqlite_db.db")).unwrap();
    for p in 0..points {
        db.execute(
            "INSERT INTO points (project_id, site_meter_id, name) VALUES (1, ?1, ?1)",
            [format!("meter{p}")],
        )
        .unwrap();
    }

    app.take_sql_profile();
    let mut server_timing = None;
    let (mut component, mut plain, mut plain_commit) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for (b, body) in (0..batches).zip(bodies) {
        for component_turn in [b % 2 == 0, b % 2 != 0] {
            if component_turn {
                let started = Instant::now();
                let response = request(
                    &base,
                    "POST",
                    "/ingest",
                    &[
                        ("authorization", &bearer),
                        ("content-type", "application/json"),
                    ],
                    body.clone(),
                )
                .await
                .unwrap();
                component += started.elapsed();
                assert_eq!(response.status, 200, "{}", response.text());
                server_timing = response.header("server-timing").map(str::to_owned);
                continue;
            }
            let started = Instant::now();
            let tx = db.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO readings (project_id, ts, point_id, value) VALUES (1, ?, ?, ?) ON CONFLICT DO NOTHING")
                    .unwrap();
                for i in 0..per_batch {
                    let (ts, point, value) = reading(b * per_batch + i);
                    insert
                        .execute(rusqlite::params![ts, point + 1, value])
                        .unwrap();
                }
            }
            let committing = Instant::now();
            tx.commit().unwrap();
            plain_commit += committing.elapsed();
            plain += started.elapsed();
        }
    }
    let profile = app.take_sql_profile();
    app.shutdown().await;
    let rate = |time: Duration| (batches * per_batch) as f64 / time.as_secs_f64();
    let per_batch_ms = |time: Duration| time.as_secs_f64() * 1e3 / batches as f64;
    println!("\ningest, {batches} batches of {per_batch} readings, {points} points, in turn");
    println!(
        "  ingest component          {:>12.0} readings/s",
        rate(component)
    );
    println!(
        "  plain rusqlite insert     {:>12.0} readings/s  ({:.1} ms per batch, COMMIT {:.1} ms)",
        rate(plain),
        per_batch_ms(plain),
        per_batch_ms(plain_commit)
    );
    println!(
        "  ratio                     {:>12.2}",
        rate(component) / rate(plain)
    );
    print_ingest_breakdown(batches, component, server_timing, &profile);
}

/// Where an ingest batch's time went: the SQL statements the component
/// ran (how many, and how long it waited for them, from the test host's
/// profile), and the rest (the guest's own work, instantiation, HTTP).
fn print_ingest_breakdown(
    batches: i64,
    elapsed: Duration,
    server_timing: Option<String>,
    profile: &BTreeMap<String, test_host::sqlite::StatementCost>,
) {
    let per_batch = |time: Duration| time.as_secs_f64() * 1e3 / batches as f64;
    let sql: Duration = profile.values().map(|cost| cost.time).sum();
    let statements: u64 = profile.values().map(|cost| cost.count).sum();
    println!("  per batch                 {:>9.1} ms", per_batch(elapsed));
    println!(
        "    SQL, {:>5.1} statements  {:>9.1} ms  (Server-Timing of the last: {})",
        statements as f64 / batches as f64,
        per_batch(sql),
        server_timing.as_deref().unwrap_or("none")
    );
    let mut costs: Vec<_> = profile.iter().collect();
    costs.sort_by_key(|(_, cost)| std::cmp::Reverse(cost.time + cost.guest_before));
    for (shape, cost) in costs.iter().take(12) {
        println!(
            "      {:>6.1} x {:>7.2} ms (guest before {:>6.2} ms) {:>7.0} params {:>6.0} rows  {}",
            cost.count as f64 / batches as f64,
            per_batch(cost.time),
            per_batch(cost.guest_before),
            cost.parameters as f64 / batches as f64,
            cost.rows as f64 / batches as f64,
            shape.chars().take(72).collect::<String>()
        );
    }
    println!(
        "    the rest (guest, HTTP)  {:>9.1} ms",
        per_batch(elapsed.saturating_sub(sql))
    );
    println!(
        "    (\"guest before\": the component's own work before a statement: before PRAGMA \
         user_version reading the body, before BEGIN IMMEDIATE parsing and checking the batch, \
         before COMMIT the read models and their key-value write)"
    );
}

async fn bench_export(points: i64, days: i64) {
    let state = tempfile::tempdir().unwrap();
    let app = start(state.path()).await;
    let base = app.base_url();
    let (_, key) = provision(&base, "export").await;
    let db_path = state.path().join("sqlite_db.db");
    let rows = days * 288 * points;
    {
        let mut db = rusqlite::Connection::open(&db_path).unwrap();
        for p in 0..points {
            db.execute(
                "INSERT INTO points (project_id, site_meter_id, name) VALUES (1, ?1, ?1)",
                [format!("meter{p}")],
            )
            .unwrap();
        }
        let started = Instant::now();
        let tx = db.transaction().unwrap();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO readings (project_id, ts, point_id, value) VALUES (1, ?, ?, ?)",
                )
                .unwrap();
            for step in 0..days * 288 {
                for p in 0..points {
                    insert
                        .execute(rusqlite::params![
                            START + step * 300,
                            p + 1,
                            (step * points + p) as f64 * 0.01
                        ])
                        .unwrap();
                }
            }
        }
        tx.commit().unwrap();
        println!(
            "\nexport: generated {rows} readings ({days} days x 288 x {points} points) in {:.1?}",
            started.elapsed()
        );
    }
    let bearer = format!("Bearer {key}");
    let last_day = {
        let end = rfc3339_utc(START + (days - 1) * 86_400);
        end[..10].to_owned()
    };
    // A one-day export first: its peak memory is the baseline for "flat".
    app.reset_peak_guest_memory();
    let day = request_streamed(
        &base,
        "GET",
        "/file?start=2019-01-01&end=2019-01-01",
        &[("authorization", &bearer)],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(day.status, 200);
    let day_memory = app.peak_guest_memory_bytes();

    app.reset_peak_guest_memory();
    let path = format!("/file?start=2019-01-01&end={last_day}");
    let full = request_streamed(&base, "GET", &path, &[("authorization", &bearer)], vec![])
        .await
        .unwrap();
    assert_eq!(full.status, 200);
    assert_eq!(full.body_lines, rows as u64 + 1, "every row and the header");
    let year_memory = app.peak_guest_memory_bytes();
    let component_rate = rows as f64 / full.total_time.as_secs_f64();
    // The other formats: the same pages, another writer.
    let mut other_formats = Vec::new();
    for format in ["json", "xml", "yaml"] {
        let path = format!("{path}&type={format}");
        let export = request_streamed(&base, "GET", &path, &[("authorization", &bearer)], vec![])
            .await
            .unwrap();
        assert_eq!(export.status, 200);
        other_formats.push((format, export.total_time, export.body_bytes));
    }
    // Each format again, gzipped page by page (Accept-Encoding: gzip).
    let mut gzipped = Vec::new();
    for format in ["csv", "json", "xml", "yaml"] {
        let path = format!("{path}&type={format}");
        let headers = [
            ("authorization", bearer.as_str()),
            ("accept-encoding", "gzip"),
        ];
        let export = request_streamed(&base, "GET", &path, &headers, vec![])
            .await
            .unwrap();
        assert_eq!(export.status, 200);
        assert!(
            export
                .headers
                .iter()
                .any(|(name, value)| name == "content-encoding" && value == "gzip"),
            "{format}: not gzipped"
        );
        gzipped.push((format, export.total_time, export.body_bytes));
    }
    app.shutdown().await;

    println!(
        "/file CSV through the file component, {rows} rows, {:.0} MB",
        full.body_bytes as f64 / 1e6
    );
    println!(
        "  component                 {component_rate:>12.0} rows/s  ({:.1?} total, first byte after {:.1?})",
        full.total_time, full.time_to_first_body_byte
    );
    let other_formats_bytes = |wanted: &str| {
        other_formats
            .iter()
            .find(|(format, _, _)| *format == wanted)
            .map_or(0, |(_, _, bytes)| *bytes)
    };
    for (format, time, bytes) in &other_formats {
        let (time, bytes) = (*time, *bytes);
        println!(
            "  the same as {:<13} {:>12.0} rows/s  ({time:.1?} total, {:.0} MB)",
            format.to_uppercase(),
            rows as f64 / time.as_secs_f64(),
            bytes as f64 / 1e6
        );
    }
    let plain_bytes = |format: &str| match format {
        "csv" => full.body_bytes,
        _ => other_formats_bytes(format),
    };
    for (format, time, bytes) in &gzipped {
        let rate = rows as f64 / time.as_secs_f64();
        println!(
            "  {:<4} gzipped              {rate:>12.0} rows/s  ({time:.1?} total, {:.1} MB, {:.1}x smaller)",
            format.to_uppercase(),
            *bytes as f64 / 1e6,
            plain_bytes(format) as f64 / *bytes as f64
        );
    }
    if let Some((_, time, _)) = gzipped.first() {
        println!(
            "  CSV gzipped / plain rows/s {:>11.2}",
            full.total_time.as_secs_f64() / time.as_secs_f64()
        );
    }
    println!(
        "  peak guest memory         {:>9.1} MiB for one day, {:.1} MiB for {days} days",
        day_memory as f64 / 1048576.0,
        year_memory as f64 / 1048576.0
    );

    match sqlite3_export(&db_path) {
        Some((elapsed, bytes)) => {
            let rate = rows as f64 / elapsed.as_secs_f64();
            println!(
                "  sqlite3 CLI -csv          {rate:>12.0} rows/s  ({elapsed:.1?} total, {:.0} MB)",
                bytes as f64 / 1e6
            );
            println!(
                "  ratio                     {:>12.2}",
                component_rate / rate
            );
        }
        None => println!(
            "  sqlite3 CLI not found: install it (apt-get install sqlite3) for the comparison"
        ),
    }
}

/// The same rows as CSV by the sqlite3 command-line tool, to /dev/null.
fn sqlite3_export(db: &Path) -> Option<(Duration, u64)> {
    let query = "SELECT p.name AS MeterParam, datetime(r.ts, 'unixepoch') AS TimeStamping, r.value \
                 FROM readings r JOIN points p ON p.id = r.point_id WHERE r.project_id = 1 \
                 ORDER BY r.ts, r.point_id;";
    let started = Instant::now();
    let output = std::process::Command::new("sqlite3")
        .args(["-csv", "-header"])
        .arg(db)
        .arg(query)
        .stderr(std::process::Stdio::inherit())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| (started.elapsed(), output.stdout.len() as u64))
}

async fn bench_data(points: i64) {
    let state = tempfile::tempdir().unwrap();
    let app = start(state.path()).await;
    let base = app.base_url();
    let (token, key) = provision(&base, "data").await;
    let readings: Vec<String> = (0..points * 12)
        .map(|n| {
            format!(
                r#"{{"MeterId": "meter{}", "TimeStamping": "{}", "value": {}}}"#,
                n % points,
                rfc3339_utc(START + (n / points) * 300),
                n
            )
        })
        .collect();
    let body = format!(r#"{{"readings": [{}]}}"#, readings.join(", "));
    let stored = request(
        &base,
        "POST",
        "/ingest",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        body.into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(stored.status, 200);
    let bearer = format!("Bearer {key}");
    println!("\n/data with {points} points, 2000 requests, 4 concurrent clients");
    for (name, path, auth) in [
        ("GET /health (baseline)", "/health", None),
        ("GET /data", "/data", Some(bearer.clone())),
        ("GET /interval", "/interval", Some(bearer.clone())),
        ("GET /status", "/status", Some(bearer.clone())),
    ] {
        let (rate, p50, p99) = load(&base, path, auth, 2000, 4).await;
        println!(
            "  {name:<24} {rate:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    app.shutdown().await;
}

async fn load(
    base: &str,
    path: &str,
    auth: Option<String>,
    total: usize,
    concurrency: usize,
) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (base, path, auth) = (base.to_owned(), path.to_owned(), auth.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..total / concurrency {
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("authorization", a.as_str())).collect();
                let t = Instant::now();
                let response = request(&base, "GET", &path, &headers, vec![])
                    .await
                    .unwrap();
                assert_eq!(response.status, 200);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    (
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.99),
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let points = env_number("BENCH_POINTS", 100);
    let days = env_number("BENCH_DAYS", 365);
    // BENCH_ONLY=ingest|data|export runs one part.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    if run("ingest") {
        bench_ingest(points).await;
    }
    if run("data") {
        bench_data(points).await;
    }
    if run("export") {
        bench_export(points, days).await;
    }
}
