//! The collector's spool delivered to the real ingest component in the
//! test host (prints numbers, asserts nothing):
//!
//!     bash functions/build-components && cargo test -p test-host --bench collector
//!
//! 100,000 pending readings of 100 meters (`BENCH_READINGS` sets the
//! number) go out in batches of 5,000, as the collector sends them after
//! an outage; readings per second from the first request to an empty
//! spool.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use test_host::client::request;
use test_host::{HostConfig, serve};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef0123";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let total: i64 = std::env::var("BENCH_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let state = tempfile::tempdir().unwrap();
    let app = serve(HostConfig {
        manifest_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml"),
        state_dir: state.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        variables: BTreeMap::from([("admin_token".to_owned(), ADMIN_TOKEN.to_owned())]),
    })
    .await
    .expect("serve spin.toml (run `bash functions/build-components` first)");
    let base = format!("http://{}", app.addr());
    let provisioned = request(
        &base,
        "POST",
        "/admin/projects",
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/json")],
        br#"{"name": "bench", "timezone": "UTC", "username": "bench", "password": "password-1", "email": "b@example.com"}"#.to_vec(),
    )
    .await
    .unwrap();
    let provisioned: serde_json::Value = serde_json::from_slice(&provisioned.body).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("token"),
        provisioned["ingest_token"].as_str().unwrap(),
    )
    .unwrap();

    // A site whose one meter nobody serves: only the spool matters here.
    let maps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../collector/maps");
    // require_clock_sync = false: these machines run without NTP.
    let site = dir.path().join("site.toml");
    std::fs::write(
        &site,
        format!(
            "server = \"{base}\"\ntoken_file = \"token\"\nspool = \"spool.sqlite\"\nrequire_clock_sync = false\nmaps = \"{}\"\n\
             [upload]\nbatch_readings = 5000\n\n[bus.gw]\ntcp = \"127.0.0.1:9\"\n\n\
             [[meter]]\nMeterId = \"m0\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 60\n",
            maps.display()
        ),
    )
    .unwrap();
    let config = collector::config::load(&site).unwrap();
    let spool = collector::spool::Spool::open(&config.spool, u64::MAX).unwrap();
    let readings = collector::simulator::backlog(1_546_300_800, 0..total);
    spool.insert(&readings).unwrap();
    drop(spool);

    let started = Instant::now();
    let site = collector::daemon::Site::start(config).unwrap();
    while site.spool.pending() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "stuck: {:?}",
            site.spool.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let stats = site.spool.stats().unwrap();
    site.stop().await;
    println!(
        "collector spool -> test host ingest: {} readings of 100 meters in batches of 5000: {:.2} s, {:.0} readings/s ({} quarantined)",
        stats.delivered,
        took.as_secs_f64(),
        stats.delivered as f64 / took.as_secs_f64(),
        stats.quarantined
    );
}
