//! The collector at work: meters read on their boundaries, their readings
//! committed to the spool before anything else, and the outbox delivering
//! the spool in the background, retrying while the meters go on being read.
//! No meter is read, and nothing stamped, while the site's [`Clock`] is not
//! trusted (`crate::clock`). [`Site`] is generic over its [`MeterSource`]
//! and [`UploadSink`], and takes its clock; [`run`] and [`run_once`] use the
//! Modbus buses, `POST /ingest` and the system clock.

use crate::bus::Fleet;
use crate::clock::{Clock, ClockLog, ClockState, SystemClock, Timekeeper};
use crate::config::{self, Config};
use crate::outbox::Outbox;
use crate::schedule::{last_boundary, next_cycle};
use crate::sink::UploadSink;
use crate::source::{self, MeterRead, MeterSource};
use crate::spool::{self, NewReading, Spool, SpoolError};
use crate::upload::Uploader;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How often a running collector looks at its configuration file.
const CONFIG_CHECK: Duration = Duration::from_secs(2);

/// A boundary the clock passed by more than this while the collector
/// waited for it (the clock jumped forward, as at NTP's first answer after
/// a boot at 1970) is not read: its stamp would not be when the meters
/// were read.
const LATE_BOUNDARY_MS: i64 = 60_000;

/// Runs until `shutdown` completes: reads the Modbus meters on their
/// boundaries, spools and delivers to `POST /ingest`. A change of the
/// configuration file (once valid) is applied without a restart, and
/// announced.
pub async fn run(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(meters = config.meters.len(), buses = config.buses.len(), server = %config.server, "collector starting");
    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let spool = open_spool(&config)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    loop {
        let sink = http_sink(&config)?;
        let mut site = Site::start_with(
            config.clone(),
            spool.clone(),
            Fleet::new(&config),
            sink,
            clock.clone(),
        );
        let exit = site.run_until(&mut stop).await;
        site.stop().await;
        match exit? {
            Exit::Shutdown => {
                tracing::info!("collector stopped");
                return Ok(());
            }
            Exit::Reload(new) => {
                tracing::info!(config = %new.path.display(), "configuration changed: applying and announcing it");
                config = *new;
            }
        }
    }
}

/// The spool `config` names, shared by the cycles and the outbox.
pub fn open_spool(config: &Config) -> Result<Arc<Spool>, SpoolError> {
    spool::open_shared(&config.spool, config.spool_max_readings)
}

/// `POST /ingest` of `config`, with its token.
fn http_sink(config: &Config) -> anyhow::Result<Uploader> {
    Uploader::for_site(config).map_err(anyhow::Error::msg)
}

/// Why [`Site::run_until`] returned.
pub enum Exit {
    /// `stop` said so.
    Shutdown,
    /// The configuration file changed into this valid configuration.
    Reload(Box<Config>),
}

/// What one [`Site::cycle`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Cycle {
    /// The meters were read and their readings committed.
    Read(Vec<MeterRead>),
    /// The clock is not trusted: no meter was read, nothing committed.
    WaitingForClock(ClockState),
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A running site: its meter source, the spool, its clock, and the outbox
/// delivering the spool in the background. [`Site::run_until`] drives its
/// cycles on its clock; tests also drive them with boundaries of their
/// own.
pub struct Site<M = Fleet> {
    pub config: Config,
    pub spool: Arc<Spool>,
    pub source: M,
    timekeeper: Timekeeper,
    clock_log: ClockLog,
    wake: Arc<Notify>,
    stop_tx: watch::Sender<bool>,
    delivering: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Opens the spool and starts delivering it to `POST /ingest`
    /// (announcing the meters first), with the token read from where the
    /// configuration says; the meters are read over Modbus, on the system
    /// clock.
    pub fn start(config: Config) -> anyhow::Result<Site> {
        let spool = open_spool(&config)?;
        let sink = http_sink(&config)?;
        let fleet = Fleet::new(&config);
        Ok(Site::start_with(
            config,
            spool,
            fleet,
            sink,
            Arc::new(SystemClock),
        ))
    }
}

impl<M: MeterSource> Site<M> {
    /// Starts delivering `spool` to `sink` (announcing the meters of
    /// `config` first); the meters are read from `source`, when `clock`
    /// is trusted.
    pub fn start_with<S: UploadSink>(
        config: Config,
        spool: Arc<Spool>,
        source: M,
        sink: S,
        clock: Arc<dyn Clock>,
    ) -> Site<M> {
        let outbox = Outbox::new(sink, spool.clone(), &config, clock.clone());
        let timekeeper = Timekeeper::new(clock, config.require_clock_sync);
        let wake = Arc::new(Notify::new());
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let stop = async move { stopped(&mut stop_rx).await };
        let delivering = tokio::spawn(outbox.deliver_until(config.upload, wake.clone(), stop));
        Site {
            config,
            spool,
            source,
            timekeeper,
            clock_log: ClockLog::default(),
            wake,
            stop_tx,
            delivering,
        }
    }

    /// Reads the meters `due` (indices), commits their readings stamped
    /// with `boundary`, and wakes the outbox; while the site's clock is not
    /// trusted, reads nothing. The caller keeps `boundary` true to the
    /// clock ([`Site::run_until`] does).
    pub async fn cycle(&mut self, boundary: i64, due: &[usize]) -> Result<Cycle, SpoolError> {
        if let Err(state) = self.trust_clock() {
            return Ok(Cycle::WaitingForClock(state));
        }
        let reads = self.source.read(boundary, due).await;
        self.commit(&reads, boundary).await?;
        Ok(Cycle::Read(reads))
    }

    /// Whether the clock may stamp readings now (logged when that
    /// changes); why not.
    fn trust_clock(&mut self) -> Result<(), ClockState> {
        let (_, state) = self.timekeeper.state(self.spool.newest_stamp());
        self.clock_log.observe(&state);
        if state.is_trusted() {
            Ok(())
        } else {
            Err(state)
        }
    }

    /// Commits the readings of `reads`, stamped with `boundary`, and wakes
    /// the outbox. The future holds no borrow of the site (a source need
    /// not be `Sync`).
    fn commit(
        &self,
        reads: &[MeterRead],
        boundary: i64,
    ) -> impl Future<Output = Result<(), SpoolError>> + use<M> {
        let readings = source::readings(&self.config.meters, reads, |_| boundary);
        let (spool, wake) = (self.spool.clone(), self.wake.clone());
        async move {
            store(&spool, readings).await?;
            wake.notify_one();
            Ok(())
        }
    }

    /// Every meter's index.
    pub fn all(&self) -> Vec<usize> {
        every_meter(&self.config)
    }

    /// Stops delivering (an upload in flight is abandoned; its batch stays
    /// pending), then stops the source.
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(true);
        let _ = self.delivering.await;
        self.source.stop().await;
    }

    /// Cycles on the site's clock until `stop`, or until the configuration
    /// file changes into a valid one. A boundary the clock jumped past or
    /// back from while the site waited for it is not read; nor is any
    /// while the clock is not trusted.
    pub async fn run_until(&mut self, stop: &mut watch::Receiver<bool>) -> anyhow::Result<Exit> {
        let periods: Vec<i64> = self.config.meters.iter().map(|m| m.every).collect();
        let longest_ms = periods.iter().max().copied().unwrap_or(0) * 1000;
        let config_text = std::fs::read(&self.config.path).unwrap_or_default();
        let mut refused_config: Option<Vec<u8>> = None;
        let mut last_check = tokio::time::Instant::now();
        loop {
            let Some((at, due)) = next_cycle(self.timekeeper.clock().now(), &periods) else {
                anyhow::bail!("the configuration has no meters");
            };
            loop {
                let left_ms = at * 1000 - self.timekeeper.clock().now_millis();
                // Reached, or the clock went back further than a period.
                if left_ms <= 0 || left_ms > longest_ms {
                    break;
                }
                let step = Duration::from_millis(left_ms.min(1000) as u64);
                tokio::select! {
                    () = tokio::time::sleep(step) => {}
                    () = stopped(stop) => return Ok(Exit::Shutdown),
                }
                if last_check.elapsed() >= CONFIG_CHECK {
                    last_check = tokio::time::Instant::now();
                    if let Some(new) =
                        changed_config(&self.config, &config_text, &mut refused_config)
                    {
                        return Ok(Exit::Reload(Box::new(new)));
                    }
                }
            }
            let late_ms = self.timekeeper.clock().now_millis() - at * 1000;
            if !(0..=LATE_BOUNDARY_MS).contains(&late_ms) {
                tracing::debug!(
                    "the clock moved by {late_ms} ms past the boundary {}: not read",
                    ingest_wire::format_utc(at)
                );
                continue;
            }
            if self.trust_clock().is_err() {
                continue;
            }
            let reads = tokio::select! {
                reads = self.source.read(at, &due) => reads,
                () = stopped(stop) => return Ok(Exit::Shutdown),
            };
            // The write is finished even when a signal arrives meanwhile.
            self.commit(&reads, at).await?;
        }
    }
}

/// Every meter's index in `config`.
pub fn every_meter(config: &Config) -> Vec<usize> {
    (0..config.meters.len()).collect()
}

/// The new configuration when the file changed and is valid; a change that
/// is not valid is logged once and the running configuration kept.
fn changed_config(
    config: &Config,
    running: &[u8],
    refused: &mut Option<Vec<u8>>,
) -> Option<Config> {
    let text = std::fs::read(&config.path).ok()?;
    if text == running || refused.as_deref() == Some(&text[..]) {
        return None;
    }
    match config::load(&config.path) {
        Ok(new) => Some(new),
        Err(error) => {
            tracing::error!(
                "the changed configuration is not valid, keeping the running one:\n{error}"
            );
            *refused = Some(text);
            None
        }
    }
}

/// Commits `readings` to the spool; how many there were.
async fn store(spool: &Arc<Spool>, readings: Vec<NewReading>) -> Result<usize, SpoolError> {
    let count = readings.len();
    let inserted = spool::blocking(spool, move |spool| spool.insert(&readings)).await?;
    if inserted.dropped > 0 {
        tracing::error!(
            dropped = inserted.dropped,
            "THE SPOOL IS FULL: the {} oldest pending readings were dropped to keep the newest \
             (the server has been unreachable for long; raise spool_max_readings or fix the upload)",
            inserted.dropped
        );
    }
    Ok(count)
}

/// What one cycle of `--once` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnceReport {
    pub meters: usize,
    pub answered: usize,
    pub spooled: usize,
    pub delivered: usize,
    pub pending: u64,
    /// Why delivery stopped before the spool was empty.
    pub retry: Option<String>,
    /// Why no meter was read: the clock is not trusted.
    pub waiting_for_clock: Option<ClockState>,
}

/// One cycle now over Modbus, `POST /ingest` and the system clock: see
/// [`run_once_with`].
pub async fn run_once(config: &Config) -> anyhow::Result<OnceReport> {
    let sink = http_sink(config)?;
    let spool = open_spool(config)?;
    Ok(run_once_with(
        config,
        &spool,
        Fleet::new(config),
        sink,
        Arc::new(SystemClock),
    )
    .await?)
}

/// One cycle now: every meter read once from `source`, stamped with its
/// last boundary by `clock`, spooled, then the spool delivered to `sink`
/// as far as it lets it. While `clock` is not trusted no meter is read.
pub async fn run_once_with<M: MeterSource, S: UploadSink>(
    config: &Config,
    spool: &Arc<Spool>,
    mut source: M,
    sink: S,
    clock: Arc<dyn Clock>,
) -> Result<OnceReport, SpoolError> {
    let timekeeper = Timekeeper::new(clock.clone(), config.require_clock_sync);
    let (reads, spooled, waiting_for_clock) = match timekeeper.trusted_now(spool.newest_stamp()) {
        Ok(now) => {
            let reads = source.read(now, &every_meter(config)).await;
            let readings = source::readings(&config.meters, &reads, |meter| {
                config
                    .meters
                    .get(meter)
                    .map_or(now, |m| last_boundary(now, m.every))
            });
            let spooled = store(spool, readings).await?;
            (reads, spooled, None)
        }
        Err(state) => (Vec::new(), 0, Some(state)),
    };
    source.stop().await;
    let drained = Outbox::new(sink, spool.clone(), config, clock)
        .drain()
        .await?;
    Ok(OnceReport {
        meters: reads.len(),
        answered: reads.iter().filter(|r| r.fault.is_none()).count(),
        spooled,
        delivered: drained.delivered,
        pending: spool.pending(),
        retry: drained.retry,
        waiting_for_clock,
    })
}
