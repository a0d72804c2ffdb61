//! What `collector check` and `collector spool` learn about a site without
//! running it. Nothing here prints: the binary does (`src/cli.rs`).

use crate::bus::Fleet;
use crate::clock::{ClockState, SystemClock, Timekeeper};
use crate::config::{Config, Meter};
use crate::daemon::{every_meter, open_spool};
use crate::source::{Fault, MeterRead, MeterSource, NoValue};
use crate::spool::{self, SpoolError, SpoolStats};
use std::sync::Arc;

/// What `collector check` found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Whether the ingest token can be read; why not.
    pub token: Result<(), String>,
    /// The system clock's time, and whether readings would be taken
    /// with it.
    pub clock: (i64, ClockState),
    /// Every meter read once, in meter order.
    pub reads: Vec<MeterRead>,
}

/// Why a meter fails `collector check`: the collector would spool nothing
/// for it.
#[derive(Debug, Clone, PartialEq)]
pub enum MeterProblem {
    /// It did not answer.
    NotAnswering(Fault),
    /// It answered, but not with its point's value (the map's `value`
    /// quantity, by index).
    NoPointValue { quantity: usize, why: NoValue },
}

impl CheckReport {
    /// Each meter of `meters` (by index) that fails the check, and why, in
    /// meter order; the site passes when there is none.
    pub fn problems(&self, meters: &[Meter]) -> Vec<(usize, MeterProblem)> {
        self.reads
            .iter()
            .filter_map(|read| {
                let meter = meters.get(read.meter)?;
                let problem = match (&read.fault, read.point_value(meter)) {
                    (Some(fault), _) => MeterProblem::NotAnswering(fault.clone()),
                    (None, Ok(_)) => return None,
                    (None, Err(why)) => MeterProblem::NoPointValue {
                        quantity: meter.map.value,
                        why,
                    },
                };
                Some((read.meter, problem))
            })
            .collect()
    }
}

/// Looks for the ingest token, judges the system clock next to the spool
/// (read, not written: check may run as another user than the daemon),
/// and reads every meter once over Modbus.
pub async fn check(config: &Config) -> CheckReport {
    let token = config.token.read().map(drop);
    let newest_stamp = spool::newest_stamp_at(&config.spool).unwrap_or_else(|error| {
        tracing::warn!(
            "cannot read the spool {}: {error}; the clock is judged without it",
            config.spool.display()
        );
        None
    });
    let clock =
        Timekeeper::new(Arc::new(SystemClock), config.require_clock_sync).state(newest_stamp);
    let mut fleet = Fleet::new(config);
    let reads = fleet.read(clock.0, &every_meter(config)).await;
    fleet.stop().await;
    CheckReport {
        token,
        clock,
        reads,
    }
}

/// What the spool of `config` holds.
pub fn spool_summary(config: &Config) -> Result<SpoolStats, SpoolError> {
    Ok(open_spool(config)?.stats()?)
}

/// The quarantined readings of `config`'s spool, oldest first: `(meter,
/// ts, value, reason)`.
pub fn quarantined(config: &Config) -> Result<Vec<(String, i64, f64, String)>, SpoolError> {
    Ok(open_spool(config)?.quarantined()?)
}
