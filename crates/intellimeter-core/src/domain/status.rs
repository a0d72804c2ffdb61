//! `GET /status`: is each meter reporting, and is the site's collector
//! alive. What it needs is kept in the project's read model (the same
//! entry as `/data`'s, [`crate::readmodel`]) as a [`SiteStatus`]; only
//! the ages and states are computed per request, from the clock.

use crate::domain::ids::{PointId, ProjectId};
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use crate::readmodel::ProjectWrite;
use crate::storage::{Sql, SqlValue};
use crate::value::Value;
use ingest_wire::CollectorStatus;
use serde::{Deserialize, Serialize};

/// Missed intervals after which a meter is `late`.
pub const LATE_AFTER_MISSED: i64 = 2;
/// Missed intervals after which a meter is `silent`.
pub const SILENT_AFTER_MISSED: i64 = 6;
/// The cadence assumed for a point whose collector never said
/// `SaveEvery`: a quarter of an hour, the most common metering interval.
pub const ASSUMED_CADENCE_SECONDS: i64 = 15 * 60;

/// What the read model keeps about a point for `/status` (and for the
/// listings: its shown name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterBrief {
    pub name: String,
    pub unit: Option<String>,
    /// Minutes between readings, as announced.
    pub save_every: Option<i64>,
}

impl MeterBrief {
    /// Seconds between readings: `SaveEvery`, or [`ASSUMED_CADENCE_SECONDS`].
    pub fn cadence_seconds(&self) -> i64 {
        match self.save_every {
            Some(minutes) if minutes > 0 => minutes.saturating_mul(60),
            _ => ASSUMED_CADENCE_SECONDS,
        }
    }
}

/// The project's collector as its last batch found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectorContact {
    pub last_contact: i64,
    pub version: Option<String>,
    pub backlog: Option<i64>,
    pub clock_synchronised: Option<bool>,
}

impl CollectorContact {
    /// The contact of a batch received `now`, with what its collector said.
    pub fn of_batch(now: i64, status: Option<&CollectorStatus>) -> Self {
        CollectorContact {
            last_contact: now,
            version: status.and_then(|s| s.version.clone()),
            // Bounded by ingest_wire::MAX_BACKLOG, far below i64::MAX.
            backlog: status
                .and_then(|s| s.backlog)
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            clock_synchronised: status.and_then(|s| s.clock_synchronised),
        }
    }

    /// Stores it as the project's contact (in the ingest transaction).
    pub fn record(&self, write: &ProjectWrite) -> Result<(), ApiError> {
        write.db().execute(
            "INSERT INTO collectors (project_id, last_contact, version, backlog, clock_synchronised) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET \
             last_contact = excluded.last_contact, version = excluded.version, \
             backlog = excluded.backlog, clock_synchronised = excluded.clock_synchronised",
            &[
                write.project_id().into(),
                self.last_contact.into(),
                self.version
                    .clone()
                    .map_or(SqlValue::Null, SqlValue::Text),
                self.backlog.map_or(SqlValue::Null, SqlValue::Integer),
                self.clock_synchronised
                    .map_or(SqlValue::Null, |flag| SqlValue::Integer(flag.into())),
            ],
        )?;
        write.offer_contact(self.clone());
        Ok(())
    }

    /// The project's stored contact, if its collector ever sent a batch.
    pub fn of_project(db: &dyn Sql, project_id: ProjectId) -> Result<Option<Self>, ApiError> {
        let rows = db.execute(
            "SELECT last_contact, version, backlog, clock_synchronised FROM collectors \
             WHERE project_id = ?",
            &[project_id.into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(CollectorContact {
            last_contact: row.int(0)?,
            version: row.optional_text(1)?,
            backlog: row.optional_int(2)?,
            clock_synchronised: row.optional_int(3)?.map(|flag| flag != 0),
        }))
    }
}

/// One point's line of the status: its brief and its latest reading's
/// time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterLine {
    pub id: PointId,
    #[serde(flatten)]
    pub brief: MeterBrief,
    pub last_reading: Option<i64>,
}

/// What `/status` shows, but the ages: kept in the read model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteStatus {
    pub timezone: String,
    pub collector: Option<CollectorContact>,
    /// Every point, in id order.
    pub meters: Vec<MeterLine>,
}

/// A meter's state by how many of its intervals are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterState {
    Ok,
    Late,
    Silent,
    Never,
}

impl MeterState {
    /// The state of a meter read every `cadence` seconds whose latest
    /// reading is `age` seconds old (`None`: it has none). A reading in
    /// flight is not missed yet: `late` after [`LATE_AFTER_MISSED`] whole
    /// intervals without one, `silent` after [`SILENT_AFTER_MISSED`].
    pub fn of(age: Option<i64>, cadence: i64) -> (MeterState, Option<i64>) {
        let Some(age) = age else {
            return (MeterState::Never, None);
        };
        let missed = age.max(0) / cadence.max(1);
        let state = if missed >= SILENT_AFTER_MISSED {
            MeterState::Silent
        } else if missed >= LATE_AFTER_MISSED {
            MeterState::Late
        } else {
            MeterState::Ok
        };
        (state, Some(missed))
    }

    pub fn name(self) -> &'static str {
        match self {
            MeterState::Ok => "ok",
            MeterState::Late => "late",
            MeterState::Silent => "silent",
            MeterState::Never => "never",
        }
    }
}

impl SiteStatus {
    /// The `/status` answer as of `now`.
    pub fn to_value(&self, now: i64) -> Value {
        let mut clock = LocalClock::new(&self.timezone);
        let mut time = |ts: i64| Value::LocalDateTime(clock.format(ts).to_owned());
        let now_text = time(now);
        let optional_int = |n: Option<i64>| n.map_or(Value::Null, Value::Int);
        let collector = match &self.collector {
            None => Value::Null,
            Some(contact) => Value::dict([
                ("LastContact", time(contact.last_contact)),
                (
                    "AgeSeconds",
                    Value::Int((now - contact.last_contact).max(0)),
                ),
                (
                    "Version",
                    contact.version.as_deref().map_or(Value::Null, Value::str),
                ),
                ("Backlog", optional_int(contact.backlog)),
                (
                    "ClockSynchronised",
                    contact.clock_synchronised.map_or(Value::Null, Value::Bool),
                ),
            ]),
        };
        let meters = self
            .meters
            .iter()
            .map(|line| {
                let cadence = line.brief.cadence_seconds();
                let age = line.last_reading.map(|ts| (now - ts).max(0));
                let (state, missed) = MeterState::of(age, cadence);
                Value::dict([
                    ("MeterId", Value::str(&*line.brief.name)),
                    (
                        "Unit",
                        line.brief.unit.as_deref().map_or(Value::Null, Value::str),
                    ),
                    ("SaveEvery", optional_int(line.brief.save_every)),
                    ("ExpectedEverySeconds", Value::Int(cadence)),
                    (
                        "LastReading",
                        line.last_reading.map_or(Value::Null, &mut time),
                    ),
                    ("AgeSeconds", optional_int(age)),
                    ("MissedIntervals", optional_int(missed)),
                    ("State", Value::str(state.name())),
                ])
            })
            .collect();
        Value::dict([
            ("TimeZone", Value::str(&*self.timezone)),
            ("Now", now_text),
            ("Collector", collector),
            ("Meters", Value::List(meters)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_missed_intervals() {
        let five = 300;
        for (age, state, missed) in [
            (None, MeterState::Never, None),
            (Some(0), MeterState::Ok, Some(0)),
            (Some(599), MeterState::Ok, Some(1)),
            (Some(600), MeterState::Late, Some(2)),
            (Some(1799), MeterState::Late, Some(5)),
            (Some(1800), MeterState::Silent, Some(6)),
            (Some(-30), MeterState::Ok, Some(0)),
        ] {
            assert_eq!(MeterState::of(age, five), (state, missed), "{age:?}");
        }
        let unknown = MeterBrief {
            name: "m".into(),
            unit: None,
            save_every: None,
        };
        assert_eq!(unknown.cadence_seconds(), ASSUMED_CADENCE_SECONDS);
        let absurd = MeterBrief {
            save_every: Some(i64::MAX),
            ..unknown
        };
        assert_eq!(
            MeterState::of(Some(i64::MAX), absurd.cadence_seconds()).0,
            MeterState::Ok
        );
    }
}
