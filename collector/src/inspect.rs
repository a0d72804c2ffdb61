//! What `collector check` and `collector spool` learn about a site without
//! running it. Nothing here prints: the binary does (`src/cli.rs`).

use crate::bus::Fleet;
use crate::config::{Config, Meter};
use crate::daemon::{every_meter, open_spool};
use crate::schedule::unix_now;
use crate::source::{Fault, MeterRead, MeterSource, NoValue};
use crate::spool::{SpoolError, SpoolStats};

/// What `collector check` found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Whether the ingest token can be read; why not.
    pub token: Result<(), String>,
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

/// Looks for the ingest token and reads every meter once over Modbus.
pub async fn check(config: &Config) -> CheckReport {
    let token = config.token.read().map(drop);
    let mut fleet = Fleet::new(config);
    let reads = fleet.read(unix_now(), &every_meter(config)).await;
    fleet.stop().await;
    CheckReport { token, reads }
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
