//! Parsing and checking a batch before anything is stored: the first bad
//! entry is named (`readings[17].TimeStamping: …`), and the whole batch is
//! refused with it. The entry is also given as data ([`WireError::entry`]),
//! so that a caller branches on the index, never on the text.

use crate::limits::*;
use crate::time::parse_time;
use crate::{Batch, CollectorStatus, PointAnnouncement};
use std::collections::HashSet;
use std::fmt;

/// Why a batch was refused; [`WireErrorKind`] says which status fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub kind: WireErrorKind,
    /// The entry the message names (`readings[17].value: …` →
    /// `Some(Entry::Reading(17))`); `None` when the error is about the
    /// batch as a whole (not an object, too many entries, a list that is
    /// not a list, broken JSON outside any entry).
    pub entry: Option<Entry>,
    /// What the server answers; it names the entry, when there is one.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireErrorKind {
    /// A malformed or out-of-range entry (400).
    Invalid,
    /// More entries than a batch may hold (413).
    TooLarge,
}

/// One entry of a batch, by its index in its list. Displayed as the
/// message names it: `points[3]`, `readings[17]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry {
    /// `points[i]`: a point announcement.
    Point(usize),
    /// `readings[i]`: a reading.
    Reading(usize),
    /// `collector`: the collector's status.
    Collector,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Point(index) => write!(f, "points[{index}]"),
            Entry::Reading(index) => write!(f, "readings[{index}]"),
            Entry::Collector => f.write_str("collector"),
        }
    }
}

impl WireError {
    fn invalid(message: String) -> Self {
        WireError {
            kind: WireErrorKind::Invalid,
            entry: None,
            message,
        }
    }

    /// `{entry}.{field}: {why}`, about `entry`.
    fn at(entry: Entry, field: &str, why: impl fmt::Display) -> Self {
        WireError {
            kind: WireErrorKind::Invalid,
            entry: Some(entry),
            message: format!("{entry}.{field}: {why}"),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireError {}

/// A batch whose every entry passed [`check`], borrowing from it.
#[derive(Debug)]
pub struct CheckedBatch<'a> {
    pub points: Vec<&'a PointAnnouncement>,
    pub readings: Vec<CheckedReading<'a>>,
    pub collector: Option<&'a CollectorStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedReading<'a> {
    pub meter_id: &'a str,
    /// Seconds since the epoch (fractions dropped).
    pub ts: i64,
    pub value: f64,
}

/// Parses a JSON body; a type error names the entry (`readings[3].value`).
pub fn parse(body: &[u8]) -> Result<Batch, WireError> {
    // serde reads a struct from a JSON array too (fields in order): `[]`
    // would be an empty batch. The wire format is an object.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(WireError::invalid(
            "the batch must be a JSON object: {\"points\": [...], \"readings\": [...]}".to_owned(),
        ));
    }
    // The fast path; only a refused batch pays for tracking the path.
    if let Ok(batch) = serde_json::from_slice(body) {
        return Ok(batch);
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let entry = entry_of(error.path());
        let path = error.path().to_string();
        let inner = error.into_inner();
        WireError {
            entry,
            ..WireError::invalid(match inner.classify() {
                serde_json::error::Category::Data if path != "." => format!("{path}: {inner}"),
                _ if path != "." => format!("the batch is not valid JSON at {path}: {inner}"),
                _ => format!("the batch is not valid JSON: {inner}"),
            })
        }
    })
}

/// The entry a path names: `readings[3].value` → `Reading(3)`.
fn entry_of(path: &serde_path_to_error::Path) -> Option<Entry> {
    use serde_path_to_error::Segment;
    let mut segments = path.iter();
    let list = match segments.next()? {
        Segment::Map { key } if key == "points" => Entry::Point,
        Segment::Map { key } if key == "readings" => Entry::Reading,
        Segment::Map { key } if key == "collector" => return Some(Entry::Collector),
        _ => return None,
    };
    match segments.next()? {
        Segment::Seq { index } => Some(list(*index)),
        _ => None,
    }
}

/// What no name may hold: control characters, and the two characters XML
/// 1.0 cannot carry at all (U+FFFE, U+FFFF), so that every name can be
/// written in every format the API answers in.
pub fn forbidden_in_names(c: char) -> bool {
    c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

/// The rule for a metering point's name, the same for a `MeterId` a
/// collector sends and for the name `POST /point` gives: 1 to 64
/// characters, no control characters, no spaces at either end. The error
/// says what is wrong, without the field's name.
pub fn check_point_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS {
        return Err(format!("must have 1 to {MAX_ID_CHARS} characters"));
    }
    if name.chars().any(forbidden_in_names) {
        return Err("must not contain control characters, U+FFFE or U+FFFF".to_owned());
    }
    if name.trim() != name {
        return Err("must not start or end with spaces".to_owned());
    }
    Ok(())
}

fn check_id(entry: Entry, field: &str, id: &str) -> Result<(), WireError> {
    check_point_name(id).map_err(|why| WireError::at(entry, field, why))
}

fn check_text(entry: Entry, field: &str, text: &str) -> Result<(), WireError> {
    if text.chars().count() > MAX_ID_CHARS || text.chars().any(forbidden_in_names) {
        return Err(WireError::at(
            entry,
            field,
            format_args!("at most {MAX_ID_CHARS} characters, no control characters"),
        ));
    }
    Ok(())
}

/// The rule for a unit (`kWh`, `m³`): 1 to [`MAX_UNIT_CHARS`] characters,
/// no control characters, no spaces at either end. The error says what is
/// wrong, without the field's name.
pub fn check_unit(unit: &str) -> Result<(), String> {
    let chars = unit.chars().count();
    if chars == 0 || chars > MAX_UNIT_CHARS {
        return Err(format!("must have 1 to {MAX_UNIT_CHARS} characters"));
    }
    if unit.chars().any(forbidden_in_names) || unit.trim() != unit {
        return Err("must not contain control characters or start or end with spaces".to_owned());
    }
    Ok(())
}

fn check_collector(status: &CollectorStatus) -> Result<(), WireError> {
    let entry = Entry::Collector;
    if let Some(version) = &status.version {
        check_text(entry, "Version", version)?;
    }
    if status.backlog.is_some_and(|backlog| backlog > MAX_BACKLOG) {
        return Err(WireError::at(
            entry,
            "Backlog",
            format_args!("at most {MAX_BACKLOG}"),
        ));
    }
    Ok(())
}

/// Checks every entry of `batch` as of `now` (seconds since the epoch)
/// before anything is stored; the first bad one is named.
pub fn check(batch: &Batch, now: i64) -> Result<CheckedBatch<'_>, WireError> {
    if batch.points.len() > MAX_POINTS_PER_BATCH {
        return Err(WireError {
            kind: WireErrorKind::TooLarge,
            entry: None,
            message: format!("at most {MAX_POINTS_PER_BATCH} points per batch"),
        });
    }
    if batch.readings.len() > MAX_READINGS_PER_BATCH {
        return Err(WireError {
            kind: WireErrorKind::TooLarge,
            entry: None,
            message: format!("at most {MAX_READINGS_PER_BATCH} readings per batch"),
        });
    }
    let mut announced = HashSet::with_capacity(batch.points.len());
    let mut points = Vec::with_capacity(batch.points.len());
    for (index, point) in batch.points.iter().enumerate() {
        let entry = Entry::Point(index);
        check_id(entry, "MeterId", &point.meter_id)?;
        for (field, text) in [
            ("Port", &point.port),
            ("NoPhases", &point.no_phases),
            ("MeterType", &point.meter_type),
            ("ModbusMap", &point.modbus_map),
        ] {
            if let Some(text) = text {
                check_text(entry, field, text)?;
            }
        }
        if let Some(unit) = &point.unit {
            check_unit(unit).map_err(|why| WireError::at(entry, "Unit", why))?;
        }
        if !announced.insert(point.meter_id.as_str()) {
            return Err(WireError::at(
                entry,
                "MeterId",
                format_args!("{:?} is announced twice in this batch", point.meter_id),
            ));
        }
        points.push(point);
    }
    let latest_allowed = now + MAX_FUTURE_SECONDS;
    let mut readings = Vec::with_capacity(batch.readings.len());
    for (index, reading) in batch.readings.iter().enumerate() {
        let entry = Entry::Reading(index);
        check_id(entry, "MeterId", &reading.meter_id)?;
        let ts = parse_time(&reading.time_stamping)
            .map_err(|why| WireError::at(entry, "TimeStamping", why))?;
        if ts > latest_allowed {
            return Err(WireError::at(
                entry,
                "TimeStamping",
                format_args!("{:?} is in the future", reading.time_stamping),
            ));
        }
        if !reading.value.is_finite() || reading.value.abs() > MAX_READING_MAGNITUDE {
            return Err(WireError::at(
                entry,
                "value",
                "must be a number from -1e15 to 1e15",
            ));
        }
        readings.push(CheckedReading {
            meter_id: &reading.meter_id,
            ts,
            value: reading.value,
        });
    }
    if let Some(status) = &batch.collector {
        check_collector(status)?;
    }
    Ok(CheckedBatch {
        points,
        readings,
        collector: batch.collector.as_ref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reading;

    const NOW: i64 = 1_572_455_700; // 2019-10-30T17:15:00Z

    fn refused(json: &str) -> WireError {
        let batch = match parse(json.as_bytes()) {
            Ok(batch) => batch,
            Err(error) => return error,
        };
        check(&batch, NOW).expect_err(json)
    }

    #[test]
    fn only_an_object_is_a_batch() {
        for json in ["[]", " [[], []]", "null", "\"readings\"", "1", "", "  "] {
            let error = parse(json.as_bytes()).expect_err(json);
            assert!(error.to_string().contains("JSON object"), "{json}: {error}");
        }
        assert_eq!(parse(b" \n{}").unwrap(), Batch::default());
    }

    #[test]
    fn an_entry_is_an_object_not_an_array_of_its_fields() {
        for (json, entry) in [
            (
                r#"{"readings": [["m", "2019-10-30T17:15:00Z", 1.0]]}"#,
                Entry::Reading(0),
            ),
            (
                r#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}, ["m", "2019-10-30T17:16:00Z", 2.0]]}"#,
                Entry::Reading(1),
            ),
            (r#"{"points": [["m1"]]}"#, Entry::Point(0)),
        ] {
            let error = parse(json.as_bytes()).expect_err(json);
            assert_eq!(error.entry, Some(entry), "{json}: {error}");
            assert!(
                error.to_string().contains("expected a JSON object"),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn the_failing_entry_is_named() {
        for (json, says) in [
            ("[]", "must be a JSON object"),
            (" [[], []]", "must be a JSON object"),
            ("", "must be a JSON object"),
            (r#"{"readings": 3}"#, "readings: invalid type"),
            (
                r#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": "x"}]}"#,
                "readings[0].value: invalid type",
            ),
            (r#"{"readings": [{"MeterId": "m"#, "not valid JSON"),
            (
                r#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1},
                                 {"MeterId": "m", "TimeStamping": "2019-10-30", "value": 1}]}"#,
                "readings[1].TimeStamping: \"2019-10-30\" is not an RFC 3339 time",
            ),
            (
                r#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-11-01T17:15:00Z", "value": 1}]}"#,
                "readings[0].TimeStamping: \"2019-11-01T17:15:00Z\" is in the future",
            ),
            (
                r#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1e16}]}"#,
                "readings[0].value: must be a number from -1e15 to 1e15",
            ),
            (
                r#"{"readings": [{"MeterId": "", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}]}"#,
                "readings[0].MeterId: must have 1 to 64 characters",
            ),
            (
                r#"{"points": [{"MeterId": "a"}, {"MeterId": "a"}]}"#,
                "points[1].MeterId: \"a\" is announced twice",
            ),
            (
                r#"{"points": [{"MeterId": "a", "Port": "US\nB0"}]}"#,
                "points[0].Port: at most 64 characters, no control characters",
            ),
        ] {
            let error = refused(json);
            assert_eq!(error.kind, WireErrorKind::Invalid, "{json}");
            assert!(
                error.message.contains(says),
                "{:?} does not say {says:?}",
                error.message
            );
        }
    }

    #[test]
    fn the_failing_entry_is_given_by_its_index() {
        const GOOD: &str =
            r#"{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}"#;
        for (json, entry) in [
            // Type errors found while parsing, by their path.
            (
                format!(
                    r#"{{"readings": [{GOOD}, {GOOD}, {GOOD}, {{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": "x"}}]}}"#
                ),
                Some(Entry::Reading(3)),
            ),
            (
                r#"{"points": [{"MeterId": "a"}, {"MeterId": 7}]}"#.to_owned(),
                Some(Entry::Point(1)),
            ),
            // Broken JSON inside an entry names it too.
            (
                format!(r#"{{"readings": [{GOOD}, {{"MeterId": "m"#),
                Some(Entry::Reading(1)),
            ),
            // Found by the checks.
            (
                format!(
                    r#"{{"readings": [{GOOD}, {GOOD}, {{"MeterId": "m", "TimeStamping": "2019-10-30", "value": 1}}, {{"MeterId": "", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}}]}}"#
                ),
                Some(Entry::Reading(2)),
            ),
            (
                format!(
                    r#"{{"readings": [{GOOD}, {{"MeterId": "m", "TimeStamping": "2019-11-01T17:15:00Z", "value": 1}}]}}"#
                ),
                Some(Entry::Reading(1)),
            ),
            (
                format!(
                    r#"{{"readings": [{GOOD}, {GOOD}, {GOOD}, {GOOD}, {GOOD}, {{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1e16}}]}}"#
                ),
                Some(Entry::Reading(5)),
            ),
            (
                r#"{"points": [{"MeterId": "a"}, {"MeterId": "b"}, {"MeterId": "a"}], "readings": [{"MeterId": "", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}]}"#
                    .to_string(),
                Some(Entry::Point(2)),
            ),
            (
                r#"{"points": [{"MeterId": "a", "Port": "US
B0"}]}"#
                    .to_owned(),
                Some(Entry::Point(0)),
            ),
            (
                r#"{"points": [{"MeterId": "a", "Unit": "kWh"}, {"MeterId": "b", "Unit": " kWh"}]}"#
                    .to_owned(),
                Some(Entry::Point(1)),
            ),
            (
                r#"{"points": [{"MeterId": "a", "Unit": ""}]}"#.to_owned(),
                Some(Entry::Point(0)),
            ),
            (
                r#"{"points": [{"MeterId": "a", "Unit": "kilowatt-hours, really"}]}"#.to_owned(),
                Some(Entry::Point(0)),
            ),
            (
                r#"{"points": [{"MeterId": "a", "Unit": 3}]}"#.to_owned(),
                Some(Entry::Point(0)),
            ),
            (
                r#"{"collector": {"Backlog": -1}}"#.to_owned(),
                Some(Entry::Collector),
            ),
            (
                r#"{"collector": {"Backlog": 1000000000001}}"#.to_owned(),
                Some(Entry::Collector),
            ),
            (
                r#"{"collector": {"ClockSynchronised": "yes"}}"#.to_owned(),
                Some(Entry::Collector),
            ),
            (
                format!(r#"{{"collector": {{"Version": "{}"}}}}"#, "9".repeat(65)),
                Some(Entry::Collector),
            ),
            // About the batch as a whole.
            (r#"{"collector": []}"#.to_owned(), Some(Entry::Collector)),
            ("[]".to_owned(), None),
            (r#"{"readings": 3}"#.to_owned(), None),
            (
                r#"{"readings": [{"MeterId"#.to_owned(),
                Some(Entry::Reading(0)),
            ),
            (r#"{"readings": "#.to_owned(), None),
        ] {
            let error = refused(&json);
            assert_eq!(error.entry, entry, "{json}: {}", error.message);
            // The text names the same entry.
            if let Some(entry) = entry {
                let named = error
                    .message
                    .strip_prefix("the batch is not valid JSON at ")
                    .unwrap_or(&error.message);
                assert!(
                    named.starts_with(&format!("{entry}."))
                        || named.starts_with(&format!("{entry}:")),
                    "{:?} does not name {entry}",
                    error.message
                );
            }
        }
        let batch = Batch {
            readings: vec![Reading::at("m", NOW, 1.0); MAX_READINGS_PER_BATCH + 1],
            ..Batch::default()
        };
        assert_eq!(check(&batch, NOW).unwrap_err().entry, None);
    }

    #[test]
    fn an_entry_is_shown_as_the_message_names_it() {
        assert_eq!(Entry::Point(0).to_string(), "points[0]");
        assert_eq!(Entry::Reading(17).to_string(), "readings[17]");
    }

    #[test]
    fn too_many_entries_is_too_large() {
        let batch = Batch {
            readings: vec![Reading::at("m", NOW, 1.0); MAX_READINGS_PER_BATCH + 1],
            ..Batch::default()
        };
        let error = check(&batch, NOW).unwrap_err();
        assert_eq!(error.kind, WireErrorKind::TooLarge);
        assert!(error.message.contains("at most 50000 readings"));
    }

    #[test]
    fn checked_readings_carry_seconds() {
        let batch = Batch {
            readings: vec![Reading {
                meter_id: "m".into(),
                time_stamping: "2019-10-30T13:15:00-04:00".into(),
                value: 2.5,
            }],
            ..Batch::default()
        };
        let checked = check(&batch, NOW).unwrap();
        assert_eq!(
            checked.readings,
            [CheckedReading {
                meter_id: "m",
                ts: NOW,
                value: 2.5
            }]
        );
    }

    #[test]
    fn point_names_have_one_rule() {
        // XML 1.0 cannot carry these at all, escaped or not.
        for name in ["a\u{FFFE}", "\u{FFFF}b", "a\u{0}b", "a\u{85}"] {
            assert!(check_point_name(name).is_err(), "{name:?}");
        }
        assert!(check_point_name("a\u{FFFD}\u{FDD0}😀").is_ok());
        assert!(check_point_name("meter1").is_ok());
        assert!(check_point_name("Main panel é").is_ok());
        assert!(check_point_name(&"é".repeat(64)).is_ok());
        for bad in ["", " meter1", "meter1 ", "met\ter", &"x".repeat(65)] {
            assert!(check_point_name(bad).is_err(), "{bad:?}");
        }
        // The same rule on the wire: a MeterId with a trailing space is refused.
        let error = refused(
            r#"{"readings": [{"MeterId": "meter1 ", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}]}"#,
        );
        assert_eq!(
            error.message,
            "readings[0].MeterId: must not start or end with spaces"
        );
    }
}
