//! `GET /status`: is each meter reporting, and is the site's collector
//! alive. What it needs is kept in the project's read model (the same
//! entry as `/data`'s, [`crate::readmodel`]) as a [`SiteStatus`]; only
//! the ages and states are computed per request, from the clock.

use crate::domain::ids::{PointId, ProjectId};
use crate::domain::time::{LocalClock, OffsetSpan};
use crate::error::ApiError;
use crate::format::Format;
use crate::format::document::{Container, Document, DocumentWriter, Scalar, Slot};
use crate::format::template::Template;
use crate::readmodel::ProjectWrite;
use crate::storage::{Sql, SqlValue};
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
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct MeterLine {
    pub id: PointId,
    pub brief: MeterBrief,
    pub last_reading: Option<i64>,
}

/// What `/status` shows, but the ages: kept in the read model.
#[derive(Debug, Clone, PartialEq)]
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

/// The holes of the status template: the clock's time, the collector's
/// age, and three per meter that has a reading ([`MeterHole`]).
const NOW_HOLE: u32 = 0;
const COLLECTOR_AGE_HOLE: u32 = 1;
const FIRST_METER_HOLE: u32 = 2;

/// A meter's holes, in the order of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MeterHole {
    Age = 0,
    Missed = 1,
    State = 2,
}

impl MeterHole {
    const ALL: [MeterHole; 3] = [MeterHole::Age, MeterHole::Missed, MeterHole::State];

    fn id(self, meter: usize) -> u32 {
        FIRST_METER_HOLE + 3 * meter as u32 + self as u32
    }

    /// The meter and hole of `id` ([`Self::id`]).
    fn of_id(id: u32) -> Option<(usize, MeterHole)> {
        let offset = id.checked_sub(FIRST_METER_HOLE)?;
        Some((offset as usize / 3, Self::ALL[offset as usize % 3]))
    }
}

/// `/status` without its clock: what does not change until the next
/// write is rendered, the ages and states are holes
/// ([`StatusTemplates`]).
impl Document for SiteStatus {
    fn write(&self, out: &mut dyn DocumentWriter) {
        let clock = LocalClock::new(&self.timezone);
        let time = |ts: i64| {
            let mut text = String::with_capacity(19);
            clock.write(ts, &mut text);
            text
        };
        out.open(Slot::Root, Container::Dict);
        out.scalar(Slot::Field("TimeZone"), Scalar::Str(&self.timezone));
        out.hole(Slot::Field("Now"), "str", NOW_HOLE);
        match &self.collector {
            None => out.scalar(Slot::Field("Collector"), Scalar::Null),
            Some(contact) => {
                out.open(Slot::Field("Collector"), Container::Dict);
                out.scalar(
                    Slot::Field("LastContact"),
                    Scalar::LocalDateTime(&time(contact.last_contact)),
                );
                out.hole(Slot::Field("AgeSeconds"), "int", COLLECTOR_AGE_HOLE);
                out.scalar(
                    Slot::Field("Version"),
                    Scalar::optional_str(contact.version.as_deref()),
                );
                out.scalar(
                    Slot::Field("Backlog"),
                    Scalar::optional_int(contact.backlog),
                );
                out.scalar(
                    Slot::Field("ClockSynchronised"),
                    contact
                        .clock_synchronised
                        .map_or(Scalar::Null, Scalar::Bool),
                );
                out.close(Slot::Field("Collector"), Container::Dict);
            }
        }
        out.open(Slot::Field("Meters"), Container::List);
        for (index, line) in self.meters.iter().enumerate() {
            out.open(Slot::Item, Container::Dict);
            out.scalar(Slot::Field("MeterId"), Scalar::Str(&line.brief.name));
            out.scalar(
                Slot::Field("Unit"),
                Scalar::optional_str(line.brief.unit.as_deref()),
            );
            out.scalar(
                Slot::Field("SaveEvery"),
                Scalar::optional_int(line.brief.save_every),
            );
            out.scalar(
                Slot::Field("ExpectedEverySeconds"),
                Scalar::Int(line.brief.cadence_seconds()),
            );
            match line.last_reading {
                Some(ts) => {
                    out.scalar(Slot::Field("LastReading"), Scalar::LocalDateTime(&time(ts)));
                    out.hole(Slot::Field("AgeSeconds"), "int", MeterHole::Age.id(index));
                    out.hole(
                        Slot::Field("MissedIntervals"),
                        "int",
                        MeterHole::Missed.id(index),
                    );
                    out.hole(Slot::Field("State"), "str", MeterHole::State.id(index));
                }
                None => {
                    out.scalar(Slot::Field("LastReading"), Scalar::Null);
                    out.scalar(Slot::Field("AgeSeconds"), Scalar::Null);
                    out.scalar(Slot::Field("MissedIntervals"), Scalar::Null);
                    out.scalar(Slot::Field("State"), Scalar::Str(MeterState::Never.name()));
                }
            }
            out.close(Slot::Item, Container::Dict);
        }
        out.close(Slot::Field("Meters"), Container::List);
        out.close(Slot::Root, Container::Dict);
    }

    fn size_hint(&self) -> usize {
        512 + 400 * self.meters.len()
    }
}

/// What filling the status templates needs: the zone (and its offset
/// from when the templates were made to its next transition, so that
/// `Now` needs no zone lookup), the collector's last contact, and each
/// meter's last reading and cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusClock {
    timezone: String,
    offset: OffsetSpan,
    last_contact: Option<i64>,
    /// Per meter, in the templates' order: (last reading, cadence).
    meters: Vec<(Option<i64>, i64)>,
}

impl StatusClock {
    fn of(status: &SiteStatus, now: i64) -> Self {
        StatusClock {
            timezone: status.timezone.clone(),
            offset: LocalClock::new(&status.timezone).offset_span(now),
            last_contact: status.collector.as_ref().map(|c| c.last_contact),
            meters: status
                .meters
                .iter()
                .map(|line| (line.last_reading, line.brief.cadence_seconds()))
                .collect(),
        }
    }

    /// As kept: little-endian i64s (offset, from, until, last contact,
    /// meter count, then each meter's last reading and cadence; `i64::MIN`
    /// for none), then the zone's name.
    fn to_bytes(&self) -> Vec<u8> {
        let optional = |ts: Option<i64>| ts.unwrap_or(i64::MIN);
        let mut numbers = vec![
            i64::from(self.offset.offset_seconds),
            self.offset.from,
            self.offset.until,
            optional(self.last_contact),
            self.meters.len() as i64,
        ];
        for &(last_reading, cadence) in &self.meters {
            numbers.extend([optional(last_reading), cadence]);
        }
        let mut bytes: Vec<u8> = numbers.iter().flat_map(|n| n.to_le_bytes()).collect();
        bytes.extend_from_slice(self.timezone.as_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let number = |index: usize| -> Option<i64> {
            Some(i64::from_le_bytes(
                bytes.get(8 * index..8 * index + 8)?.try_into().ok()?,
            ))
        };
        let optional = |n: i64| (n != i64::MIN).then_some(n);
        let count = usize::try_from(number(4)?).ok()?;
        let tail = count.checked_mul(2)?.checked_add(5)?;
        let meters = (0..count)
            .map(|i| Some((optional(number(5 + 2 * i)?), number(6 + 2 * i)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(StatusClock {
            timezone: String::from_utf8(bytes.get(8 * tail..)?.to_vec()).ok()?,
            offset: OffsetSpan {
                offset_seconds: i32::try_from(number(0)?).ok()?,
                from: number(1)?,
                until: number(2)?,
            },
            last_contact: optional(number(3)?),
            meters,
        })
    }
}

/// `/status` rendered once per write, in JSON and XML, with holes for the
/// clock ([`Template`]); per request only the holes are written.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusTemplates {
    json: Template<'static>,
    xml: Template<'static>,
    clock: StatusClock,
}

impl StatusTemplates {
    /// The templates of `status`, made at `now`.
    pub fn of(status: &SiteStatus, now: i64) -> Self {
        StatusTemplates {
            json: Template::render(status, Format::Json),
            xml: Template::render(status, Format::Xml),
            clock: StatusClock::of(status, now),
        }
    }

    /// The three parts a read model keeps: JSON, XML, clock.
    pub fn to_parts(&self) -> [Vec<u8>; 3] {
        [
            self.json.to_bytes(),
            self.xml.to_bytes(),
            self.clock.to_bytes(),
        ]
    }

    /// Templates from the parts [`to_parts`](Self::to_parts) made; `None`
    /// when one is damaged.
    pub fn from_parts(json: &[u8], xml: &[u8], clock: &[u8]) -> Option<Self> {
        Some(StatusTemplates {
            json: Template::from_bytes(json)?.into_owned(),
            xml: Template::from_bytes(xml)?.into_owned(),
            clock: StatusClock::from_bytes(clock)?,
        })
    }

    /// The `/status` answer as of `now`, in `format` (JSON or XML).
    pub fn answer(&self, format: Format, now: i64) -> Vec<u8> {
        let template = match format.of_answer() {
            Format::Xml => &self.xml,
            _ => &self.json,
        };
        fill(template, &self.clock, now)
    }

    /// The template of one format, with the clock.
    pub fn in_format(self, format: Format) -> StatusTemplate<'static> {
        StatusTemplate {
            template: match format.of_answer() {
                Format::Xml => self.xml,
                _ => self.json,
            },
            clock: self.clock,
        }
    }
}

/// `/status`'s template in one format, with its clock: what a read that
/// knows its format needs (a key's view, `readmodel.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusTemplate<'a> {
    template: Template<'a>,
    clock: StatusClock,
}

impl StatusTemplate<'_> {
    /// The template and clock from their parts ([`StatusTemplates::to_parts`]);
    /// `None` when one is damaged.
    pub fn from_parts<'a>(template: &'a [u8], clock: &[u8]) -> Option<StatusTemplate<'a>> {
        Some(StatusTemplate {
            template: Template::from_bytes(template)?,
            clock: StatusClock::from_bytes(clock)?,
        })
    }

    /// The `/status` answer as of `now`, in the template's format.
    pub fn answer(&self, now: i64) -> Vec<u8> {
        fill(&self.template, &self.clock, now)
    }
}

/// `template` filled as of `now` from `clock`.
fn fill(template: &Template<'_>, clock: &StatusClock, now: i64) -> Vec<u8> {
    let mut now_text = String::with_capacity(19);
    if !clock.offset.write(now, &mut now_text) {
        LocalClock::new(&clock.timezone).write(now, &mut now_text);
    }
    let age = |ts: i64| (now - ts).max(0);
    template.fill(|id| match id {
        NOW_HOLE => Scalar::LocalDateTime(&now_text),
        COLLECTOR_AGE_HOLE => Scalar::optional_int(clock.last_contact.map(age)),
        _ => {
            let Some((meter, hole)) = MeterHole::of_id(id) else {
                return Scalar::Null;
            };
            let Some(&(Some(last_reading), cadence)) = clock.meters.get(meter) else {
                return Scalar::Null;
            };
            let age = age(last_reading);
            let (state, missed) = MeterState::of(Some(age), cadence);
            match hole {
                MeterHole::Age => Scalar::Int(age),
                MeterHole::Missed => Scalar::optional_int(missed),
                MeterHole::State => Scalar::Str(state.name()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value as Json, json};

    /// A Paris site: a collector, a meter read every 5 minutes, one never
    /// read, one with an odd name.
    fn paris_site() -> SiteStatus {
        let line = |id: i64, name: &str, save_every, last_reading| MeterLine {
            id: PointId(id),
            brief: MeterBrief {
                name: name.into(),
                unit: Some("kWh".into()),
                save_every,
            },
            last_reading,
        };
        SiteStatus {
            timezone: "Europe/Paris".into(),
            collector: Some(CollectorContact {
                last_contact: 1_572_130_000,
                version: Some("1.2.3".into()),
                backlog: Some(7),
                clock_synchronised: Some(true),
            }),
            meters: vec![
                line(1, "main", Some(5), Some(1_572_129_900)),
                line(2, "spare", None, None),
                line(3, "<Hall & \"North\">", None, Some(1_572_100_000)),
            ],
        }
    }

    #[test]
    fn status_answers_fill_the_clock_into_templates_kept_as_bytes() {
        let status = paris_site();
        // Made before the DST change of 2019-10-27 03:00 Paris (01:00Z).
        let made = 1_572_120_000;
        let kept = StatusTemplates::of(&status, made).to_parts();
        let templates = StatusTemplates::from_parts(&kept[0], &kept[1], &kept[2]).unwrap();
        assert_eq!(templates, StatusTemplates::of(&status, made));
        // 11:26:40 Paris (CET, after the change: the span ended).
        let now = 1_572_172_000;
        let answer: Json = serde_json::from_slice(&templates.answer(Format::Json, now)).unwrap();
        assert_eq!(answer["Now"], "2019-10-27 11:26:40");
        assert_eq!(answer["Collector"]["AgeSeconds"], now - 1_572_130_000);
        assert_eq!(answer["Collector"]["LastContact"], "2019-10-27 00:46:40");
        let meters = answer["Meters"].as_array().unwrap();
        let age = now - 1_572_129_900;
        assert_eq!(
            meters[0],
            json!({"MeterId": "main", "Unit": "kWh", "SaveEvery": 5,
                   "ExpectedEverySeconds": 300, "LastReading": "2019-10-27 00:45:00",
                   "AgeSeconds": age, "MissedIntervals": age / 300, "State": "silent"})
        );
        assert_eq!(
            meters[1],
            json!({"MeterId": "spare", "Unit": "kWh", "SaveEvery": null,
                   "ExpectedEverySeconds": 900, "LastReading": null,
                   "AgeSeconds": null, "MissedIntervals": null, "State": "never"})
        );
        assert_eq!(meters[2]["MeterId"], "<Hall & \"North\">");
        // A minute after its last reading the main meter is ok, and the
        // span made at `made` formats the time (CEST).
        let soon = 1_572_129_960;
        let answer: Json = serde_json::from_slice(&templates.answer(Format::Json, soon)).unwrap();
        assert_eq!(answer["Now"], "2019-10-27 00:46:00");
        assert_eq!(answer["Meters"][0]["State"], "ok");
        assert_eq!(answer["Meters"][0]["MissedIntervals"], 0);
        // XML carries the same, typed as dicttoxml types it.
        let xml = String::from_utf8(templates.answer(Format::Xml, soon)).unwrap();
        for part in [
            r#"<Now type="str">2019-10-27T00:46:00</Now>"#,
            r#"<AgeSeconds type="int">60</AgeSeconds><MissedIntervals type="int">0</MissedIntervals><State type="str">ok</State>"#,
            r#"<MeterId type="str">&lt;Hall &amp; &quot;North&quot;&gt;</MeterId>"#,
            r#"<AgeSeconds type="null"></AgeSeconds><MissedIntervals type="null"></MissedIntervals><State type="str">never</State>"#,
        ] {
            assert!(xml.contains(part), "{part} in {xml}");
        }
    }

    #[test]
    fn damaged_status_parts_are_refused() {
        let [json, xml, clock] = StatusTemplates::of(&paris_site(), 0).to_parts();
        assert!(StatusTemplates::from_parts(&json, &xml, &clock[..30]).is_none());
        assert!(StatusTemplates::from_parts(&json[..3], &xml, &clock).is_none());
        assert!(StatusTemplates::from_parts(&xml, &json[..2], &clock).is_none());
    }

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
