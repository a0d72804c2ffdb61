//! Prints numbers, asserts nothing (README.md, "Benchmarks"):
//! `cargo test -p collector --bench collector`.
//!
//! - one polling cycle over 100 Modbus TCP meters (in-process servers, 10
//!   quantities each);
//! - RTU: requests and bytes on the wire per cycle for each shipped map,
//!   next to one request per quantity; the cycle time of 10 meters on one
//!   bus at 9600 baud over a pseudo-terminal pair, next to the wire-time
//!   bound;
//! - the collector process's resident memory with a 1,000,000-reading
//!   backlog in its spool;
//! - `collector scan` of a whole RTU bus (ids 1-247) at 9600 baud with 3
//!   devices, next to 247 timeouts.
//!
//! Names after `--` run only those parts: `tcp`, `rtu`, `backlog`, `scan`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/sunspec_chain/mod.rs"]
mod sunspec_chain;

use collector::bus::Fleet;
use collector::config;
use collector::map;
use collector::plan::{one_per_quantity, plan, rtu_bytes};
use collector::simulator::{Devices, PtyLine, backlog, serve_rtu, serve_tcp};
use collector::spool::Spool;
use common::*;
use std::time::{Duration, Instant};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    runtime.block_on(async {
        if run("tcp") {
            tcp_cycle().await;
        }
        if run("rtu") {
            rtu_wire().await;
        }
        if run("backlog") {
            backlog_memory().await;
        }
        if run("scan") {
            rtu_scan().await;
        }
    });
}

/// A map of 10 f32 quantities (the SDM630's first nine and its energy).
fn ten_quantities() -> map::RegisterMap {
    let full = map::load(&shipped_maps().join("eastron-sdm630.toml")).unwrap();
    let mut text = String::from("meter = \"ten\"\nvalue = \"total_energy\"\nmax_gap = 40\n");
    for q in full
        .quantities
        .iter()
        .take(9)
        .chain(full.quantities.iter().filter(|q| q.name == "total_energy"))
    {
        text.push_str(&format!(
            "[[quantity]]\nname = \"{}\"\nkind = \"input\"\naddress = {}\ntype = \"f32\"\n",
            q.name, q.address
        ));
    }
    map::parse("ten.toml", "ten.toml", &text).unwrap()
}

async fn tcp_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let ten = ten_quantities();
    std::fs::write(dir.path().join("ten.toml"), {
        let mut text = String::from("meter = \"ten\"\nvalue = \"total_energy\"\nmax_gap = 40\n");
        for q in &ten.quantities {
            text.push_str(&format!(
                "[[quantity]]\nname = \"{}\"\nkind = \"input\"\naddress = {}\ntype = \"f32\"\n",
                q.name, q.address
            ));
        }
        text
    })
    .unwrap();
    let mut rest = String::new();
    for n in 0..100 {
        let devices = Devices::default();
        devices.with(1, |d| d.load(&ten, 0, |q| (n * 10 + q) as f64));
        let addr = serve_tcp(devices).await.unwrap();
        rest.push_str(&format!(
            "[bus.gw{n}]\ntcp = \"{addr}\"\n\n[[meter]]\nMeterId = \"m{n}\"\nModbusId = 1\nPort = \"gw{n}\"\nModbusMap = \"ten.toml\"\nSaveEvery = 5\n\n"
        ));
    }
    let site = write_site(dir.path(), "http://127.0.0.1:9", dir.path(), &rest);
    let config = config::load(&site).unwrap();
    let mut fleet = Fleet::new(&config);
    let all: Vec<usize> = (0..100).collect();
    let started = Instant::now();
    let reads = fleet.poll(&all).await;
    let first = started.elapsed();
    assert!(reads.iter().all(|r| r.fault.is_none()));
    let cycles = 20;
    let started = Instant::now();
    for _ in 0..cycles {
        fleet.poll(&all).await;
    }
    let steady = started.elapsed() / cycles;
    println!(
        "TCP: one cycle over 100 meters x 10 quantities ({} requests): first (connecting) {:.1} ms, then {:.2} ms (mean of {cycles}); target < 1000 ms",
        fleet.stats().requests / (cycles as u64 + 1),
        first.as_secs_f64() * 1e3,
        steady.as_secs_f64() * 1e3
    );
}

async fn rtu_wire() {
    println!("\nRTU per meter and cycle (request 8 bytes, answer 5 + 2 per register):");
    println!(
        "{:<26} {:>9} {:>8}   {:>9} {:>8}",
        "map", "requests", "bytes", "naive req", "bytes"
    );
    for file in [
        "eastron-sdm630.toml",
        "eastron-sdm120.toml",
        "carlo-gavazzi-em24.toml",
    ] {
        let m = map::load(&shipped_maps().join(file)).unwrap();
        let (planned, naive) = (plan(&m, 0), one_per_quantity(&m, 0));
        println!(
            "{file:<26} {:>9} {:>8}   {:>9} {:>8}",
            planned.len(),
            rtu_bytes(&planned),
            naive.len(),
            rtu_bytes(&naive)
        );
    }

    // 10 SDM630s on one bus at 9600 baud over a pty pair whose far end
    // answers after the wire time of both frames.
    let dir = tempfile::tempdir().unwrap();
    let line = PtyLine::open().unwrap();
    let device = line.device.clone();
    let sdm630 = map::load(&shipped_maps().join("eastron-sdm630.toml")).unwrap();
    let devices = Devices::default();
    for unit in 1..=10u8 {
        devices.with(unit, |d| d.load(&sdm630, 0, |q| q as f64));
    }
    serve_rtu(devices, line.master, Some(9600));
    let meters: String = (1..=10)
        .map(|u| format!("[[meter]]\nMeterId = \"m{u}\"\nModbusId = {u}\nPort = \"rs485\"\nModbusMap = \"eastron-sdm630.toml\"\nSaveEvery = 5\n\n"))
        .collect();
    let site = write_site(
        dir.path(),
        "http://127.0.0.1:9",
        &shipped_maps(),
        &format!("[bus.rs485]\ndevice = \"{device}\"\nbaud = 9600\n\n{meters}"),
    );
    let config = config::load(&site).unwrap();
    let serial = match &config.buses[0].link {
        config::Link::Serial(serial) => serial.clone(),
        _ => unreachable!(),
    };
    let mut fleet = Fleet::new(&config);
    let all: Vec<usize> = (0..10).collect();
    fleet.poll(&all).await;
    let cycles = 5;
    let started = Instant::now();
    for _ in 0..cycles {
        let reads = fleet.poll(&all).await;
        assert!(reads.iter().all(|r| r.fault.is_none()));
    }
    let cycle = started.elapsed() / cycles;
    let reads = plan(&sdm630, 0);
    let bytes = 10 * rtu_bytes(&reads);
    let requests = 10 * reads.len() as u32;
    let bound = Duration::from_secs_f64(bytes as f64 * 10.0 / 9600.0)
        + serial.inter_frame_gap() * (2 * requests);
    println!(
        "RTU: 10 SDM630 on one bus at 9600 baud: {requests} requests, {bytes} bytes a cycle; cycle {:.0} ms, wire-time bound {:.0} ms \
         (bytes x 10 bits / 9600 + 2 gaps of 3.5 characters a request): {:.2}x; target within 1.5x",
        cycle.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3,
        cycle.as_secs_f64() / bound.as_secs_f64()
    );
}

async fn backlog_memory() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeIngest::start(Mode::Slow(Duration::from_millis(200))).await;
    let devices = Devices::default();
    let addr = serve_tcp(devices).await.unwrap();
    let site = write_site(
        dir.path(),
        &fake.url(),
        &shipped_maps(),
        &format!(
            "[bus.gw]\ntcp = \"{addr}\"\n\n[[meter]]\nMeterId = \"m0\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 60\n"
        ),
    );
    let text = std::fs::read_to_string(&site)
        .unwrap()
        .replace("batch_readings = 100", "batch_readings = 5000");
    std::fs::write(&site, text).unwrap();
    let started = Instant::now();
    let spool = Spool::open(&dir.path().join("spool.sqlite"), u64::MAX).unwrap();
    for chunk in 0..10 {
        let readings = backlog(1_572_455_700, chunk * 100_000..(chunk + 1) * 100_000);
        spool.insert(&readings).unwrap();
    }
    drop(spool);
    let filled = started.elapsed();
    let size = std::fs::metadata(dir.path().join("spool.sqlite"))
        .unwrap()
        .len();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["run", "--config"])
        .arg(&site)
        .env(TOKEN_ENV, TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or(name)
            .split_whitespace()
            .nth(1)
            .unwrap_or("?")
            .to_owned()
    };
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "\nSpool: 1,000,000 pending readings (written in {:.1} s, {:.0} MB on disk); the collector uploading them in batches of 5000: \
         resident {} kB (peak {} kB) after 3 s, {} readings delivered meanwhile",
        filled.as_secs_f64(),
        size as f64 / 1e6,
        field("VmRSS:"),
        field("VmHWM:"),
        fake.stored()
    );
}

/// A full scan (ids 1-247) of an RTU bus at 9600 baud over a pty pair
/// whose far end answers after the wire time, with an SDM630 at 10, an
/// EM24 at 100 and a SunSpec inverter at 200. The timeout is 200 ms, not
/// the default 1000 ms, to keep it under a minute: enough at 9600 baud for
/// the longest answer a scan asks for (the common model's 68 registers,
/// about 155 ms of wire time).
async fn rtu_scan() {
    use collector::config::{Bus, Link};
    use collector::scan::{self, ScanSettings};
    let timeout = Duration::from_millis(200);
    let line = PtyLine::open().unwrap();
    let devices = Devices::default();
    let sdm630 = map::load(&shipped_maps().join("eastron-sdm630.toml")).unwrap();
    let em24 = map::load(&shipped_maps().join("carlo-gavazzi-em24.toml")).unwrap();
    devices.with(10, |d| d.load(&sdm630, 0, |q| 230.0 + q as f64));
    devices.with(100, |d| d.load(&em24, 0, |q| 230.0 + q as f64));
    devices.with(200, |d| {
        sunspec_chain::inverter_with_meter(40000, "SN200").load(d)
    });
    serve_rtu(devices.clone(), line.master, Some(9600));
    let maps = [
        "eastron-sdm630.toml",
        "eastron-sdm120.toml",
        "carlo-gavazzi-em24.toml",
    ]
    .map(|file| map::load(&shipped_maps().join(file)).unwrap())
    .to_vec();
    let settings = ScanSettings {
        bus: Bus {
            name: "rs485".into(),
            link: Link::Serial(
                config::serial_settings(line.device.clone().into(), 9600, "none", 8, 1).unwrap(),
            ),
        },
        ids: 1..=247,
        timeout,
        maps,
    };
    let started = Instant::now();
    let report = scan::scan(&settings, |_| {}).await.unwrap();
    let took = started.elapsed();
    let found: Vec<u8> = report.found.iter().map(|f| f.unit).collect();
    assert_eq!(found, [10, 100, 200], "{report:?}");
    let bound = timeout * 247;
    println!(
        "\nscan: ids 1-247 at 9600 baud over a pty pair, 3 devices, {} ms timeout: {:.1} s, {} requests; \
         247 x timeout = {:.1} s: {:.2}x (target within 1.2x); printed worst case for absent ids {:.1} s",
        timeout.as_millis(),
        took.as_secs_f64(),
        devices.requests(),
        bound.as_secs_f64(),
        took.as_secs_f64() / bound.as_secs_f64(),
        settings.worst_case_absent().as_secs_f64()
    );
}
