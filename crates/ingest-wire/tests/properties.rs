//! Any body through `parse` and `check`: never a panic; what `check`
//! accepts keeps every limit; a refusal names the first bad entry; times
//! written by `format_utc` read back. `PROPTEST_CASES` runs longer.

use ingest_wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

/// 2019-10-30T17:15:00Z.
const NOW: i64 = 1_572_455_700;
/// 9999-12-31T23:59:59Z.
const LAST_SECOND: i64 = 253_402_300_799;

fn meter_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "m[0-9]",
        1 => Just(String::new()),
        1 => Just(" m1".to_owned()),
        1 => Just("x".repeat(65)),
        1 => Just("é".repeat(64)),
        1 => any::<String>(),
    ]
}

fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..NOW + 2 * 86_400).prop_map(format_utc),
        1 => Just("2019-10-30T13:15:00-04:00".to_owned()),
        1 => Just("2019-10-30T17:15:00.5Z".to_owned()),
        1 => Just("1969-12-31T23:59:59.5Z".to_owned()),
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?",
        1 => any::<String>(),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6..1e6f64,
        1 => Just(1e15),
        1 => Just(-1e15),
        1 => Just(1.000_000_000_000_1e15),
        1 => any::<f64>(),
    ]
}

fn text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof!["[A-Za-z0-9 ./]{0,70}", any::<String>()])
}

fn batch() -> impl Strategy<Value = Batch> {
    let point = (
        meter_id(),
        prop::option::of(any::<i64>()),
        text(),
        text(),
        text(),
        text(),
        prop::option::of(any::<i64>()),
        prop::option::of(prop_oneof![
            "kWh|Wh|m³|kvarh",
            "[A-Za-z ]{0,18}",
            any::<String>()
        ]),
    )
        .prop_map(
            |(meter_id, modbus_id, port, no_phases, meter_type, modbus_map, save_every, unit)| {
                PointAnnouncement {
                    meter_id,
                    modbus_id,
                    port,
                    no_phases,
                    meter_type,
                    modbus_map,
                    save_every,
                    start_address: modbus_id,
                    unit,
                }
            },
        );
    let reading =
        (meter_id(), time_text(), value()).prop_map(|(meter_id, time_stamping, value)| Reading {
            meter_id,
            time_stamping,
            value,
        });
    // A collector's status that passes (its refusals are not about an
    // entry of a list, which the tests below take apart).
    let collector = prop::option::of(
        (
            prop::option::of("[0-9.]{1,12}"),
            prop::option::of(0..=MAX_BACKLOG),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(version, backlog, clock_synchronised)| CollectorStatus {
                version,
                backlog,
                clock_synchronised,
            }),
    );
    (vec(point, 0..4), vec(reading, 0..8), collector).prop_map(|(points, readings, collector)| {
        Batch {
            points,
            readings,
            collector,
        }
    })
}

/// A refusal's typed entry is the one its text names first.
fn names_its_entry(error: &WireError) -> Result<(), TestCaseError> {
    if let Some(entry) = error.entry {
        let text = error
            .message
            .strip_prefix("the batch is not valid JSON at ")
            .unwrap_or(&error.message);
        prop_assert!(
            text.starts_with(&format!("{entry}.")) || text.starts_with(&format!("{entry}:")),
            "{:?} does not name {}",
            error.message,
            entry
        );
    }
    Ok(())
}

/// What an accepted batch must be, whatever `check` looked at.
fn within_limits(batch: &Batch, checked: &CheckedBatch, now: i64) -> Result<(), TestCaseError> {
    prop_assert!(checked.points.len() <= MAX_POINTS_PER_BATCH);
    prop_assert!(checked.readings.len() <= MAX_READINGS_PER_BATCH);
    prop_assert_eq!(checked.points.len(), batch.points.len());
    prop_assert_eq!(checked.readings.len(), batch.readings.len());
    let mut ids = std::collections::HashSet::new();
    for point in &checked.points {
        prop_assert!(check_point_name(&point.meter_id).is_ok());
        prop_assert!(ids.insert(&point.meter_id), "announced twice");
        for text in [
            &point.port,
            &point.no_phases,
            &point.meter_type,
            &point.modbus_map,
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(text.chars().count() <= MAX_ID_CHARS);
            prop_assert!(!text.chars().any(char::is_control));
        }
        if let Some(unit) = &point.unit {
            prop_assert!(check_unit(unit).is_ok());
        }
    }
    prop_assert_eq!(checked.collector, batch.collector.as_ref());
    for (reading, wire) in checked.readings.iter().zip(&batch.readings) {
        prop_assert!(check_point_name(reading.meter_id).is_ok());
        prop_assert!(reading.ts >= 0 && reading.ts <= now + MAX_FUTURE_SECONDS);
        prop_assert!(reading.value.is_finite() && reading.value.abs() <= MAX_READING_MAGNITUDE);
        // The instant the text names, from 1970 on, fractions dropped.
        let instant: jiff::Timestamp = wire.time_stamping.parse().unwrap();
        prop_assert!(
            instant >= jiff::Timestamp::UNIX_EPOCH,
            "{} is before 1970",
            wire.time_stamping
        );
        prop_assert_eq!(reading.ts, instant.as_second());
    }
    Ok(())
}

proptest! {
    #![proptest_config(test_support::proptest_config(1000))]

    #[test]
    fn any_bytes_are_a_batch_or_a_named_refusal(
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            any::<String>().prop_map(String::into_bytes),
            batch().prop_map(|b| serde_json::to_vec(&b).unwrap()),
        ],
        cut in any::<prop::sample::Index>(),
        cut_it in any::<bool>(),
    ) {
        let mut body = body;
        if cut_it {
            body.truncate(cut.index(body.len() + 1));
        }
        match parse(&body) {
            Ok(batch) => match check(&batch, NOW) {
                Ok(checked) => within_limits(&batch, &checked, NOW)?,
                Err(error) => {
                    prop_assert!(!error.message.is_empty());
                    names_its_entry(&error)?;
                }
            },
            Err(error) => {
                prop_assert_eq!(error.kind, WireErrorKind::Invalid);
                prop_assert!(!error.message.is_empty());
                names_its_entry(&error)?;
            }
        }
    }

    #[test]
    fn near_valid_batches_are_accepted_within_limits_or_the_first_bad_entry_is_named(batch in batch()) {
        // Through JSON, as the collector sends it.
        let body = serde_json::to_vec(&batch).unwrap();
        let parsed = parse(&body);
        let finite = batch.readings.iter().all(|r| r.value.is_finite());
        if !finite {
            // JSON has no NaN or infinity: serde writes null, which is no number.
            prop_assert!(parsed.is_err());
            return Ok(());
        }
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed, &batch, "the wire keeps every field exactly");
        match check(&parsed, NOW) {
            Ok(checked) => within_limits(&parsed, &checked, NOW)?,
            Err(error) => {
                prop_assert_eq!(error.kind, WireErrorKind::Invalid);
                // The named entry is the first bad one: everything before it
                // passes, and it fails alone.
                let (list, rest) = error.message.split_once('[').unwrap();
                let index: usize = rest.split(']').next().unwrap().parse().unwrap();
                // The typed entry is the one the text names.
                prop_assert_eq!(
                    error.entry,
                    Some(if list == "points" { Entry::Point(index) } else { Entry::Reading(index) }),
                    "{}", error.message
                );
                let mut before = parsed.clone();
                let mut alone = Batch::default();
                match list {
                    "points" => {
                        before.points.truncate(index);
                        before.readings.clear();
                        alone.points = parsed.points[..=index].to_vec();
                    }
                    "readings" => {
                        before.readings.truncate(index);
                        alone.points = parsed.points.clone();
                        alone.readings = vec![parsed.readings[index].clone()];
                    }
                    other => prop_assert!(false, "{other}"),
                }
                prop_assert!(check(&before, NOW).is_ok(), "{}", error.message);
                prop_assert!(check(&alone, NOW).is_err(), "{}", error.message);
            }
        }
    }

    #[test]
    fn times_written_for_the_wire_read_back(seconds in prop_oneof![0..=LAST_SECOND, 1_500_000_000i64..1_900_000_000]) {
        let text = format_utc(seconds);
        prop_assert_eq!(text.len(), 20);
        prop_assert_eq!(parse_time(&text), Ok(seconds));
        prop_assert_eq!(text.parse::<jiff::Timestamp>().unwrap().as_second(), seconds);
    }

    #[test]
    fn any_time_text_reads_as_jiff_reads_it(text in time_text()) {
        let ours = parse_time(&text);
        match text.parse::<jiff::Timestamp>() {
            Ok(instant) if instant >= jiff::Timestamp::UNIX_EPOCH => {
                prop_assert_eq!(ours, Ok(instant.as_second()), "{}", text)
            }
            _ => prop_assert!(ours.is_err(), "{} read as {:?}", text, ours),
        }
    }

    #[test]
    fn point_names_follow_one_rule(name in meter_id()) {
        let chars = name.chars().count();
        let fits = (1..=MAX_ID_CHARS).contains(&chars)
            && !name.chars().any(char::is_control)
            && name.trim() == name;
        prop_assert_eq!(check_point_name(&name).is_ok(), fits);
    }
}
