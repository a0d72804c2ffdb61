//! What `collector check` and `collector spool` learn about a site without
//! running it. Nothing here prints: the binary does (`src/cli.rs`).

use crate::bus::Fleet;
use crate::config::Config;
use crate::daemon::{every_meter, open_spool};
use crate::schedule::unix_now;
use crate::source::{MeterRead, MeterSource};
use crate::spool::{SpoolError, SpoolStats};

/// What `collector check` found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Whether the ingest token can be read; why not.
    pub token: Result<(), String>,
    /// Every meter read once, in meter order.
    pub reads: Vec<MeterRead>,
}

impl CheckReport {
    /// Meters that did not answer.
    pub fn silent(&self) -> usize {
        self.reads.iter().filter(|r| r.fault.is_some()).count()
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
