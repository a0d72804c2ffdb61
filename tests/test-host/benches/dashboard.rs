//! Dashboard benchmark in a real headless browser (prints numbers, asserts
//! nothing): a year of 5-minute readings of 20 meters, ingested through
//! /ingest, then, with a session open, the time from navigation to the
//! first chart drawn (the last 24 hours' demand lines) and the redraw
//! after switching to the year (monthly columns from `/usage`): the first
//! switch after a page load ("cold": the browser's first columns, and in
//! round 0 the server's first year), then again after a week ("warm"),
//! from the Performance API marks the page sets, with where the time goes:
//! fetching, parsing, drawing.
//!
//!     bash functions/build-components && cargo test -p test-host --bench dashboard
//!
//! With `E2E_SPIN=<path to spin>` the app runs on the real Spin CLI.
//! Needs chromium and chromedriver (`tests/run` installs them as root).

#[path = "../tests/common/browser.rs"]
mod browser;
#[path = "../tests/common/mod.rs"]
mod common;

use browser::Browser;
use common::*;
use serde_json::json;

const START: i64 = 1_546_300_800; // 2019-01-01 00:00 UTC
const ROUNDS: usize = 5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(browser) = Browser::start(1280, 1800).await else {
        return;
    };
    let app = App::start().await;
    let site = app.provision("bench", "bench").await;
    let token = site["ingest_token"].as_str().unwrap();
    let rate = ingest_history(&app, token, START, 20, 365).await;
    println!("dashboard: a year of 20 meters ingested at {rate:.0} readings/s");
    let base = app.base_url();
    browser.log_in(&base, "bench", "password-1", None).await;
    browser
        .wait_for("performance.getEntriesByName('first-chart').length > 0")
        .await;
    let wasm = app
        .send(
            "GET",
            "/dashboard/dashboard_web_bg.wasm",
            &[("accept-encoding", "gzip")],
            "",
        )
        .await;
    println!("dashboard: browser wasm {} bytes gzipped", wasm.body.len());
    let (mut firsts, mut colds, mut warms) = (Vec::new(), Vec::new(), Vec::new());
    let timing = || async {
        browser
            .script(
                "return document.getElementById('line-chart').dataset.timing;",
                json!([]),
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // Clicks `css` and waits for the page's measure of the redraw.
    let switch = |css: &'static str| {
        let browser = &browser;
        async move {
            browser
                .script(
                    "performance.clearMeasures('redraw'); performance.clearMarks('redraw-start');",
                    json!([]),
                )
                .await;
            browser.click(css).await;
            browser
                .wait_for("performance.getEntriesByName('redraw').length > 0 && performance.getEntriesByName('redraw')[0].duration")
                .await
                .as_f64()
                .unwrap()
        }
    };
    // Navigation with the session open: what a returning user waits for.
    for round in 0..ROUNDS {
        browser.goto(&format!("{base}/")).await;
        let first = browser
            .wait_for("performance.getEntriesByName('first-chart').length > 0 && performance.getEntriesByName('first-chart')[0].startTime")
            .await
            .as_f64()
            .unwrap();
        let phases = browser
            .script(
                "return ['started', 'session', 'latest-day'].map(name => \
                   name + ' ' + Math.round(performance.getEntriesByName(name)[0].startTime)).join(', ');",
                json!([]),
            )
            .await;
        let first_timing = format!(
            "{}; {}",
            phases.as_str().unwrap_or_default(),
            timing().await
        );
        let cold = switch("#span-year").await;
        let cold_timing = timing().await;
        switch("#span-week").await;
        let warm = switch("#span-year").await;
        let warm_timing = timing().await;
        println!(
            "dashboard round {round}: first chart {first:.0} ms after navigation ({first_timing}); \
             to a year of 20 meters: cold {cold:.0} ms ({cold_timing}), warm {warm:.0} ms ({warm_timing})"
        );
        firsts.push(first);
        colds.push(cold);
        warms.push(warm);
    }
    browser.screenshot("bench-year-20-meters.png").await;
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let worst = |values: &[f64]| values.iter().copied().fold(0.0, f64::max);
    println!(
        "dashboard: median of {ROUNDS} (worst): first chart {:.0} ms ({:.0}; target ≤ 300), \
         to a year of 20 meters cold {:.0} ms ({:.0}), warm {:.0} ms ({:.0}) (target ≤ 100)",
        median(&mut firsts.clone()),
        worst(&firsts),
        median(&mut colds.clone()),
        worst(&colds),
        median(&mut warms.clone()),
        worst(&warms)
    );
}
