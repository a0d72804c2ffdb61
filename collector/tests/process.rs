//! The collector as a process: killed with SIGKILL in the middle of an
//! upload and started again, it delivers everything with no gap and no
//! duplicate stored; SIGTERM stops it within a second.

mod common;

use collector::simulator::{Devices, serve_tcp};
use collector::spool::{NewReading, Spool};
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 2019-10-30T17:15:00Z
const T0: i64 = 1_572_455_700;
const BACKLOG: i64 = 1500; // per meter

fn start(site: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["run", "--config"])
        .arg(site)
        .env(TOKEN_ENV, TOKEN)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn pending(spool: &Path) -> u64 {
    Spool::open(spool, u64::MAX)
        .unwrap()
        .stats()
        .unwrap()
        .pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_and_restarted_it_delivers_everything_once() {
    within(90, async {
        let dir = tempfile::tempdir().unwrap();
        let devices = Devices::default();
        let map = collector::map::load(&shipped_maps().join("eastron-sdm120.toml")).unwrap();
        devices.with(1, |d| d.load(&map, 0, |q| q as f64));
        devices.with(2, |d| d.load(&map, 0, |q| q as f64));
        let modbus = serve_tcp(devices).await.unwrap();
        let fake = FakeIngest::start(Mode::Slow(Duration::from_millis(100))).await;
        let site = write_site(
            dir.path(),
            &fake.url(),
            &shipped_maps(),
            &format!(
                "[bus.gw]\ntcp = \"{modbus}\"\n\n\
                 [[meter]]\nMeterId = \"m1\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 60\n\n\
                 [[meter]]\nMeterId = \"m2\"\nModbusId = 2\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 60\n"
            ),
        );
        // A backlog, as after a long outage.
        let spool_path = dir.path().join("spool.sqlite");
        let backlog: Vec<NewReading> = (0..BACKLOG)
            .flat_map(|i| ["m1", "m2"].map(|m| NewReading { meter_id: m.into(), ts: T0 + 300 * i, value: i as f64 }))
            .collect();
        Spool::open(&spool_path, u64::MAX).unwrap().insert(&backlog).unwrap();

        let mut first = start(&site, &dir.path().join("first.log"));
        // Killed while the server holds a batch it stored but has not
        // acknowledged yet (it answers 100 ms after storing).
        wait_until(30, "some batches stored", || fake.stored() >= 500).await;
        first.kill().unwrap(); // SIGKILL
        first.wait().unwrap();
        let stored_before = fake.stored();
        let left = pending(&spool_path);
        assert!(left > 0 && left < 2 * BACKLOG as u64, "{left} pending");
        assert!(
            stored_before as u64 + left > 2 * BACKLOG as u64,
            "the batch in flight was stored but not acknowledged: {stored_before} stored, {left} pending"
        );

        fake.set(Mode::Up);
        let mut second = start(&site, &dir.path().join("second.log"));
        wait_until(60, "the spool to empty", || pending(&spool_path) == 0).await;

        // Count them: every reading of the backlog stored exactly once.
        let received = fake.snapshot();
        for reading in &backlog {
            let key = (reading.meter_id.clone(), reading.ts);
            assert_eq!(received.stored.get(&key), Some(&reading.value), "{key:?} is missing");
        }
        let own: Vec<_> = received.stored.keys().filter(|(_, ts)| *ts % 3600 == 0 && *ts > T0 + 300 * BACKLOG).collect();
        assert_eq!(received.stored.len(), backlog.len() + own.len(), "nothing else was stored");
        assert_eq!(received.order.len(), received.stored.len());
        // Only the batch in flight at the kill came twice (at most 100).
        assert!(received.duplicates > 0 && received.duplicates <= 100, "{} duplicates", received.duplicates);

        // SIGTERM: out within a second.
        let stopping = Instant::now();
        // SAFETY: signals the child we started; touches no memory.
        unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
        let status = loop {
            if let Some(status) = second.try_wait().unwrap() {
                break status;
            }
            assert!(stopping.elapsed() < Duration::from_secs(1), "still running a second after SIGTERM");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(status.success(), "{status:?}");
        let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
        assert!(log.contains("SIGTERM: stopping"), "{log}");
        assert!(!log.contains(TOKEN), "the token is never logged");
    })
    .await
}
