//! What the site technician runs: `collector check`, `collector run
//! --once`, `collector spool`, and a running collector that re-announces
//! its meters when site.toml changes.

mod common;

use collector::simulator::{Devices, serve_tcp};
use common::*;
use std::path::Path;
use std::process::Command;

fn collector(args: &[&str], site: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(args)
        .arg("--config")
        .arg(site)
        .env(TOKEN_ENV, TOKEN)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn two_meters(dir: &Path, server: &str) -> std::path::PathBuf {
    let devices = Devices::default();
    let sdm120 = collector::map::load(&shipped_maps().join("eastron-sdm120.toml")).unwrap();
    devices.with(1, |d| d.load(&sdm120, 0, |q| 10.0 * q as f64 + 0.5));
    let addr = serve_tcp(devices).await.unwrap();
    write_site(
        dir,
        server,
        &shipped_maps(),
        &format!(
            "[bus.gw]\ntcp = \"{addr}\"\n\n\
             [[meter]]\nMeterId = \"kitchen\"\nModbusId = 1\nPort = \"gw\"\nMeterType = \"SDM120\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 5\n\n\
             [[meter]]\nMeterId = \"gone\"\nModbusId = 9\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 5\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_once_and_spool() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        // Unit 9 is nobody: TCP gateways answer for any unit here, so it
        // is a silent device.
        let site = two_meters(dir.path(), &fake.url()).await;

        let (ok, out, _) = collector(&["check"], &site);
        assert!(!ok, "a meter does not answer: {out}");
        assert!(out.contains("valid, 2 meters on 1 buses"), "{out}");
        assert!(
            out.contains("ingest token: found (environment variable COLLECTOR_TEST_INGEST_TOKEN)"),
            "{out}"
        );
        assert!(!out.contains(TOKEN), "the token is never shown");
        // The build machines' kernels may or may not say NTP synchronised
        // the clock; the site does not require it, so either is trusted.
        let clock = out.lines().find(|l| l.starts_with("clock: ")).unwrap();
        assert!(
            clock.ends_with(", synchronised")
                || clock.ends_with(
                    ", not synchronised, trusted as site.toml says (require_clock_sync = false)"
                ),
            "{out}"
        );
        let line = out.lines().find(|l| l.contains("total_energy")).unwrap();
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            [
                "kitchen",
                "gw",
                "1",
                "total_energy",
                "70.5",
                "kWh",
                "(the",
                "point's",
                "value)"
            ]
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("gone")
                    && l.contains("NOT ANSWERING: no answer within 300 ms")),
            "{out}"
        );
        assert_eq!(
            out.lines().last(),
            Some("gone: not answering: no answer within 300 ms (unit 9 on bus gw)"),
            "{out}"
        );

        let (ok, out, err) = collector(&["run", "--once"], &site);
        assert!(ok, "{out}{err}");
        assert_eq!(
            out.trim(),
            "2 meters read (1 answered), 1 readings spooled, 1 delivered, 0 pending"
        );
        let stored = fake.snapshot().stored;
        let ((meter, ts), value) = stored.iter().next().unwrap();
        assert_eq!((meter.as_str(), *value), ("kitchen", 70.5));
        assert_eq!(ts % 300, 0, "stamped with its boundary");
        assert!(
            err.contains("meter stopped answering") && err.contains("gone"),
            "{err}"
        );

        fake.set(Mode::Status(503));
        let (ok, out, _) = collector(&["run", "--once"], &site);
        assert!(!ok);
        assert!(out.contains("delivery stopped: 503"), "{out}");
        let (ok, out, _) = collector(&["spool"], &site);
        assert!(ok);
        // The second run read the same boundary again and could not deliver
        // it (ingest keeps the first value of a meter and time).
        assert!(out.contains("\npending         1\n"), "{out}");
        assert!(out.contains("\ndelivered       1 "), "{out}");

        let broken = std::fs::read_to_string(&site)
            .unwrap()
            .replace("SaveEvery = 5\n\n", "SaveEvery = 7\n\n");
        std::fs::write(&site, broken).unwrap();
        let (ok, _, err) = collector(&["check"], &site);
        assert!(!ok);
        assert!(
            err.contains("site.toml:")
                && err.contains("meter[0].SaveEvery: 7 minutes does not divide a day"),
            "{err}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_configuration_is_announced() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        let site = two_meters(dir.path(), &fake.url()).await;
        let config = collector::config::load(&site).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(collector::run(config, async move {
            let _ = stop_rx.await;
        }));
        wait_until(10, "the first announcement", || {
            fake.snapshot().announcements.len() == 2
        })
        .await;
        let changed = std::fs::read_to_string(&site)
            .unwrap()
            .replace("MeterType = \"SDM120\"", "MeterType = \"SDM120-MID\"");
        std::fs::write(&site, changed).unwrap();
        wait_until(10, "the new announcement", || {
            fake.snapshot().announcements.len() == 4
        })
        .await;
        let announced = fake.snapshot().announcements;
        assert_eq!(announced[2].meter_type.as_deref(), Some("SDM120-MID"));
        stop_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_shows_the_oldest_pending_reading_and_what_is_kept_why() {
    within(60, async {
        use collector::spool::{NewReading, Spool};
        let dir = tempfile::tempdir().unwrap();
        let site = two_meters(dir.path(), "http://127.0.0.1:9").await;
        let spool_path = dir.path().join("spool.sqlite");
        // 2019-10-30T14:00:00Z
        let t1400 = 1_572_444_000;
        let (ok, out, err) = collector(&["spool"], &site);
        assert!(ok, "{err}");
        assert!(out.contains("\noldest pending  none\n"), "{out}");

        let spool = Spool::open(&spool_path, 1_000).unwrap();
        let reading = |minute: i64, meter: &str| NewReading {
            meter_id: meter.to_owned(),
            ts: t1400 + 60 * minute,
            value: minute as f64,
        };
        // 14:05 refused by the server, 14:10 delivered, then 21 readings
        // from 14:12 waiting.
        spool.insert(&[reading(5, "kitchen")]).unwrap();
        let refused = spool.oldest(1).unwrap();
        spool.quarantine(&refused, "400: no", t1400 + 400).unwrap();
        spool.insert(&[reading(10, "kitchen")]).unwrap();
        let delivered = spool.oldest(1).unwrap();
        spool.delivered(&delivered).unwrap();
        let waiting: Vec<NewReading> = (12..33).map(|m| reading(m, "kitchen")).collect();
        spool.insert(&waiting).unwrap();
        drop(spool);

        let (ok, out, err) = collector(&["spool"], &site);
        assert!(ok, "{err}");
        assert_eq!(
            out,
            format!(
                "spool           {}\n\
                 pending         21\n\
                 oldest pending  2019-10-30T14:12:00Z\n\
                 quarantined     1 (refused: kept, never sent again; see --quarantined)\n\
                 delivered       1 (acknowledged by the server: not kept)\n\
                 dropped         0\n",
                spool_path.display()
            )
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_a_meter_whose_point_value_cannot_be_read() {
    within(60, async {
        use collector::map::RegisterKind;
        use tokio_modbus::ExceptionCode;
        let dir = tempfile::tempdir().unwrap();
        let sdm120 = collector::map::load(&shipped_maps().join("eastron-sdm120.toml")).unwrap();
        let energy = sdm120.quantities[sdm120.value].address;
        let devices = Devices::default();
        let good = |d: &mut collector::simulator::Device| {
            *d = Default::default();
            d.load(&sdm120, 0, |q| 10.0 * q as f64 + 0.5);
        };
        devices.with(1, good);
        // Unit 7: a wrong ModbusId, whatever answers there refuses every
        // read; unit 8: the gateway reaches nobody; unit 4 answers all but
        // the energy register.
        devices.with(7, |d| d.exception = Some(ExceptionCode::IllegalDataAddress));
        devices.with(8, |d| d.exception = Some(ExceptionCode::GatewayTargetDevice));
        devices.with(4, |d| {
            good(d);
            d.refuse(RegisterKind::Input, energy);
        });
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let meters: String = [("kitchen", 1), ("wrongid", 7), ("unreached", 8), ("noenergy", 4)]
            .iter()
            .map(|(id, unit)| {
                format!("[[meter]]\nMeterId = \"{id}\"\nModbusId = {unit}\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 5\n\n")
            })
            .collect();
        let site = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            &format!("[bus.gw]\ntcp = \"{addr}\"\n\n{meters}"),
        );

        let (ok, out, err) = collector(&["check"], &site);
        assert!(!ok, "three meters have no point value:\n{out}{err}");
        // Today's table, then one line per meter that fails.
        assert!(out.contains("\nMETER "), "{out}");
        let energy_rows: Vec<Vec<&str>> = out
            .lines()
            .filter(|l| l.contains("total_energy"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(energy_rows[0][..5], ["kitchen", "gw", "1", "total_energy", "70.5"]);
        assert_eq!(energy_rows[1][..5], ["wrongid", "gw", "7", "total_energy", "(no"]);
        let verdicts: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(": no point value"))
            .collect();
        assert_eq!(
            verdicts,
            [
                "wrongid: no point value (total_energy): Modbus exception 2, Illegal data address (unit 7 on bus gw)",
                "unreached: no point value (total_energy): Modbus exception 11, Gateway target device failed to respond (unit 8 on bus gw)",
                "noenergy: no point value (total_energy): Modbus exception 2, Illegal data address (unit 4 on bus gw)",
            ],
            "{out}"
        );

        // The meters fixed: the site passes.
        for unit in [7, 8, 4] {
            devices.with(unit, good);
        }
        let (ok, out, err) = collector(&["check"], &site);
        assert!(ok, "{out}{err}");
        assert!(!out.contains("no point value"), "{out}");
    })
    .await
}
