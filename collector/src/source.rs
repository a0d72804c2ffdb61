//! Where readings come from: a [`MeterSource`] answers one [`MeterRead`]
//! per due meter, in meter order, and never fails as a whole (a meter that
//! gives no answer says why in its read). The Modbus buses ([`crate::bus`])
//! are the source that ships; tests use sources of their own.

use crate::config::Meter;
use crate::spool::NewReading;
use std::future::Future;
use std::time::Duration;

/// Reads meters on demand. The daemon ([`crate::daemon`]) is generic over
/// it.
pub trait MeterSource: Send {
    /// Reads the meters whose indices (in [`Config::meters`]) are in `due`,
    /// for the cycle of `at` (the wall-clock boundary they are due on; now,
    /// for a one-off read): one [`MeterRead`] per due meter, sorted by
    /// meter index.
    ///
    /// [`Config::meters`]: crate::config::Config::meters
    fn read(&mut self, at: i64, due: &[usize]) -> impl Future<Output = Vec<MeterRead>> + Send;

    /// Lets go of what the source holds (connections, serial ports); it is
    /// not read again.
    fn stop(&mut self) -> impl Future<Output = ()> + Send;
}

/// Why a meter gave no answer this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No answer within the timeout.
    Timeout(Duration),
    /// The link failed (connection refused or lost, a broken frame).
    Link(String),
    /// The link is down and waits for its next reconnection attempt.
    Down(String),
    /// The device answers, but its layout cannot be read: a SunSpec device
    /// without a usable model chain (`crate::sunspec`).
    Layout(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Timeout(t) => write!(f, "no answer within {} ms", t.as_millis()),
            Fault::Link(why) => write!(f, "link fault: {why}"),
            Fault::Down(why) => write!(f, "link down: {why}"),
            Fault::Layout(why) => write!(f, "unreadable layout: {why}"),
        }
    }
}

/// Why a quantity of a meter that answered has no value this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoValue {
    /// Not asked for: the meter stopped answering before it.
    NotRead,
    /// The device answered with this Modbus exception code (2: no such
    /// register, as at a wrong ModbusId; 11: a gateway reached no device).
    Exception(u8),
    /// The registers hold the meter's "not available" (all ones, or the
    /// most negative number).
    Sentinel,
    /// NaN or infinite.
    NotANumber,
}

impl std::fmt::Display for NoValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoValue::NotRead => f.write_str("not read"),
            NoValue::Exception(code) => write!(
                f,
                "Modbus exception {code}, {}",
                tokio_modbus::ExceptionCode::new(*code)
            ),
            NoValue::Sentinel => f.write_str("the meter says \"not available\""),
            NoValue::NotANumber => f.write_str("not a number (NaN or infinite)"),
        }
    }
}

/// What one meter gave in one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterRead {
    /// Index in [`Config::meters`](crate::config::Config::meters).
    pub meter: usize,
    /// Per quantity of the meter's map: its value, or why there is none
    /// (such a quantity is skipped, not sent).
    pub values: Vec<Result<f64, NoValue>>,
    pub fault: Option<Fault>,
}

impl MeterRead {
    /// The point's value (the map's `value` quantity), or why it was not
    /// read.
    pub fn point_value(&self, meter: &Meter) -> Result<f64, NoValue> {
        self.values
            .get(meter.map.value)
            .copied()
            .unwrap_or(Err(NoValue::NotRead))
    }

    /// The point's value, when it was read.
    pub fn value(&self, meter: &Meter) -> Option<f64> {
        self.point_value(meter).ok()
    }
}

/// The readings to spool from `reads` of `meters`: each meter's value,
/// when it was read, stamped with `boundary(meter index)`.
pub fn readings(
    meters: &[Meter],
    reads: &[MeterRead],
    boundary: impl Fn(usize) -> i64,
) -> Vec<NewReading> {
    reads
        .iter()
        .filter_map(|read| {
            let meter = meters.get(read.meter)?;
            read.value(meter).map(|value| NewReading {
                meter_id: meter.id.clone(),
                ts: boundary(read.meter),
                value,
            })
        })
        .collect()
}
