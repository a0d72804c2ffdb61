//! HTTP benchmark through the test host (prints numbers, asserts nothing):
//! login by API key and GET /session, next to the hello-world `health`
//! component served by the same host in the same run as the baseline.
//!
//!     bash functions/build-components && cargo bench -p test-host --bench http
//!
//! `BENCH_REQUESTS` (default 2000) and `BENCH_CONCURRENCY` (default 4)
//! tune the run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use test_host::client::request;
use test_host::{HostConfig, serve};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef0123";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Scenario {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(String, String)>,
    body: String,
}

async fn run(
    base: &str,
    scenario: &Scenario,
    total: usize,
    concurrency: usize,
) -> (f64, Duration, Duration) {
    // Warm-up: component instantiation caches, SQLite page cache.
    for _ in 0..20 {
        send(base, scenario).await;
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let base = base.to_owned();
        let count = total / concurrency + usize::from(worker < total % concurrency);
        let scenario = Scenario {
            name: scenario.name,
            method: scenario.method,
            path: scenario.path,
            headers: scenario.headers.clone(),
            body: scenario.body.clone(),
        };
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            for _ in 0..count {
                let start = Instant::now();
                send(&base, &scenario).await;
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    (
        total as f64 / elapsed.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
    )
}

async fn send(base: &str, scenario: &Scenario) {
    let headers: Vec<(&str, &str)> = scenario
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let response = request(
        base,
        scenario.method,
        scenario.path,
        &headers,
        scenario.body.clone().into_bytes(),
    )
    .await
    .expect("request");
    assert_eq!(
        response.status,
        200,
        "{} answered {}: {}",
        scenario.name,
        response.status,
        response.text()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env_number("BENCH_REQUESTS", 2000);
    let concurrency = env_number("BENCH_CONCURRENCY", 4).max(1);
    let state = tempfile::tempdir().expect("temp dir");
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    let app = serve(HostConfig {
        manifest_path: manifest,
        state_dir: state.path().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        variables: BTreeMap::from([("admin_token".to_owned(), ADMIN_TOKEN.to_owned())]),
    })
    .await
    .expect("serve spin.toml (run `bash functions/build-components` first)");
    let base = app.base_url();

    let json = ("content-type".to_owned(), "application/json".to_owned());
    let provision = request(
        &base,
        "POST",
        "/admin/projects",
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/json")],
        br#"{"name": "bench", "timezone": "UTC", "username": "bench", "password": "password-1", "email": "b@example.com"}"#.to_vec(),
    )
    .await
    .expect("provision");
    assert_eq!(provision.status, 201, "{}", provision.text());
    let login = request(
        &base,
        "PUT",
        "/session",
        &[("content-type", "application/json")],
        br#"{"username": "bench", "password": "password-1"}"#.to_vec(),
    )
    .await
    .expect("login");
    let cookie = login
        .header("set-cookie")
        .expect("cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let key_response = request(&base, "GET", "/key", &[("cookie", &cookie)], vec![])
        .await
        .expect("key");
    let key: serde_json::Value = serde_json::from_slice(&key_response.body).expect("json");
    let key = key["key"].as_str().expect("key").to_owned();

    let scenarios = [
        Scenario {
            name: "GET /health (hello-world baseline)",
            method: "GET",
            path: "/health",
            headers: vec![],
            body: String::new(),
        },
        Scenario {
            name: "PUT /session (login by key)",
            method: "PUT",
            path: "/session",
            headers: vec![json.clone()],
            body: format!(r#"{{"key": "{key}"}}"#),
        },
        Scenario {
            name: "GET /session (bearer API key)",
            method: "GET",
            path: "/session",
            headers: vec![("authorization".to_owned(), format!("Bearer {key}"))],
            body: String::new(),
        },
        Scenario {
            name: "GET /session (session cookie)",
            method: "GET",
            path: "/session",
            headers: vec![("cookie".to_owned(), cookie.clone())],
            body: String::new(),
        },
    ];
    println!(
        "test host, {total} requests per scenario, {concurrency} concurrent clients, one connection per request"
    );
    println!(
        "{:<38} {:>10} {:>10} {:>10}",
        "scenario", "req/s", "p50 ms", "p99 ms"
    );
    for scenario in &scenarios {
        let (rate, p50, p99) = run(&base, scenario, total, concurrency).await;
        println!(
            "{:<38} {:>10.0} {:>10.2} {:>10.2}",
            scenario.name,
            rate,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    app.shutdown().await;
}
