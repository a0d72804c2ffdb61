//! The spool and the outbox against an in-process ingest endpoint that is
//! down, slow, or answers 500/400 on cue: every reading is delivered
//! exactly once, oldest first, or quarantined; never lost.

mod common;

use collector::bus::Fleet;
use collector::config;
use collector::daemon::{Cycle, Site};
use collector::map;
use collector::simulator::{Devices, serve_tcp};
use collector::upload::Uploader;
use common::*;
use std::time::Duration;

/// 2019-10-30T17:15:00Z
const T0: i64 = 1_572_455_700;

/// Two SDM630 meters behind one TCP gateway whose energy registers count
/// up with `set_energy`, and a site delivering to `server`.
struct Meters {
    devices: Devices,
    map: map::RegisterMap,
}

impl Meters {
    fn set_energy(&self, kwh: f64) {
        for unit in [1u8, 2] {
            self.devices.with(unit, |d| {
                d.load(&self.map, 0, |q| {
                    if q == self.map.value {
                        kwh + f64::from(unit)
                    } else {
                        1.0
                    }
                })
            });
        }
    }
}

async fn site(dir: &std::path::Path, server: &str, upload_timeout_ms: u64) -> (Site, Meters) {
    let meters = Meters {
        devices: Devices::default(),
        map: map::load(&shipped_maps().join("eastron-sdm630.toml")).unwrap(),
    };
    meters.set_energy(0.0);
    let addr = serve_tcp(meters.devices.clone()).await.unwrap();
    let path = write_site(
        dir,
        server,
        &shipped_maps(),
        &format!(
            "[bus.gw]\ntcp = \"{addr}\"\n\n\
             [[meter]]\nMeterId = \"m1\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"eastron-sdm630.toml\"\nSaveEvery = 5\n\n\
             [[meter]]\nMeterId = \"m2\"\nModbusId = 2\nPort = \"gw\"\nModbusMap = \"eastron-sdm630.toml\"\nSaveEvery = 5\n"
        ),
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "timeout_ms = 2000",
        &format!("timeout_ms = {upload_timeout_ms}"),
    );
    std::fs::write(&path, text).unwrap();
    // The clock says it is synchronised, whatever the machine's kernel says.
    let config = config::load(&path).unwrap();
    let spool = collector::daemon::open_spool(&config).unwrap();
    let sink = Uploader::for_site(&config).unwrap();
    let fleet = Fleet::new(&config);
    let site = Site::start_with(config, spool, fleet, sink, FakeClock::synchronised());
    (site, meters)
}

/// The readings `cycles` cycles of two meters make, in the order taken.
fn expected(cycles: i64) -> Vec<(String, i64)> {
    (0..cycles)
        .flat_map(|i| ["m1", "m2"].map(|m| (m.to_owned(), T0 + 300 * i)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_many_cycles_ends_with_every_reading_delivered_once_oldest_first() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Down).await;
        let (mut site, meters) = site(dir.path(), &fake.url(), 2000).await;
        let all = site.all();
        // 30 cycles: down, then 500s, while the meters go on being read.
        for i in 0..30 {
            if i == 15 {
                fake.set(Mode::Status(500));
            }
            meters.set_energy(i as f64);
            let Cycle::Read(reads) = site.cycle(T0 + 300 * i, &all).await.unwrap() else {
                panic!("the clock is synchronised")
            };
            assert!(reads.iter().all(|r| r.fault.is_none()));
            tokio::task::yield_now().await;
        }
        assert_eq!(fake.stored(), 0);
        assert!(fake.requests() >= 2, "it kept trying: {}", fake.requests());
        assert_eq!(site.spool.stats().unwrap().pending, 60);
        fake.set(Mode::Up);
        wait_until(30, "the spool to empty", || fake.stored() == 60).await;
        wait_until(5, "the acknowledgements", || site.spool.pending() == 0).await;
        let received = fake.snapshot();
        assert_eq!(received.order, expected(30), "oldest first");
        assert_eq!(received.duplicates, 0);
        assert_eq!(received.stored[&("m2".to_owned(), T0 + 300 * 29)], 31.0);
        // The meters were announced before any reading.
        assert_eq!(
            received
                .announcements
                .iter()
                .map(|p| p.meter_id.as_str())
                .collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        let stats = site.spool.stats().unwrap();
        assert_eq!(
            (stats.pending, stats.quarantined, stats.delivered),
            (0, 0, 60)
        );
        site.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_gets_batches_again_and_stores_each_reading_once() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        let (mut site, meters) = site(dir.path(), &fake.url(), 250).await;
        let all = site.all();
        wait_until(10, "the announcement", || fake.requests() == 1).await;
        // The server stores, then answers after the collector gave up.
        fake.set(Mode::Slow(Duration::from_millis(600)));
        for i in 0..5 {
            meters.set_energy(i as f64);
            site.cycle(T0 + 300 * i, &all).await.unwrap();
        }
        wait_until(20, "a batch sent twice", || {
            fake.received.lock().unwrap().duplicates > 0
        })
        .await;
        assert_eq!(
            site.spool.pending(),
            10,
            "nothing acknowledged, nothing left the spool"
        );
        fake.set(Mode::Up);
        wait_until(20, "the spool to empty", || site.spool.pending() == 0).await;
        let received = fake.snapshot();
        assert_eq!(received.order, expected(5));
        assert_eq!(received.stored.len(), 10, "each reading stored once");
        site.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_goes_to_quarantine_once() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        let (mut site, meters) = site(dir.path(), &fake.url(), 2000).await;
        let all = site.all();
        wait_until(10, "the announcement", || fake.requests() == 1).await;
        fake.set(Mode::Status(400));
        site.cycle(T0, &all).await.unwrap();
        wait_until(10, "the quarantine", || {
            site.spool.stats().unwrap().quarantined == 2
        })
        .await;
        let requests = fake.requests();
        assert_eq!(requests, 2, "refused once, never retried");
        let quarantined = site.spool.quarantined().unwrap();
        assert_eq!(quarantined[0].0, "m1");
        assert_eq!(quarantined[0].3, "400: on cue: 400");
        // The next readings go through; the quarantined stay where they are.
        fake.set(Mode::Up);
        meters.set_energy(1.0);
        site.cycle(T0 + 300, &all).await.unwrap();
        wait_until(10, "the next batch", || fake.stored() == 2).await;
        wait_until(5, "the acknowledgement", || site.spool.pending() == 0).await;
        let stats = site.spool.stats().unwrap();
        assert_eq!(
            (stats.pending, stats.quarantined, stats.delivered),
            (0, 2, 2)
        );
        assert_eq!(fake.requests(), 3);
        site.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_ingest_would_refuse_is_quarantined_alone_before_sending() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeIngest::start(Mode::Up).await;
        let (mut site, meters) = site(dir.path(), &fake.url(), 2000).await;
        let all = site.all();
        meters.set_energy(5.0);
        // A wrong clock: a boundary two days ahead.
        site.cycle(T0, &all).await.unwrap();
        site.cycle(collector::schedule::unix_now() + 2 * 86_400, &all)
            .await
            .unwrap();
        wait_until(10, "delivery", || site.spool.pending() == 0).await;
        let stats = site.spool.stats().unwrap();
        assert_eq!((stats.quarantined, stats.delivered), (2, 2));
        assert!(
            site.spool.quarantined().unwrap()[0]
                .3
                .contains("is in the future")
        );
        assert_eq!(fake.stored(), 2);
        site.stop().await;
    })
    .await
}
