//! The outbox and the site driven by an in-memory meter source and an
//! in-memory upload sink: no Modbus, no HTTP. Every reading is acknowledged
//! exactly once, oldest first; a batch the sink refuses is quarantined
//! whole, and a reading the wire check refuses is quarantined alone, by the
//! index the check names. With a clock the test sets: no meter is read and
//! nothing stamped or judged while the clock is not trusted.

mod common;

use collector::clock::{ClockState, SyncState};
use collector::config::{self, Config, Meter};
use collector::daemon::{Cycle, Exit, Site, run_once_with};
use collector::outbox::{Outbox, Step};
use collector::sink::{Delivery, UploadSink};
use collector::source::{MeterRead, MeterSource, NoValue};
use collector::spool::{self, NewReading, Spool};
use common::*;
use ingest_wire::{Batch, format_utc};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// 2019-10-30T17:15:00Z
const T0: i64 = 1_572_455_700;

/// A site of `meters` SDM120s (ids `m1`, `m2`, …) on a bus nobody serves,
/// delivering to a server nobody serves, in batches of `batch_readings`.
fn site(dir: &Path, meters: usize, batch_readings: usize) -> Config {
    let meters: String = (1..=meters)
        .map(|i| {
            format!("[[meter]]\nMeterId = \"m{i}\"\nModbusId = {i}\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 5\n\n")
        })
        .collect();
    let path = write_site(
        dir,
        "http://127.0.0.1:9",
        &shipped_maps(),
        &format!("[bus.gw]\ntcp = \"127.0.0.1:9\"\n\n{meters}"),
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "batch_readings = 100",
        &format!("batch_readings = {batch_readings}"),
    );
    std::fs::write(&path, text).unwrap();
    config::load(&path).unwrap()
}

/// Meters answering from memory: meter `i` read at `at` holds `value(i, at)`.
struct FakeMeters {
    meters: Vec<Meter>,
    value: fn(usize, i64) -> f64,
    stopped: Arc<AtomicBool>,
    /// The `at` of every read, in order.
    read_at: Arc<Mutex<Vec<i64>>>,
}

impl FakeMeters {
    fn new(config: &Config, value: fn(usize, i64) -> f64) -> FakeMeters {
        FakeMeters {
            meters: config.meters.clone(),
            value,
            stopped: Arc::default(),
            read_at: Arc::default(),
        }
    }
}

impl MeterSource for FakeMeters {
    async fn read(&mut self, at: i64, due: &[usize]) -> Vec<MeterRead> {
        assert!(!self.stopped.load(Ordering::SeqCst), "read after stop");
        self.read_at.lock().unwrap().push(at);
        due.iter()
            .map(|&meter| {
                let map = &self.meters[meter].map;
                let mut values = vec![Err(NoValue::NotRead); map.quantities.len()];
                values[map.value] = Ok((self.value)(meter, at));
                MeterRead {
                    meter,
                    values,
                    fault: None,
                }
            })
            .collect()
    }

    async fn stop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// What the fake sink saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every batch handed to the sink, in order.
    attempts: Vec<Batch>,
    /// `(meter, time)` of every reading the sink acknowledged, in order.
    acknowledged: Vec<(String, String)>,
    announced: Vec<String>,
}

/// An ingest endpoint in memory: answers each batch with the next scripted
/// verdict, `Delivered` once the script is used up (or while `down` is
/// false).
#[derive(Clone, Default)]
struct FakeSink {
    script: Arc<Mutex<VecDeque<Delivery>>>,
    down: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
}

impl FakeSink {
    fn scripted(verdicts: impl IntoIterator<Item = Delivery>) -> FakeSink {
        let sink = FakeSink::default();
        sink.script.lock().unwrap().extend(verdicts);
        sink
    }

    fn acknowledged(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().acknowledged.clone()
    }
}

impl UploadSink for FakeSink {
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let verdict = if self.down.load(Ordering::SeqCst) {
            Delivery::Retry("down".into())
        } else {
            self.script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Delivery::Delivered)
        };
        let mut seen = self.seen.lock().unwrap();
        seen.attempts.push(batch.clone());
        if verdict == Delivery::Delivered {
            seen.acknowledged.extend(
                batch
                    .readings
                    .iter()
                    .map(|r| (r.meter_id.clone(), r.time_stamping.clone())),
            );
            seen.announced
                .extend(batch.points.iter().map(|p| p.meter_id.clone()));
        }
        verdict
    }
}

/// `(meter, time)` of readings `m{meter}` at `T0 + 300 * cycle`, cycles
/// first.
fn keys(cycles: std::ops::Range<i64>, meters: usize) -> Vec<(String, String)> {
    cycles
        .flat_map(|cycle| {
            (1..=meters).map(move |m| (format!("m{m}"), format_utc(T0 + 300 * cycle)))
        })
        .collect()
}

fn backlog(cycles: std::ops::Range<i64>, meters: usize) -> Vec<NewReading> {
    cycles
        .flat_map(|cycle| {
            (1..=meters).map(move |m| NewReading {
                meter_id: format!("m{m}"),
                ts: T0 + 300 * cycle,
                value: cycle as f64,
            })
        })
        .collect()
}

#[tokio::test]
async fn the_outbox_sends_oldest_first_and_acknowledges_each_reading_once() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let config = site(dir.path(), 2, 4);
        let spool = spool::open_shared(&config.spool, 1_000).unwrap();
        spool.insert(&backlog(0..5, 2)).unwrap();
        let retry = |why: &str| Delivery::Retry(why.to_owned());
        let sink = FakeSink::scripted([
            retry("announcement: down"),
            Delivery::Delivered,
            retry("500"),
            Delivery::Delivered,
            Delivery::Delivered,
            retry("timeout"),
        ]);
        let mut outbox = Outbox::new(
            sink.clone(),
            spool.clone(),
            &config,
            FakeClock::synchronised(),
        );
        let mut steps = Vec::new();
        loop {
            let step = outbox.step().await.unwrap();
            if step == Step::Idle {
                break;
            }
            steps.push(step);
        }
        assert_eq!(
            steps,
            [
                Step::Retry("announcement: down".into()),
                Step::Delivered(0),
                Step::Retry("500".into()),
                Step::Delivered(4),
                Step::Delivered(4),
                Step::Retry("timeout".into()),
                Step::Delivered(2),
            ]
        );
        let seen = sink.seen.lock().unwrap();
        assert_eq!(seen.announced, ["m1", "m2"], "announced once, first");
        assert_eq!(seen.acknowledged, keys(0..5, 2), "each once, oldest first");
        // What was not acknowledged went again, unchanged.
        assert_eq!(seen.attempts[2], seen.attempts[3]);
        assert_eq!(seen.attempts[5], seen.attempts[6]);
        let stats = spool.stats().unwrap();
        assert_eq!(
            (stats.pending, stats.quarantined, stats.delivered),
            (0, 0, 10)
        );
    })
    .await
}

#[tokio::test]
async fn a_batch_the_sink_refuses_is_quarantined_whole_and_never_sent_again() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let config = site(dir.path(), 2, 4);
        let spool = spool::open_shared(&config.spool, 1_000).unwrap();
        spool.insert(&backlog(0..3, 2)).unwrap();
        let sink = FakeSink::scripted([Delivery::Delivered, Delivery::Refused(400, "no".into())]);
        let drained = Outbox::new(
            sink.clone(),
            spool.clone(),
            &config,
            FakeClock::synchronised(),
        )
        .drain()
        .await
        .unwrap();
        assert_eq!((drained.delivered, drained.retry), (2, None));
        let quarantined: Vec<(String, String, String)> = spool
            .quarantined()
            .unwrap()
            .into_iter()
            .map(|(meter, ts, _, reason)| (meter, format_utc(ts), reason))
            .collect();
        let expected: Vec<(String, String, String)> = keys(0..2, 2)
            .into_iter()
            .map(|(meter, time)| (meter, time, "400: no".to_owned()))
            .collect();
        assert_eq!(quarantined, expected);
        assert_eq!(sink.acknowledged(), keys(2..3, 2));
        assert_eq!(sink.seen.lock().unwrap().attempts.len(), 3, "refused once");
    })
    .await
}

/// m2's reading of the second cycle is out of range; the others are fine.
fn one_bad_value(meter: usize, at: i64) -> f64 {
    if meter == 1 && at == T0 + 300 {
        1e16
    } else {
        (at - T0) as f64 + meter as f64
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_the_wire_refuses_is_quarantined_alone_by_its_index() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let config = site(dir.path(), 3, 100);
        let spool = spool::open_shared(&config.spool, 1_000).unwrap();
        let meters = FakeMeters::new(&config, one_bad_value);
        let stopped = meters.stopped.clone();
        let sink = FakeSink::default();
        // Down until every cycle is spooled, so that the nine readings go
        // in one batch and the bad one is its readings[4].
        sink.down.store(true, Ordering::SeqCst);
        let mut site = Site::start_with(
            config,
            spool.clone(),
            meters,
            sink.clone(),
            FakeClock::synchronised(),
        );
        let all = site.all();
        for cycle in 0..3 {
            let Cycle::Read(reads) = site.cycle(T0 + 300 * cycle, &all).await.unwrap() else {
                panic!("the clock is synchronised")
            };
            assert_eq!(reads.len(), 3);
        }
        assert_eq!(spool.pending(), 9);
        sink.down.store(false, Ordering::SeqCst);
        wait_until(10, "the spool to empty", || spool.pending() == 0).await;

        let quarantined = spool.quarantined().unwrap();
        assert_eq!(
            quarantined,
            [(
                "m2".to_owned(),
                T0 + 300,
                1e16,
                "refused by the collector: readings[4].value: must be a number from -1e15 to 1e15"
                    .to_owned()
            )]
        );
        let mut expected = keys(0..3, 3);
        expected.remove(4);
        assert_eq!(
            sink.acknowledged(),
            expected,
            "the others, once, oldest first"
        );
        let attempts = sink.seen.lock().unwrap().attempts.clone();
        assert!(
            attempts
                .iter()
                .flat_map(|batch| &batch.readings)
                .all(|r| r.value.abs() <= 1e15),
            "the bad reading never left"
        );
        site.stop().await;
        assert!(stopped.load(Ordering::SeqCst), "the source was stopped");
    })
    .await
}

#[tokio::test]
async fn once_reads_every_meter_and_delivers_as_far_as_the_sink_lets_it() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let config = site(dir.path(), 3, 2);
        let spool: Arc<Spool> = spool::open_shared(&config.spool, 1_000).unwrap();
        spool.insert(&backlog(0..1, 3)).unwrap();
        let sink = FakeSink::scripted([
            Delivery::Delivered,
            Delivery::Delivered,
            Delivery::Retry("503".into()),
        ]);
        let meters = FakeMeters::new(&config, |meter, _| meter as f64);
        let stopped = meters.stopped.clone();
        let report = run_once_with(
            &config,
            &spool,
            meters,
            sink.clone(),
            FakeClock::synchronised(),
        )
        .await
        .unwrap();
        assert_eq!((report.meters, report.answered, report.spooled), (3, 3, 3));
        assert_eq!(
            (report.delivered, report.pending, report.retry.as_deref()),
            (2, 4, Some("503"))
        );
        assert_eq!(sink.acknowledged(), keys(0..1, 3)[..2]);
        assert!(stopped.load(Ordering::SeqCst), "the source was stopped");
    })
    .await
}

/// 1970-01-01T00:01:00Z, where a Raspberry Pi without a real-time clock
/// may think it is before NTP answers.
const BOOT_1970: i64 = 60;

/// A site of two meters (`m1`, `m2`) that takes no reading while the kernel
/// says the clock is not synchronised, and its spool.
fn site_waiting_for_ntp(dir: &Path) -> (Config, Arc<Spool>) {
    let mut config = site(dir, 2, 100);
    config.require_clock_sync = true;
    let spool = spool::open_shared(&config.spool, 1_000).unwrap();
    (config, spool)
}

/// `(meter, stamp)` of every pending reading.
fn spooled(spool: &Spool) -> Vec<(String, i64)> {
    spool
        .oldest(1_000)
        .unwrap()
        .into_iter()
        .map(|r| (r.meter_id, r.ts))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_meter_is_read_and_nothing_stamped_while_the_clock_is_not_trusted() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let (config, spool) = site_waiting_for_ntp(dir.path());
        let meters = FakeMeters::new(&config, |meter, _| meter as f64);
        let read_at = meters.read_at.clone();
        let sink = FakeSink::default();
        sink.down.store(true, Ordering::SeqCst); // what was spooled stays
        let clock = FakeClock::at(BOOT_1970 * 1000, SyncState::Unsynchronised);
        let mut site = Site::start_with(config, spool.clone(), meters, sink, clock.clone());
        let all = site.all();

        // Booted at 1970, NTP not yet answering: nothing read or spooled.
        assert_eq!(
            site.cycle(BOOT_1970, &all).await.unwrap(),
            Cycle::WaitingForClock(ClockState::Unsynchronised)
        );
        assert_eq!(spooled(&spool), []);
        assert_eq!(*read_at.lock().unwrap(), [] as [i64; 0]);

        // NTP answered: the clock is set and synchronised.
        clock.set(T0 * 1000, SyncState::Synchronised);
        let Cycle::Read(reads) = site.cycle(T0, &all).await.unwrap() else {
            panic!("the clock is synchronised");
        };
        assert_eq!(reads.len(), 2);
        assert_eq!(spooled(&spool), [("m1".into(), T0), ("m2".into(), T0)]);

        // Rebooted at 1970 where nobody can tell whether the clock is
        // synchronised: the spool's newest reading says it is not right.
        clock.set(
            BOOT_1970 * 1000,
            SyncState::Unknown("adjtimex: Operation not permitted".into()),
        );
        assert_eq!(
            site.cycle(BOOT_1970, &all).await.unwrap(),
            Cycle::WaitingForClock(ClockState::BehindSpool {
                seconds: T0 - BOOT_1970,
                newest: T0
            })
        );
        assert_eq!(*read_at.lock().unwrap(), [T0], "read once, at T0 only");
        assert_eq!(spooled(&spool).len(), 2);
        site.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_site_reads_no_boundary_of_a_clock_it_does_not_trust_nor_one_the_clock_jumped_past()
 {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let path = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            "[bus.gw]\ntcp = \"127.0.0.1:9\"\n\n\
             [[meter]]\nMeterId = \"m1\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"eastron-sdm120.toml\"\nSaveEvery = 1\n",
        );
        let mut config = config::load(&path).unwrap();
        config.require_clock_sync = true;
        let spool = spool::open_shared(&config.spool, 1_000).unwrap();
        let meters = FakeMeters::new(&config, |_, at| at as f64);
        let read_at = meters.read_at.clone();
        // 0.3 s before the first minute of 1970, not synchronised.
        let clock = FakeClock::at(BOOT_1970 * 1000 - 300, SyncState::Unsynchronised);
        let sink = FakeSink::default();
        sink.down.store(true, Ordering::SeqCst); // what was spooled stays
        let mut site = Site::start_with(config, spool.clone(), meters, sink, clock.clone());
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(async move {
            let exit = site.run_until(&mut stop_rx).await;
            site.stop().await;
            exit
        });
        // The 1970 boundary comes, the site asks the clock, reads nothing.
        wait_until(5, "the site to ask the clock at 00:01:00", || {
            clock.sync_queries() > 0
        })
        .await;
        assert_eq!(*read_at.lock().unwrap(), [] as [i64; 0]);
        assert_eq!(spooled(&spool), []);

        // While it waits for 00:02:00, NTP sets the clock 2 s before T0
        // (the site notices within a second): 00:02:00 is long gone and
        // not read; T0 is.
        clock.set(T0 * 1000 - 2000, SyncState::Synchronised);
        wait_until(5, "a reading", || spool.pending() > 0).await;
        assert_eq!(spooled(&spool), [("m1".into(), T0)]);
        assert_eq!(*read_at.lock().unwrap(), [T0]);

        stop_tx.send(true).unwrap();
        assert!(matches!(running.await.unwrap().unwrap(), Exit::Shutdown));
    })
    .await
}

#[tokio::test]
async fn a_backlog_waits_for_a_clock_it_can_trust_rather_than_being_judged_by_1970() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let (config, spool) = site_waiting_for_ntp(dir.path());
        spool.insert(&backlog(0..3, 2)).unwrap();
        let clock = FakeClock::at(BOOT_1970 * 1000, SyncState::Unsynchronised);
        let sink = FakeSink::default();
        let mut outbox = Outbox::new(sink.clone(), spool.clone(), &config, clock.clone());
        // The announcement needs no clock; the readings wait for it.
        assert_eq!(outbox.step().await.unwrap(), Step::Delivered(0));
        let drained = outbox.drain().await.unwrap();
        assert_eq!(drained.delivered, 0);
        assert_eq!(
            drained.retry.as_deref(),
            Some(
                "waiting for the clock: NOT SYNCHRONISED (the kernel says NTP has not set it): \
                 no readings until it is"
            )
        );
        let stats = spool.stats().unwrap();
        assert_eq!((stats.pending, stats.quarantined), (6, 0), "none judged");
        // Trusted again (nobody can tell, and not behind the spool).
        clock.set(
            (T0 + 3600) * 1000,
            SyncState::Unknown("adjtimex: Operation not permitted".into()),
        );
        assert_eq!(outbox.drain().await.unwrap().delivered, 6);
        assert_eq!(sink.acknowledged(), keys(0..3, 2));
    })
    .await
}

#[tokio::test]
async fn once_reads_no_meter_while_the_clock_is_not_trusted() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let (config, spool) = site_waiting_for_ntp(dir.path());
        let meters = FakeMeters::new(&config, |meter, _| meter as f64);
        let read_at = meters.read_at.clone();
        let clock = FakeClock::at(BOOT_1970 * 1000, SyncState::Unsynchronised);
        let report = run_once_with(&config, &spool, meters, FakeSink::default(), clock)
            .await
            .unwrap();
        assert_eq!((report.meters, report.spooled, report.pending), (0, 0, 0));
        assert_eq!(report.waiting_for_clock, Some(ClockState::Unsynchronised));
        assert_eq!(*read_at.lock().unwrap(), [] as [i64; 0]);
    })
    .await
}
