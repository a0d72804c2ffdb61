//! `POST /ingest` bodies through `ingest_wire::parse` and `check`: never a
//! panic, and whatever is accepted keeps every limit.

#![no_main]

use ingest_wire::*;
use libfuzzer_sys::fuzz_target;

/// 2019-10-30T17:15:00Z.
const NOW: i64 = 1_572_455_700;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        // Any text as a time: as jiff reads it, from 1970 on.
        let ours = parse_time(text);
        match text.parse::<jiff::Timestamp>() {
            Ok(instant) if instant >= jiff::Timestamp::UNIX_EPOCH => {
                assert_eq!(ours, Ok(instant.as_second()), "{text:?}")
            }
            _ => assert!(ours.is_err(), "{text:?} read as {ours:?}"),
        }
    }
    let batch = match parse(input) {
        Ok(batch) => batch,
        Err(error) => {
            assert_eq!(error.kind, WireErrorKind::Invalid);
            assert!(!error.message.is_empty());
            return;
        }
    };
    let Ok(checked) = check(&batch, NOW) else {
        return;
    };
    assert!(checked.points.len() <= MAX_POINTS_PER_BATCH);
    assert!(checked.readings.len() <= MAX_READINGS_PER_BATCH);
    let mut ids = std::collections::HashSet::new();
    for point in &checked.points {
        assert!(check_point_name(&point.meter_id).is_ok());
        assert!(ids.insert(&point.meter_id));
        for text in [
            &point.port,
            &point.no_phases,
            &point.meter_type,
            &point.modbus_map,
        ]
        .into_iter()
        .flatten()
        {
            assert!(text.chars().count() <= MAX_ID_CHARS && !text.chars().any(char::is_control));
        }
    }
    for reading in &checked.readings {
        assert!(check_point_name(reading.meter_id).is_ok());
        assert!(reading.ts >= 0 && reading.ts <= NOW + MAX_FUTURE_SECONDS);
        assert!(reading.value.is_finite() && reading.value.abs() <= MAX_READING_MAGNITUDE);
    }
    // What was accepted crosses the wire again unchanged.
    let again = parse(&serde_json::to_vec(&batch).expect("JSON")).expect("a batch");
    assert_eq!(again, batch);
});
