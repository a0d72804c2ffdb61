//! `/graphics` benchmark (prints numbers, asserts nothing): a year of
//! 5-minute readings (the export benchmark's shape) of a 20-point and a
//! 100-point project, ingested through /ingest (so the rollups are built
//! as in production), then the median of several requests of each chart
//! at 1600 × 900, with peak guest memory in the test host.
//!
//!     bash functions/build-components && cargo test -p test-host --bench graphics
//!
//! With `E2E_SPIN=<path to spin>` the same runs on the real Spin CLI;
//! `BENCH_SAVE=<dir>` writes the PNGs there, to look at them.
//! `BENCH_DAYS` (default 365) sets the length of the data.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::time::Instant;
use test_host::client::rfc3339_utc;

const START: i64 = 1_546_300_800; // 2019-01-01 00:00 UTC
const RUNS: usize = 7;

struct Project {
    user: Auth,
    points: i64,
}

/// Provisions a project and ingests `days` of 5-minute readings of
/// `points` points in 10,000-reading batches, oldest first; returns the
/// readings per second.
async fn project(app: &App, name: &str, points: i64, days: i64) -> (Project, f64) {
    let provisioned = app.provision(name, name).await;
    let token = provisioned["ingest_token"].as_str().unwrap();
    let rate = ingest_history(app, token, START, points, days).await;
    let user = app.log_in(name, "password-1").await;
    (Project { user, points }, rate)
}

/// Median time and largest PNG of `RUNS` requests, and the peak guest
/// memory (test host only).
async fn measure(app: &App, project: &Project, label: &str, query: &str) {
    let mut times = Vec::new();
    let mut bytes = 0;
    if let Some(host) = app.test_host() {
        host.reset_peak_guest_memory();
    }
    for _ in 0..RUNS {
        let started = Instant::now();
        let response = app.get(&format!("/graphics{query}"), &project.user).await;
        times.push(started.elapsed());
        assert_eq!(response.status, 200, "{query}: {}", response.text());
        assert_eq!(response.header("content-type"), Some("image/png"));
        bytes = bytes.max(response.body.len());
        if let Some(dir) = std::env::var_os("BENCH_SAVE") {
            let name: String = label
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let path = std::path::Path::new(&dir).join(format!("{}-{name}.png", project.points));
            std::fs::write(path, &response.body).unwrap();
        }
    }
    times.sort();
    let memory = app
        .test_host()
        .map(|host| {
            format!(
                "{:>6.1} MiB",
                host.peak_guest_memory_bytes() as f64 / 1048576.0
            )
        })
        .unwrap_or_else(|| "     –    ".to_owned());
    println!(
        "  {label:<34} {:>3} points  median {:>7.1} ms  (min {:>6.1}, max {:>6.1})  {memory} peak guest  {:>4} kB PNG",
        project.points,
        times[RUNS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3,
        bytes / 1000
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let days: i64 = std::env::var("BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(365);
    let app = App::start().await;
    let host = if app.test_host().is_some() {
        "test host"
    } else {
        "real Spin"
    };
    let size = std::fs::metadata(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/wasm32-wasip2/release/graphics.wasm"),
    )
    .map(|m| m.len())
    .unwrap_or(0);
    println!(
        "\n/graphics on the {host}; graphics.wasm {:.2} MB",
        size as f64 / 1e6
    );

    let (twenty, _) = project(&app, "twenty", 20, days).await;
    let (hundred, rate) = project(&app, "hundred", 100, days).await;
    println!("  ingest of {days} days x 288 x 100 points with rollups: {rate:.0} readings/s");
    let last = rfc3339_utc(START + (days - 1) * 86_400)[..10].to_owned();
    let year = format!("start=2019-01-01&end={last}");
    measure(
        &app,
        &twenty,
        "line, 1 point, whole range",
        &format!("?meter=meter000&{year}"),
    )
    .await;
    measure(
        &app,
        &twenty,
        "line, all points, whole range",
        &format!("?type=line&{year}"),
    )
    .await;
    measure(
        &app,
        &hundred,
        "bar, whole range",
        &format!("?type=bar&{year}"),
    )
    .await;
    measure(
        &app,
        &hundred,
        "pie, whole range",
        &format!("?type=pie&{year}"),
    )
    .await;
    measure(
        &app,
        &hundred,
        "line, all points, whole range",
        &format!("?type=line&{year}"),
    )
    .await;
    measure(
        &app,
        &twenty,
        "line, 1 point, one week",
        "?meter=meter000&start=2019-06-03&end=2019-06-09",
    )
    .await;
    measure(&app, &hundred, "line, default (last 24 h)", "?type=line").await;
    measure(&app, &hundred, "pie, default (last 24 h)", "").await;
}
