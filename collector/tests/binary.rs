//! The shipped binary against simulated meters and a recording ingest
//! endpoint: `check` reads every meter of the three shipped maps, and
//! `run --once` delivers each reading exactly once, also after a first run
//! whose delivery failed.
//!
//! By default it runs the binary cargo built for this machine. The package
//! CI (`.ci/collector-packages`) points it at another one with
//! `COLLECTOR_BINARY` (a cross-built or installed binary) and
//! `COLLECTOR_RUNNER` (a command put before it, e.g. `qemu-aarch64 -L
//! /usr/aarch64-linux-gnu`): the meters and the endpoint stay in this
//! (native) test process, the collector runs as the site would run it.

mod common;

use collector::map::RegisterMap;
use collector::simulator::{Devices, serve_tcp};
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test, after its runner's words when there is one.
fn collector_command() -> Command {
    let binary = std::env::var_os("COLLECTOR_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_collector")),
        PathBuf::from,
    );
    let runner = std::env::var("COLLECTOR_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// Runs `collector ARGS --config SITE`: success, stdout, stderr.
fn collector(args: &[&str], site: &Path) -> (bool, String, String) {
    let output = collector_command()
        .args(args)
        .arg("--config")
        .arg(site)
        .env(TOKEN_ENV, TOKEN)
        .env("RUST_LOG", "info")
        .output()
        .expect("the collector binary (COLLECTOR_BINARY, COLLECTOR_RUNNER) cannot be started");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One simulated meter: its id, unit id, shipped map and loaded map.
struct SimulatedMeter {
    id: &'static str,
    unit: u8,
    map_file: &'static str,
    map: RegisterMap,
}

impl SimulatedMeter {
    /// Quantity `q` of this meter reads `1000 + 100 × unit + 10 × q` (whole
    /// tenths, exact in every type and scale the shipped maps use).
    fn value(&self, q: usize) -> f64 {
        1000.0 + 100.0 * f64::from(self.unit) + 10.0 * q as f64
    }

    fn point_value(&self) -> f64 {
        self.value(self.map.value)
    }
}

/// The three shipped maps, one meter each, behind one Modbus TCP server,
/// and a site.toml (daily readings) that reads them and delivers to
/// `server`.
async fn three_meters(dir: &Path, server: &str) -> (PathBuf, Vec<SimulatedMeter>) {
    let meters: Vec<SimulatedMeter> = [
        ("sdm120", 1, "eastron-sdm120.toml"),
        ("sdm630", 2, "eastron-sdm630.toml"),
        ("em24", 3, "carlo-gavazzi-em24.toml"),
    ]
    .into_iter()
    .map(|(id, unit, map_file)| SimulatedMeter {
        id,
        unit,
        map_file,
        map: collector::map::load(&shipped_maps().join(map_file)).unwrap(),
    })
    .collect();
    let devices = Devices::default();
    for meter in &meters {
        devices.with(meter.unit, |d| d.load(&meter.map, 0, |q| meter.value(q)));
    }
    let modbus = serve_tcp(devices).await.unwrap();
    let mut rest = format!("[bus.panel]\ntcp = \"{modbus}\"\n");
    for meter in &meters {
        rest.push_str(&format!(
            "\n[[meter]]\nMeterId = \"{}\"\nModbusId = {}\nPort = \"panel\"\nMeterType = \"{}\"\nModbusMap = \"{}\"\nSaveEvery = 1440\n",
            meter.id, meter.unit, meter.map.meter, meter.map_file
        ));
    }
    (write_site(dir, server, &shipped_maps(), &rest), meters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reads_every_meter_of_the_three_shipped_maps() {
    within(120, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        let (site, meters) = three_meters(dir.path(), &fake.url()).await;

        let (ok, out, err) = collector(&["check"], &site);
        assert!(
            ok,
            "every meter answers and the clock is trusted:\n{out}\n{err}"
        );
        assert!(out.contains("valid, 3 meters on 1 buses"), "{out}");
        for meter in &meters {
            let value_name = &meter.map.quantities[meter.map.value].name;
            let line = out
                .lines()
                .find(|l| l.starts_with(meter.id) && l.contains(value_name.as_str()))
                .unwrap_or_else(|| panic!("no {value_name} line for {}:\n{out}", meter.id));
            assert!(line.ends_with("kWh (the point's value)"), "{line}");
            let shown: f64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
            assert!(
                (shown - meter.point_value()).abs() < 1e-6,
                "{}: {shown} shown, {} simulated",
                meter.id,
                meter.point_value()
            );
        }
        assert_eq!(fake.requests(), 0, "check delivers nothing");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_each_reading_exactly_once_after_a_failed_delivery() {
    within(120, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Down).await;
        let (site, meters) = three_meters(dir.path(), &fake.url()).await;

        // The server is down: the readings wait in the spool.
        let (ok, out, err) = collector(&["run", "--once"], &site);
        assert!(!ok, "delivery failed, so the run fails:\n{out}\n{err}");
        assert!(
            out.starts_with(
                "3 meters read (3 answered), 3 readings spooled, 0 delivered, 3 pending"
            ),
            "{out}\n{err}"
        );
        assert_eq!(fake.stored(), 0);

        // Up again: the second run reads the same day's boundary again
        // (already pending: not spooled twice) and delivers the three.
        fake.set(Mode::Up);
        let (ok, out, err) = collector(&["run", "--once"], &site);
        assert!(ok, "{out}\n{err}");
        let (_, spool, _) = collector(&["spool"], &site);
        let pending = spool.lines().find(|l| l.starts_with("pending")).unwrap();
        assert_eq!(pending.split_whitespace().nth(1), Some("0"), "{spool}");

        let received = fake.snapshot();
        assert_eq!(received.duplicates, 0, "no reading arrived twice");
        // Normally one day's boundary; two when the runs straddled
        // midnight UTC (the second run then also took the new day's).
        let days: std::collections::BTreeSet<i64> =
            received.stored.keys().map(|(_, ts)| *ts).collect();
        assert!(
            !days.is_empty() && days.len() <= 2 && days.iter().all(|ts| ts % 86_400 == 0),
            "{days:?}"
        );
        assert_eq!(
            received.stored.len(),
            meters.len() * days.len(),
            "{received:?}"
        );
        for meter in &meters {
            for day in &days {
                let value = received.stored.get(&(meter.id.to_owned(), *day));
                assert!(
                    value.is_some_and(|v| (v - meter.point_value()).abs() < 1e-6),
                    "{} at {day}: {value:?}, simulated {}",
                    meter.id,
                    meter.point_value()
                );
            }
            assert!(
                received
                    .announcements
                    .iter()
                    .any(|a| a.meter_id == meter.id),
                "{} was announced: {:?}",
                meter.id,
                received.announcements
            );
        }
        assert!(
            !err.contains(TOKEN) && !out.contains(TOKEN),
            "the token is never shown"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_announces_the_meters_and_stops_on_sigterm() {
    within(120, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        let (site, meters) = three_meters(dir.path(), &fake.url()).await;
        let log = dir.path().join("run.log");
        let mut running = collector_command()
            .args(["run", "--config"])
            .arg(&site)
            .env(TOKEN_ENV, TOKEN)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the collector binary (COLLECTOR_BINARY, COLLECTOR_RUNNER) cannot be started");
        wait_until(60, "the meters' announcement", || {
            fake.snapshot().announcements.len() == meters.len()
        })
        .await;
        // Printed, not judged (`-- --nocapture` shows it): the peak memory
        // of the process (under qemu-user, qemu's own included).
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", running.id())).unwrap_or_default();
        if let Some(peak) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            println!("collector run, started and announced: {peak}");
        }
        // SAFETY: signals the child this test started; touches no memory.
        unsafe { libc::kill(running.id() as i32, libc::SIGTERM) };
        let mut exit = None;
        for _ in 0..1000 {
            exit = running.try_wait().unwrap();
            if exit.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let Some(exit) = exit else {
            running.kill().unwrap();
            panic!("still running 10 s after SIGTERM");
        };
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(exit.success(), "{exit:?}\n{log}");
        assert!(log.contains("SIGTERM: stopping"), "{log}");
        assert!(!log.contains(TOKEN), "the token is never logged");
    })
    .await
}
