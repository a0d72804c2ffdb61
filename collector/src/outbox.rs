//! The sending side of the spool: the meters' announcement first, then
//! batches of pending readings oldest first, each leaving `pending` only
//! on its sink's verdict (delivered or refused). A reading ingest would
//! refuse is quarantined alone, by the index the wire check names. Readings
//! wait while the clock is not trusted: "in the future" is judged by it.

use crate::backoff::Backoff;
use crate::clock::{Clock, SyncState, Timekeeper};
use crate::config::{Config, UploadSettings};
use crate::sink::{Delivery, UploadSink};
use crate::spool::{self, Spool, SpoolError, SpooledReading};
use ingest_wire::{Batch, CollectorStatus, Entry, PointAnnouncement, Reading};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

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

/// What [`Outbox::drain`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Readings delivered.
    pub delivered: usize,
    /// Why it stopped before the spool was empty.
    pub retry: Option<String>,
}

/// Delivers the spool to a sink `S`.
pub struct Outbox<S> {
    sink: S,
    spool: Arc<Spool>,
    batch_readings: usize,
    /// Points still to announce.
    announce: Option<Vec<PointAnnouncement>>,
    timekeeper: Timekeeper,
}

impl<S: UploadSink> Outbox<S> {
    /// An outbox that announces the meters of `config`, then sends
    /// `spool` in batches of `config.upload.batch_readings` while `clock`
    /// is trusted.
    pub fn new(sink: S, spool: Arc<Spool>, config: &Config, clock: Arc<dyn Clock>) -> Outbox<S> {
        Outbox {
            sink,
            spool,
            batch_readings: config.upload.batch_readings,
            announce: Some(config.announcements()),
            timekeeper: Timekeeper::new(clock, config.require_clock_sync),
        }
    }

    /// Sends the announcement, or the oldest batch of pending readings.
    pub async fn step(&mut self) -> Result<Step, SpoolError> {
        if let Some(points) = &self.announce {
            let count = points.len();
            let body = Batch {
                collector: Some(self.status()),
                ..announcement_body(points.clone())
            };
            return Ok(match self.sink.deliver(&body).await {
                Delivery::Delivered => {
                    tracing::info!(points = count, "meters announced");
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
        let batch = spool::blocking(&self.spool, move |spool| spool.oldest(limit)).await?;
        let Some(first) = batch.first() else {
            return Ok(Step::Idle);
        };
        let from = first.ts;
        let now = match self.timekeeper.trusted_now(self.spool.newest_stamp()) {
            Ok(now) => now,
            Err(state) => return Ok(Step::Retry(format!("waiting for the clock: {state}"))),
        };
        // What ingest would refuse is quarantined here, alone, rather than
        // sinking a whole batch on the server.
        let body = Batch {
            collector: Some(self.status()),
            ..readings_body(&batch)
        };
        if let Err(error) = ingest_wire::check(&body, now) {
            let bad = match error.entry {
                Some(Entry::Reading(i)) => batch.get(i).cloned(),
                _ => None,
            }
            .map_or(batch.clone(), |r| vec![r]);
            tracing::error!("a reading cannot be sent ({error}); moved to quarantine");
            let reason = format!("refused by the collector: {error}");
            let count = bad.len();
            spool::blocking(&self.spool, move |spool| {
                spool.quarantine(&bad, &reason, now)
            })
            .await?;
            return Ok(Step::Quarantined(count));
        }
        let count = batch.len();
        Ok(match self.sink.deliver(&body).await {
            Delivery::Delivered => {
                spool::blocking(&self.spool, move |spool| spool.delivered(&batch)).await?;
                Step::Delivered(count)
            }
            Delivery::Retry(why) => Step::Retry(why),
            Delivery::Refused(status, message) => {
                tracing::error!(
                    "the server refused a batch of {count} readings from {} ({status}: {message}); \
                     moved to quarantine, see `collector spool`",
                    ingest_wire::format_utc(from)
                );
                let reason = format!("{status}: {message}");
                spool::blocking(&self.spool, move |spool| {
                    spool.quarantine(&batch, &reason, now)
                })
                .await?;
                Step::Quarantined(count)
            }
        })
    }

    /// What each batch says of this collector (`GET /status` shows it):
    /// its version, the readings pending (the batch's included), whether
    /// the kernel says the clock is synchronised.
    fn status(&self) -> CollectorStatus {
        CollectorStatus {
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            backlog: Some(self.spool.pending()),
            clock_synchronised: match self.timekeeper.clock().sync_state() {
                SyncState::Synchronised => Some(true),
                SyncState::Unsynchronised => Some(false),
                SyncState::Unknown(_) => None,
            },
        }
    }

    /// Steps until nothing is pending or a step must be retried.
    pub async fn drain(&mut self) -> Result<Drained, SpoolError> {
        let mut delivered = 0;
        loop {
            match self.step().await? {
                Step::Idle => {
                    return Ok(Drained {
                        delivered,
                        retry: None,
                    });
                }
                Step::Delivered(n) => delivered += n,
                Step::Quarantined(_) => {}
                Step::Retry(why) => {
                    return Ok(Drained {
                        delivered,
                        retry: Some(why),
                    });
                }
            }
        }
    }

    /// Delivers the spool until `stop` completes: retries with back-off
    /// while the sink cannot take a batch, sleeps while nothing is pending
    /// (until `wake`). A batch in flight when `stop` completes is
    /// abandoned; it stays pending.
    pub async fn deliver_until(
        mut self,
        settings: UploadSettings,
        wake: Arc<Notify>,
        stop: impl Future<Output = ()>,
    ) {
        let mut backoff = Backoff::new(
            Duration::from_millis(settings.retry_min_ms),
            Duration::from_millis(settings.retry_max_ms),
        );
        let mut failing = false;
        tokio::pin!(stop);
        loop {
            let step = tokio::select! {
                step = self.step() => step,
                () = &mut stop => return,
            };
            let pause = match step {
                Ok(Step::Idle) => {
                    tokio::select! {
                        () = wake.notified() => {}
                        // A missed wake-up costs at most this.
                        () = tokio::time::sleep(Duration::from_secs(60)) => {}
                        () = &mut stop => return,
                    }
                    continue;
                }
                Ok(Step::Delivered(_) | Step::Quarantined(_)) => {
                    if failing {
                        tracing::info!(
                            pending = self.spool.pending(),
                            "the server accepts batches again"
                        );
                        failing = false;
                    }
                    backoff.reset();
                    continue;
                }
                Ok(Step::Retry(why)) => {
                    let delay = backoff.next_delay();
                    if !failing {
                        tracing::warn!(
                            pending = self.spool.pending(),
                            "cannot deliver, retrying with back-off while meters are read: {why}"
                        );
                        failing = true;
                    } else {
                        tracing::debug!("still cannot deliver ({why}); next try in {delay:?}");
                    }
                    delay
                }
                Err(error) => {
                    tracing::error!("{error}");
                    backoff.next_delay()
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = &mut stop => return,
            }
        }
    }
}

/// The wire batch of spooled readings, in their order.
pub fn readings_body(batch: &[SpooledReading]) -> Batch {
    Batch {
        points: Vec::new(),
        readings: batch
            .iter()
            .map(|r| Reading::at(r.meter_id.clone(), r.ts, r.value))
            .collect(),
        collector: None,
    }
}

/// The wire batch announcing `points`.
pub fn announcement_body(points: Vec<PointAnnouncement>) -> Batch {
    Batch {
        points,
        ..Batch::default()
    }
}
