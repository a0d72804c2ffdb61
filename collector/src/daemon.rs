//! The collector at work: meters read on their boundaries, readings
//! committed to the spool, batches delivered oldest first by the outbox,
//! which keeps retrying while the meters go on being read.

use crate::backoff::Backoff;
use crate::bus::{Fleet, MeterRead};
use crate::config::{self, Config};
use crate::schedule::{last_boundary, next_cycle, unix_now};
use crate::spool::Spool;
use crate::upload::{Delivery, Uploader, announcement_body, readings_body};
use anyhow::Context as _;
use ingest_wire::{Entry, PointAnnouncement};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How often a running collector looks at its configuration file.
const CONFIG_CHECK: Duration = Duration::from_secs(2);

/// Runs until `shutdown` completes: reads meters on their boundaries,
/// spools and delivers. A change of the configuration file (once valid)
/// is applied without a restart, and announced.
pub async fn run(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let spool = open_spool(&config)?;
    loop {
        match run_config(&config, spool.clone(), stop.clone()).await? {
            Exit::Shutdown => return Ok(()),
            Exit::Reload(new) => {
                tracing::info!(config = %new.path.display(), "configuration changed: applying and announcing it");
                config = *new;
            }
        }
    }
}

pub fn open_spool(config: &Config) -> anyhow::Result<Arc<Spool>> {
    let spool = Spool::open(&config.spool, config.spool_max_readings)
        .with_context(|| format!("cannot open the spool {}", config.spool.display()))?;
    Ok(Arc::new(spool))
}

enum Exit {
    Shutdown,
    Reload(Box<Config>),
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A running site: the buses, the spool, and the outbox delivering it in
/// the background. [`run`] drives its cycles on the wall clock; tests
/// drive them with boundaries of their own.
pub struct Site {
    pub config: Config,
    pub spool: Arc<Spool>,
    pub fleet: Fleet,
    wake: Arc<Notify>,
    stop_tx: watch::Sender<bool>,
    delivering: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Opens the spool and starts delivering it (announcing the meters
    /// first), with the token read from where the configuration says.
    pub fn start(config: Config) -> anyhow::Result<Site> {
        let spool = open_spool(&config)?;
        Self::start_with(config, spool)
    }

    fn start_with(config: Config, spool: Arc<Spool>) -> anyhow::Result<Site> {
        let token = config.token.read().map_err(anyhow::Error::msg)?;
        let uploader = Uploader::new(
            config.ingest_url(),
            token,
            Duration::from_millis(config.upload.timeout_ms),
        );
        let outbox = Outbox::new(uploader, spool.clone(), &config);
        let wake = Arc::new(Notify::new());
        let (stop_tx, stop) = watch::channel(false);
        let delivering = tokio::spawn(deliver_forever(outbox, config.upload, wake.clone(), stop));
        Ok(Site {
            fleet: Fleet::new(&config),
            config,
            spool,
            wake,
            stop_tx,
            delivering,
        })
    }

    /// Reads the meters `due` (indices), commits their readings stamped
    /// with `boundary`, and wakes the outbox.
    pub async fn cycle(&mut self, boundary: i64, due: &[usize]) -> anyhow::Result<Vec<MeterRead>> {
        let reads = self.fleet.poll(due).await;
        store(&self.spool, self.fleet.readings(&reads, |_| boundary)).await?;
        self.wake.notify_one();
        Ok(reads)
    }

    /// Every meter's index.
    pub fn all(&self) -> Vec<usize> {
        (0..self.config.meters.len()).collect()
    }

    /// Stops delivering (an upload in flight is abandoned; its batch stays
    /// pending).
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        let _ = self.delivering.await;
    }
}

async fn run_config(
    config: &Config,
    spool: Arc<Spool>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Exit> {
    let mut site = Site::start_with(config.clone(), spool)?;
    let exit = cycles(&mut site, &mut stop).await;
    site.stop().await;
    exit
}

async fn cycles(site: &mut Site, stop: &mut watch::Receiver<bool>) -> anyhow::Result<Exit> {
    let config = site.config.clone();
    let periods: Vec<i64> = config.meters.iter().map(|m| m.every).collect();
    let config_text = std::fs::read(&config.path).unwrap_or_default();
    let mut refused_config: Option<Vec<u8>> = None;
    let mut last_check = tokio::time::Instant::now();
    loop {
        let (at, due) = next_cycle(unix_now(), &periods).expect("a configuration has meters");
        loop {
            let left_ms = at * 1000 - unix_millis();
            if left_ms <= 0 {
                break;
            }
            let step = Duration::from_millis(left_ms.min(1000) as u64);
            tokio::select! {
                () = tokio::time::sleep(step) => {}
                () = stopped(stop) => return Ok(Exit::Shutdown),
            }
            if last_check.elapsed() >= CONFIG_CHECK {
                last_check = tokio::time::Instant::now();
                if let Some(new) = changed_config(&config, &config_text, &mut refused_config) {
                    return Ok(Exit::Reload(Box::new(new)));
                }
            }
        }
        let reads = tokio::select! {
            reads = site.fleet.poll(&due) => reads,
            () = stopped(stop) => return Ok(Exit::Shutdown),
        };
        // The write is finished even when a signal arrives meanwhile.
        store(&site.spool, site.fleet.readings(&reads, |_| at)).await?;
        site.wake.notify_one();
    }
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

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Commits `readings` to the spool.
async fn store(
    spool: &Arc<Spool>,
    readings: Vec<crate::spool::NewReading>,
) -> anyhow::Result<usize> {
    let count = readings.len();
    let spool = spool.clone();
    let inserted = tokio::task::spawn_blocking(move || spool.insert(&readings))
        .await?
        .context("cannot write to the spool")?;
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

/// Delivers the spool, oldest first, forever: retries with back-off while
/// the server is unreachable, sleeps while nothing is pending.
async fn deliver_forever(
    mut outbox: Outbox,
    settings: config::UploadSettings,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(
        Duration::from_millis(settings.retry_min_ms),
        Duration::from_millis(settings.retry_max_ms),
    );
    let mut failing = false;
    loop {
        let step = tokio::select! {
            step = outbox.step() => step,
            () = stopped(&mut stop) => return,
        };
        match step {
            Ok(Step::Idle) => {
                tokio::select! {
                    () = wake.notified() => {}
                    // A missed wake-up costs at most this.
                    () = tokio::time::sleep(Duration::from_secs(60)) => {}
                    () = stopped(&mut stop) => return,
                }
            }
            Ok(Step::Delivered(_) | Step::Quarantined(_)) => {
                if failing {
                    tracing::info!(
                        pending = outbox.spool.pending(),
                        "the server accepts batches again"
                    );
                    failing = false;
                }
                backoff.reset();
            }
            Ok(Step::Retry(why)) => {
                let delay = backoff.next_delay();
                if !failing {
                    tracing::warn!(
                        pending = outbox.spool.pending(),
                        "cannot deliver, retrying with back-off while meters are read: {why}"
                    );
                    failing = true;
                } else {
                    tracing::debug!("still cannot deliver ({why}); next try in {delay:?}");
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut stop) => return,
                }
            }
            Err(error) => {
                tracing::error!("the spool failed: {error:#}");
                tokio::select! {
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                    () = stopped(&mut stop) => return,
                }
            }
        }
    }
}

/// What one [`Outbox::step`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to send.
    Idle,
    /// A batch (of so many readings; 0 for the announcement) was delivered.
    Delivered(usize),
    /// A batch of so many readings was refused and quarantined.
    Quarantined(usize),
    /// Nothing left the spool; why.
    Retry(String),
}

/// The sending side of the spool.
pub struct Outbox {
    uploader: Uploader,
    spool: Arc<Spool>,
    batch_readings: usize,
    /// Points still to announce.
    announce: Option<Vec<PointAnnouncement>>,
}

impl Outbox {
    pub fn new(uploader: Uploader, spool: Arc<Spool>, config: &Config) -> Outbox {
        Outbox {
            uploader,
            spool,
            batch_readings: config.upload.batch_readings,
            announce: Some(config.announcements()),
        }
    }

    async fn send(&self, body: &ingest_wire::Batch) -> Delivery {
        let json = serde_json::to_vec(body).expect("a batch serializes");
        let uploader = self.uploader.clone();
        tokio::task::spawn_blocking(move || uploader.send(&json))
            .await
            .unwrap_or_else(|error| Delivery::Retry(error.to_string()))
    }

    async fn spool<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Spool) -> rusqlite::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let spool = self.spool.clone();
        Ok(tokio::task::spawn_blocking(move || job(&spool)).await??)
    }

    /// Sends the announcement, or the oldest batch of pending readings.
    pub async fn step(&mut self) -> anyhow::Result<Step> {
        if let Some(points) = &self.announce {
            let body = announcement_body(points.clone());
            return Ok(match self.send(&body).await {
                Delivery::Delivered => {
                    tracing::info!(points = points.len(), "meters announced");
                    self.announce = None;
                    Step::Delivered(0)
                }
                Delivery::Retry(why) => Step::Retry(why),
                Delivery::Refused(status, message) => {
                    tracing::error!(
                        "the server refused the meters' announcement ({status}: {message}); readings are sent without it"
                    );
                    self.announce = None;
                    Step::Quarantined(0)
                }
            });
        }
        let limit = self.batch_readings;
        let batch = self.spool(move |spool| spool.oldest(limit)).await?;
        if batch.is_empty() {
            return Ok(Step::Idle);
        }
        // What ingest would refuse is quarantined here, alone, rather than
        // sinking a whole batch on the server.
        let body = readings_body(&batch);
        if let Err(error) = ingest_wire::check(&body, unix_now()) {
            let bad = match error.entry {
                Some(Entry::Reading(i)) => batch.get(i).cloned(),
                _ => None,
            }
            .map_or(batch.clone(), |r| vec![r]);
            tracing::error!("a reading cannot be sent ({error}); moved to quarantine");
            let reason = format!("refused by the collector: {error}");
            let count = bad.len();
            self.spool(move |spool| spool.quarantine(&bad, &reason, unix_now()))
                .await?;
            return Ok(Step::Quarantined(count));
        }
        Ok(match self.send(&body).await {
            Delivery::Delivered => {
                let count = batch.len();
                self.spool(move |spool| spool.delivered(&batch)).await?;
                Step::Delivered(count)
            }
            Delivery::Retry(why) => Step::Retry(why),
            Delivery::Refused(status, message) => {
                tracing::error!(
                    "the server refused a batch of {} readings from {} ({status}: {message}); \
                     moved to quarantine, see `collector spool`",
                    batch.len(),
                    ingest_wire::format_utc(batch[0].ts)
                );
                let count = batch.len();
                let reason = format!("{status}: {message}");
                self.spool(move |spool| spool.quarantine(&batch, &reason, unix_now()))
                    .await?;
                Step::Quarantined(count)
            }
        })
    }

    /// Steps until nothing is pending or a step must be retried; what was
    /// delivered and the reason to stop early.
    pub async fn drain(&mut self) -> anyhow::Result<(usize, Option<String>)> {
        let mut delivered = 0;
        loop {
            match self.step().await? {
                Step::Idle => return Ok((delivered, None)),
                Step::Delivered(n) => delivered += n,
                Step::Quarantined(_) => {}
                Step::Retry(why) => return Ok((delivered, Some(why))),
            }
        }
    }
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
}

/// One cycle now: every meter read once, stamped with its last boundary,
/// spooled, then the spool delivered as far as the server lets it.
pub async fn run_once(config: &Config) -> anyhow::Result<OnceReport> {
    let token = config.token.read().map_err(anyhow::Error::msg)?;
    let spool = open_spool(config)?;
    let mut fleet = Fleet::new(config);
    let all: Vec<usize> = (0..config.meters.len()).collect();
    let reads = fleet.poll(&all).await;
    let now = unix_now();
    let readings = fleet.readings(&reads, |meter| {
        last_boundary(now, config.meters[meter].every)
    });
    let spooled = store(&spool, readings).await?;
    let uploader = Uploader::new(
        config.ingest_url(),
        token,
        Duration::from_millis(config.upload.timeout_ms),
    );
    let mut outbox = Outbox::new(uploader, spool.clone(), config);
    let (delivered, retry) = outbox.drain().await?;
    Ok(OnceReport {
        meters: reads.len(),
        answered: reads.iter().filter(|r| r.fault.is_none()).count(),
        spooled,
        delivered,
        pending: spool.pending(),
        retry,
    })
}

/// Reads every meter once, for `collector check`.
pub async fn read_all(config: &Config) -> Vec<MeterRead> {
    let mut fleet = Fleet::new(config);
    let all: Vec<usize> = (0..config.meters.len()).collect();
    fleet.poll(&all).await
}

/// The table `collector check` prints.
pub fn table(config: &Config, reads: &[MeterRead]) -> String {
    let mut rows = vec![[
        "METER".to_owned(),
        "BUS".to_owned(),
        "UNIT".to_owned(),
        "QUANTITY".to_owned(),
        "VALUE".to_owned(),
    ]];
    for read in reads {
        let meter = &config.meters[read.meter];
        let head = [
            meter.id.clone(),
            config.buses[meter.bus].name.clone(),
            meter.unit.to_string(),
        ];
        if let Some(fault) = &read.fault {
            rows.push([
                head[0].clone(),
                head[1].clone(),
                head[2].clone(),
                "-".into(),
                format!("NOT ANSWERING: {fault}"),
            ]);
            continue;
        }
        for (q, quantity) in meter.map.quantities.iter().enumerate() {
            let mark = if q == meter.map.value {
                " (the point's value)"
            } else {
                ""
            };
            let value = match read.values[q] {
                Some(v) => format!("{v} {}{mark}", quantity.unit),
                None => format!("(no value){mark}"),
            };
            rows.push([
                head[0].clone(),
                head[1].clone(),
                head[2].clone(),
                quantity.name.clone(),
                value,
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
