//! `collector scan`: devices of different kinds at distinct ids over
//! Modbus TCP and over RTU on a pseudo-terminal pair, the printed blocks
//! loading as site.toml and reading those devices, one request per absent
//! id, and the hostile cases (a device that answers every id, garbled
//! answers, exceptions, a bus that cannot be opened).

mod common;
mod sunspec_chain;

use collector::bus::Fleet;
use collector::config::{self, Bus, Link, SerialSettings};
use collector::map::{self, RegisterMap};
use collector::scan::{self, Outcome, ScanReport, ScanSettings};
use collector::simulator::{Devices, PtyLine, serve_rtu, serve_tcp};
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use sunspec_chain::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_modbus::ExceptionCode;

fn shipped() -> Vec<RegisterMap> {
    let mut paths: Vec<_> = std::fs::read_dir(shipped_maps())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| map::load(p).unwrap()).collect()
}

fn shipped_map(file: &str) -> RegisterMap {
    map::load(&shipped_maps().join(file)).unwrap()
}

/// Voltages of 229.8 to 231.5 V, energies of 1000 + the quantity's index.
fn meter_values(map: &RegisterMap) -> impl Fn(usize) -> f64 + '_ {
    |q| {
        if map.quantities[q].unit == "V" {
            229.8 + 0.85 * q as f64
        } else {
            1000.0 + q as f64
        }
    }
}

/// An SDM630 at 3, an EM24 at 7, a SunSpec inverter (with a meter model)
/// at 12.
fn three_devices() -> Devices {
    let devices = Devices::default();
    let sdm630 = shipped_map("eastron-sdm630.toml");
    let em24 = shipped_map("carlo-gavazzi-em24.toml");
    devices.with(3, |d| d.load(&sdm630, 0, meter_values(&sdm630)));
    devices.with(7, |d| d.load(&em24, 0, meter_values(&em24)));
    devices.with(12, |d| inverter_with_meter(40000, "SN12").load(d));
    devices
}

fn tcp_settings(addr: std::net::SocketAddr, ids: std::ops::RangeInclusive<u8>) -> ScanSettings {
    ScanSettings {
        bus: Bus {
            name: "gw".into(),
            link: Link::Tcp(addr.to_string()),
        },
        ids,
        timeout: Duration::from_millis(100),
        maps: shipped(),
    }
}

/// `blocks` under a site head, loaded.
fn load_blocks(dir: &Path, blocks: &str) -> config::Config {
    let site = write_site(dir, "http://127.0.0.1:9", &shipped_maps(), blocks);
    config::load(&site).unwrap_or_else(|e| panic!("the printed blocks do not load: {e}\n{blocks}"))
}

/// The `[[meter]]` headers in `blocks` (not in comments).
fn meter_blocks(blocks: &str) -> usize {
    blocks.lines().filter(|line| *line == "[[meter]]").count()
}

fn units(report: &ScanReport) -> Vec<u8> {
    report.found.iter().map(|f| f.unit).collect()
}

fn assert_three_devices(report: &ScanReport) {
    assert_eq!(units(report), [3, 7, 12], "{report:#?}");
    assert_eq!(report.stopped, None);
    let Outcome::Maps(sdm) = &report.found[0].outcome else {
        panic!("{:?}", report.found[0])
    };
    let names: Vec<&str> = sdm.iter().map(|c| c.map.as_str()).collect();
    // Eastron's models share their voltage and energy registers: all are
    // listed, the three-phase ones (three plausible voltages) before the
    // single-phase ones, for the technician to check the label.
    let three_phase = [
        "eastron-sdm630.toml",
        "eastron-sdm54.toml",
        "eastron-sdm72d-m-v2.toml",
    ];
    assert!(three_phase.contains(&names[0]), "{names:?}");
    assert!(names.contains(&"eastron-sdm630.toml"), "{names:?}");
    let single = names
        .iter()
        .position(|n| *n == "eastron-sdm120.toml")
        .unwrap();
    assert!(
        names[..single].contains(&"eastron-sdm630.toml"),
        "{names:?}"
    );
    assert!((sdm[0].volts[0].unwrap() - 229.8).abs() < 1e-3, "{sdm:?}");
    let Outcome::Maps(em) = &report.found[1].outcome else {
        panic!("{:?}", report.found[1])
    };
    assert_eq!(em[0].map, "carlo-gavazzi-em24.toml");
    let Outcome::SunSpec { device, model } = &report.found[2].outcome else {
        panic!("{:?}", report.found[2])
    };
    assert_eq!(device.base, 40000);
    assert_eq!(device.model_ids(), "1, 103, 120, 203");
    assert_eq!(device.identity.serial.as_deref(), Some("SN12"));
    assert_eq!(model.map(|m| m.id), Some(103));
}

#[tokio::test]
async fn tcp_scan_finds_three_kinds_and_its_blocks_read_them() {
    within(60, async {
        let devices = three_devices();
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let settings = tcp_settings(addr, 1..=15);
        let mut seen = Vec::new();
        let report = scan::scan(&settings, |found| seen.push(found.unit))
            .await
            .unwrap();
        assert_eq!(seen, [3, 7, 12], "progress as found");
        assert_three_devices(&report);

        let blocks = scan::site_blocks(&settings, &report);
        assert!(
            blocks.contains("ModbusMap = \"sunspec:203\""),
            "the alternative model: {blocks}"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = load_blocks(dir.path(), &blocks);
        let maps: Vec<(&str, u8, &str)> = config
            .meters
            .iter()
            .map(|m| {
                (
                    m.id.as_str(),
                    m.unit,
                    m.announcement.modbus_map.as_deref().unwrap(),
                )
            })
            .collect();
        // The SDM630 at 3 is written as the first three-phase Eastron map
        // that fits (they share its registers; the others are comments).
        assert_eq!(maps[0].0, "gw-3");
        assert!(
            [
                "eastron-sdm630.toml",
                "eastron-sdm54.toml",
                "eastron-sdm72d-m-v2.toml"
            ]
            .contains(&maps[0].2),
            "{maps:?}"
        );
        assert_eq!(
            maps[1..],
            [
                ("gw-7", 7, "carlo-gavazzi-em24.toml"),
                ("gw-12", 12, "sunspec")
            ]
        );
        assert_eq!(
            config.meters[2].announcement.meter_type.as_deref(),
            Some("Acme Solar Sunny 8000")
        );
        assert_eq!(
            config.meters[2].announcement.no_phases.as_deref(),
            Some("3")
        );
        // The configuration the scan wrote reads every device's value.
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0, 1, 2]).await;
        let values: Vec<Option<f64>> = reads
            .iter()
            .map(|r| r.value(&config.meters[r.meter]))
            .collect();
        assert_eq!(values[2], Some(12_345.678));
        assert!(values.iter().all(Option::is_some), "{reads:?}");
    })
    .await
}

#[tokio::test]
async fn an_absent_id_costs_one_request() {
    within(30, async {
        let devices = Devices::default();
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let report = scan::scan(&tcp_settings(addr, 1..=10), |_| {})
            .await
            .unwrap();
        assert!(report.found.is_empty());
        assert_eq!(report.probed, 10);
        assert_eq!(devices.requests(), 10, "one probe per id, no retry");
    })
    .await
}

#[tokio::test]
async fn rtu_scan_over_a_pty_pair() {
    within(60, async {
        let line = PtyLine::open().unwrap();
        let devices = Devices::default();
        let sdm120 = shipped_map("eastron-sdm120.toml");
        devices.with(2, |d| d.load(&sdm120, 0, meter_values(&sdm120)));
        devices.with(5, |d| inverter_with_meter(0, "SN5").load(d));
        serve_rtu(devices.clone(), line.master, Some(9600));
        let serial =
            config::serial_settings(line.device.clone().into(), 9600, "none", 8, 1).unwrap();
        let settings = ScanSettings {
            bus: Bus {
                name: "rs485".into(),
                link: Link::Serial(serial),
            },
            ids: 1..=6,
            timeout: Duration::from_millis(200),
            maps: shipped(),
        };
        let report = scan::scan(&settings, |_| {}).await.unwrap();
        assert_eq!(units(&report), [2, 5], "{report:#?}");
        let Outcome::Maps(candidates) = &report.found[0].outcome else {
            panic!("{report:?}")
        };
        // An SDM120's voltage at an SDM630's L2 and L3 is no voltage: a
        // single-phase Eastron map comes first (they share a layout; the
        // technician checks the label).
        let single_phase = [
            "eastron-sdm120.toml",
            "eastron-sdm220.toml",
            "eastron-sdm230.toml",
        ];
        assert!(
            single_phase.contains(&candidates[0].map.as_str()),
            "{candidates:?}"
        );
        let three_phase = candidates
            .iter()
            .position(|c| c.map == "eastron-sdm630.toml")
            .unwrap();
        let sdm120 = candidates
            .iter()
            .position(|c| c.map == "eastron-sdm120.toml")
            .unwrap();
        assert!(sdm120 < three_phase, "{candidates:?}");
        assert!(
            matches!(&report.found[1].outcome, Outcome::SunSpec { device, .. } if device.base == 0)
        );
        let blocks = scan::site_blocks(&settings, &report);
        let dir = tempfile::tempdir().unwrap();
        let config = load_blocks(dir.path(), &blocks);
        assert!(matches!(
            &config.buses[0].link,
            Link::Serial(SerialSettings { baud: 9600, .. })
        ));
        assert_eq!(config.meters.len(), 2);
        assert_eq!(config.meters[1].announcement.start_address, Some(0));
    })
    .await
}

#[tokio::test]
async fn a_device_that_answers_every_id_is_one_device() {
    within(60, async {
        let devices = Devices::default();
        let sdm630 = shipped_map("eastron-sdm630.toml");
        for unit in 0..=255 {
            devices.with(unit, |d| d.load(&sdm630, 0, meter_values(&sdm630)));
        }
        let addr = serve_tcp(devices).await.unwrap();
        let settings = tcp_settings(addr, 1..=247);
        let report = scan::scan(&settings, |_| {}).await.unwrap();
        assert_eq!(report.answers_every_id, Some(vec![1, 2, 3]));
        assert_eq!(report.probed, 3, "stopped at once");
        assert!(
            report
                .stopped
                .as_deref()
                .unwrap()
                .contains("answers for every unit id")
        );
        let blocks = scan::site_blocks(&settings, &report);
        assert_eq!(meter_blocks(&blocks), 1, "{blocks}");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_blocks(dir.path(), &blocks).meters[0].unit, 1);
    })
    .await
}

#[tokio::test]
async fn exceptions_and_gateways_that_find_nobody() {
    within(30, async {
        let devices = Devices::default();
        devices.with(1, |d| d.exception = Some(ExceptionCode::IllegalFunction));
        devices.with(2, |d| d.exception = Some(ExceptionCode::GatewayTargetDevice));
        devices.with(3, |d| d.exception = Some(ExceptionCode::IllegalDataAddress));
        let addr = serve_tcp(devices).await.unwrap();
        let settings = tcp_settings(addr, 1..=4);
        let report = scan::scan(&settings, |_| {}).await.unwrap();
        // Unit 2 is a gateway's "nobody there"; 4 is silent.
        assert_eq!(units(&report), [1, 3]);
        for found in &report.found {
            let Outcome::Unknown(what) = &found.outcome else {
                panic!("{found:?}")
            };
            assert!(what.contains("exception"), "{what}");
        }
        let blocks = scan::site_blocks(&settings, &report);
        assert_eq!(meter_blocks(&blocks), 0, "{blocks}");
        assert!(blocks.contains("# unit 1: answers, but matches no map (holding register 40000 answered exception 1"), "{blocks}");
        let dir = tempfile::tempdir().unwrap();
        // The bus section alone, under a site with a meter of its own, loads.
        load_blocks(dir.path(), &format!("{blocks}\n[[meter]]\nMeterId = \"x\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 5\n"));
    })
    .await
}

/// A Modbus TCP server that answers unit `garbled` (or every unit when
/// `None`) with a frame that is not Modbus, and nobody else.
async fn garbling_server(garbled: Option<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 12];
                while stream.read_exact(&mut request).await.is_ok() {
                    let unit = request[6];
                    if garbled.is_none_or(|g| g == unit) {
                        // Its own transaction id, then a length and a
                        // function code that say nothing of the sort.
                        let answer = [request[0], request[1], 0, 0, 0, 3, unit, 0x03, 0x07];
                        if stream.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_garbled_answer_is_reported_and_the_scan_goes_on() {
    within(30, async {
        let addr = garbling_server(Some(2)).await;
        let report = scan::scan(&tcp_settings(addr, 1..=3), |_| {})
            .await
            .unwrap();
        assert_eq!(report.probed, 3);
        assert_eq!(units(&report), [2]);
        assert!(
            matches!(report.found[0].outcome, Outcome::Trouble(_)),
            "{report:?}"
        );
        println!("{}", scan::describe(&report.found[0]));

        // Every id garbled: the link, not the devices; it stops.
        let addr = garbling_server(None).await;
        let report = scan::scan(&tcp_settings(addr, 1..=247), |_| {})
            .await
            .unwrap();
        assert_eq!(report.probed, 5);
        assert!(
            report
                .stopped
                .as_deref()
                .unwrap()
                .contains("failed on the link")
        );
    })
    .await
}

#[tokio::test]
async fn a_bus_that_cannot_be_opened_is_an_error() {
    within(30, async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = scan::scan(&tcp_settings(addr, 1..=3), |_| {})
            .await
            .unwrap_err();
        assert!(error.to_string().contains("cannot connect"), "{error}");
        let mut settings = tcp_settings(addr, 1..=3);
        settings.bus.link = Link::Serial(
            config::serial_settings("/nonexistent/ttyUSB9".into(), 9600, "none", 8, 1).unwrap(),
        );
        let error = scan::scan(&settings, |_| {}).await.unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/ttyUSB9"),
            "{error}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_command_prints_its_worst_case_then_blocks_that_load() {
    within(60, async {
        let addr = serve_tcp(three_devices()).await.unwrap();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_collector"))
                .args([
                    "scan",
                    "--tcp",
                    &addr.to_string(),
                    "--ids",
                    "1-15",
                    "--timeout-ms",
                    "100",
                    "--bus",
                    "panel",
                ])
                .arg("--maps")
                .arg(shipped_maps())
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert!(output.status.success(), "{stderr}");
        let worst = stderr
            .find("Worst case: 1.5 s if no id answers (15 x 100 ms)")
            .unwrap_or_else(|| panic!("{stderr}"));
        let first = stderr
            .find("unit 3: Eastron SDM")
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(
            worst < first,
            "the worst case comes before the scan: {stderr}"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = load_blocks(dir.path(), &stdout);
        assert_eq!(config.buses[0].name, "panel");
        assert_eq!(config.meters.len(), 3);

        // Bad arguments: a clear error, no scan.
        let output = Command::new(env!("CARGO_BIN_EXE_collector"))
            .args([
                "scan",
                "--serial",
                "/dev/ttyUSB0",
                "--parity",
                "mark",
                "--maps",
            ])
            .arg(shipped_maps())
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--parity: \"mark\" is not none, even or odd"),
            "{stderr}"
        );
    })
    .await
}
