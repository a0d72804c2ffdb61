//! `/usage`'s buckets against a from-scratch computation over the raw
//! readings, in every class of time zone: whole-hour offsets with DST,
//! half- and three-quarter-hour offsets, a zone whose DST moves by half an
//! hour, and UTC. Readings grow by multiples of 1/8, so every sum is exact
//! in any order and the comparison can be exact too.

mod common;

use common::Sqlite;
use intellimeter_core::domain::ids::{PointId, ProjectId};
use intellimeter_core::domain::readings::{self, NewReading, Scope};
use intellimeter_core::domain::time::LocalClock;
use intellimeter_core::domain::usage::{self, Step};
use intellimeter_core::domain::usage_days;
use intellimeter_core::storage::migrations;
use intellimeter_core::storage::{Sql, SqlValue};
use jiff::civil::Date;
use proptest::prelude::*;
use std::collections::BTreeMap;

const ZONES: [&str; 6] = [
    "UTC",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/St_Johns",
];

fn database() -> Sqlite {
    let db = Sqlite::in_memory();
    migrations::apply(&db).unwrap();
    common::add_projects_and_points(&db, "UTC", &[(1, 1), (2, 1), (3, 2)]);
    db
}

/// A point's readings from SQL, oldest first.
fn raw(db: &Sqlite, point: i64) -> Vec<(i64, f64)> {
    db.execute(
        "SELECT ts, value FROM readings WHERE point_id = ? ORDER BY ts",
        &[point.into()],
    )
    .unwrap()
    .iter()
    .map(|row| match (&row.0[0], &row.0[1]) {
        (SqlValue::Integer(ts), SqlValue::Real(value)) => (*ts, *value),
        other => panic!("{other:?}"),
    })
    .collect()
}

/// What a bucket `[start, end)` must hold, from scratch: the sum and
/// number of the intervals ending in `(start, end]`, the largest demand, and every interval
/// `(start, end)` that reaches it.
#[derive(Debug, Default)]
struct Expected {
    total: f64,
    count: i64,
    peak: f64,
    peak_intervals: Vec<(i64, i64)>,
}

fn expected(readings: &[(i64, f64)], bounds: &[i64]) -> BTreeMap<usize, Expected> {
    let mut out: BTreeMap<usize, Expected> = BTreeMap::new();
    for interval in readings::intervals(readings) {
        let Some(bucket) = bounds
            .windows(2)
            .position(|pair| pair[0] < interval.end && interval.end <= pair[1])
        else {
            continue;
        };
        let demand = interval.value * 3600.0 / (interval.end - interval.base) as f64;
        let entry = out.entry(bucket).or_insert(Expected {
            peak: f64::NEG_INFINITY,
            ..Expected::default()
        });
        entry.total += interval.value;
        entry.count += 1;
        if demand > entry.peak {
            entry.peak = demand;
            entry.peak_intervals.clear();
        }
        if demand == entry.peak {
            entry.peak_intervals.push((interval.base, interval.end));
        }
    }
    out
}

/// Readings every `step` seconds from `start` for `count` steps: growing
/// by multiples of 1/8, with equal steps (tied peaks), a reset, a glitch
/// and a gap.
fn meter(start: i64, step: i64, count: i64, seed: u64) -> Vec<(i64, f64)> {
    let mut random = seed | 1;
    let mut next = move |n: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % n
    };
    let mut value = 1000.0;
    let mut out = Vec::new();
    let mut i = 0;
    while i < count {
        let roll = next(400);
        let stored = match roll {
            0 => 0.0, // a glitch
            1 => {
                value = 8.0; // a reset
                value
            }
            2..=100 => value, // nothing used
            101..=200 => {
                value += 0.5; // tied steps
                value
            }
            _ => {
                value += next(64) as f64 / 8.0;
                value
            }
        };
        out.push((start + i * step, stored));
        i += if next(300) == 0 { 30 } else { 1 };
    }
    out
}

fn day(days_after_2019: i64) -> Date {
    Date::new(2019, 1, 1)
        .unwrap()
        .checked_add(jiff::Span::new().days(days_after_2019))
        .unwrap()
}

proptest! {
    #![proptest_config(test_support::proptest_config(24))]

    #[test]
    fn buckets_equal_a_computation_from_the_raw_readings(
        zone in prop::sample::select(&ZONES[..]),
        step in prop::sample::select(&Step::ALL[..]),
        cadence in prop::sample::select(&[300i64, 900, 1800][..]),
        // Around the spring and autumn changes of both hemispheres.
        first in prop::sample::select(&[80i64, 85, 88, 270, 275, 297, 300][..]),
        length in 0i64..40,
        seed in any::<u64>(),
    ) {
        let db = database();
        let origin = day(first - 3).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second() + 7;
        let steps = (length + 6) * 86_400 / cadence;
        let mut all = Vec::new();
        for (project, point) in [(1, 1), (1, 2), (2, 3)] {
            for (ts, value) in meter(origin, cadence, steps, seed ^ point as u64) {
                all.push((project, NewReading { point_id: PointId(point), ts, value }));
            }
        }
        let clock = LocalClock::new(zone);
        let (a, b) = (day(first), day(first + length));
        let bounds = match usage::boundaries(&clock, a, b, step) {
            Ok(bounds) => bounds,
            Err(error) => {
                // Only hours of a long range are refused.
                prop_assert!(step == Step::Hour && error.status() == 400);
                return Ok(());
            }
        };
        let asked = usage::UsageRequest { days: (a, b), step, meter: None };
        let scope = Scope { project_id: ProjectId(1), points: None };
        let points = [PointId(1), PointId(2)];
        // Half the readings (every other batch of 97), an answer (which
        // stores the days it computes), then the rest, late and in
        // between: the second answer must see every reading.
        let (early, late): (Vec<_>, Vec<_>) = all
            .chunks(97)
            .enumerate()
            .partition(|(index, _)| index % 2 == 0);
        for (part, last) in [(early, false), (late, true)] {
            let part: Vec<_> = part.into_iter().flat_map(|(_, chunk)| chunk.to_vec()).collect();
            common::store_readings(&db, &part, 97);
            let by_rollups = usage::bucket_tallies(&db, scope, &bounds).unwrap();
            let answered = usage::tallies(&db, scope, &points, &clock, &asked, &bounds).unwrap();
            // Low and high are not kept per day, and of tied peaks
            // either may be named (checked against the raw readings).
            let shown = |tallies: &usage::BucketTallies| {
                tallies
                    .iter()
                    .map(|(key, t)| (key, (t.total, t.count, t.peak.demand)))
                    .collect::<BTreeMap<_, _>>()
            };
            prop_assert_eq!(shown(&answered), shown(&by_rollups), "stored days differ from the rollups");
            if last {
                check_against_raw(&db, &bounds, &answered)?;
            }
        }
    }
}

/// Each bucket's tally of points 1 and 2 (project 1) is what the raw
/// readings give.
fn check_against_raw(
    db: &Sqlite,
    bounds: &[i64],
    tallies: &usage::BucketTallies,
) -> Result<(), TestCaseError> {
    {
        prop_assert!(
            tallies.iter().all(|((point, _), _)| point.get() != 3),
            "another project's point"
        );
        for point in [1, 2] {
            let want = expected(&raw(db, point), bounds);
            let got: BTreeMap<usize, _> = tallies
                .iter()
                .filter(|((p, _), _)| p.get() == point)
                .map(|((_, bucket), tally)| (bucket, tally))
                .collect();
            prop_assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>()
            );
            for (bucket, tally) in &got {
                let want = &want[bucket];
                prop_assert_eq!(tally.total, want.total, "bucket {}", bucket);
                prop_assert_eq!(tally.count, want.count);
                prop_assert_eq!(tally.peak.demand, want.peak);
                prop_assert!(
                    want.peak_intervals
                        .contains(&(tally.peak.start, tally.peak.end)),
                    "peak {:?} is none of {:?}",
                    tally.peak,
                    want.peak_intervals
                );
            }
        }
    }
    Ok(())
}

#[test]
fn buckets_cover_the_range_exactly_in_every_zone() {
    for zone in ZONES {
        let clock = LocalClock::new(zone);
        for step in Step::ALL {
            let (a, b) = (day(0), day(364));
            let bounds = usage::boundaries(&clock, a, b, step).unwrap();
            assert!(
                bounds.windows(2).all(|pair| pair[0] < pair[1]),
                "{zone} {step:?}"
            );
            let (start, _) = intellimeter_core::domain::days::instants(&clock, a, a).unwrap();
            assert_eq!(bounds[0], start);
            if step == Step::Hour {
                // Two years of hours are more than one answer may hold.
                let refused = usage::boundaries(&clock, a, day(730), step).unwrap_err();
                assert_eq!(refused.status(), 400);
            }
            let expected = match step {
                Step::Hour => None,
                Step::Day => Some(365),
                Step::Week => Some(53),
                Step::Month => Some(12),
                Step::Year => Some(1),
            };
            if let Some(expected) = expected {
                assert_eq!(bounds.len() - 1, expected, "{zone} {step:?}");
            } else {
                // A year of hours: the DST changes cancel out, but where
                // the year starts in one season and ends in another.
                let hours = bounds.len() as i64 - 1;
                assert!(
                    (365 * 24 - 1..=365 * 24 + 1).contains(&hours),
                    "{zone}: {hours}"
                );
            }
        }
    }
}

/// Projects 1 (in `zone`) and 2 with `points` (`(id, project)`), each
/// point with `steps` quarter-hourly readings from the start of `first`
/// (UTC), stored as ingest stores them.
fn store_site(db: &Sqlite, zone: &str, points: &[(i64, i64)], first: Date, steps: i64) {
    common::add_projects_and_points(db, zone, points);
    let origin = first
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second();
    let mut all = Vec::new();
    for &(point, project) in points {
        for (ts, value) in meter(origin, 900, steps, point as u64) {
            all.push((
                project,
                NewReading {
                    point_id: PointId(point),
                    ts,
                    value,
                },
            ));
        }
    }
    common::store_readings(db, &all, 500);
}

/// Stored days are bounded: a request that would store more than
/// `MAX_FILL` days of points is answered from the rollups and stores
/// nothing; a smaller one stores a row per day holding every point, empty
/// days too, and only of its own project.
#[test]
fn days_are_stored_within_the_fill_bound_and_per_project() {
    let db = Sqlite::in_memory();
    migrations::apply(&db).unwrap();
    let (first, last) = (day(0), day(3652));
    let days_in_range = 3653;
    let many = usage_days::MAX_FILL / days_in_range + 1;
    let points: Vec<(i64, i64)> = (1..=many as i64)
        .map(|id| (id, 1))
        .chain([(1000, 2)])
        .collect();
    store_site(&db, "Europe/Paris", &points, day(30), 200);
    let stored = |project: i64| -> i64 {
        match &db
            .execute(
                "SELECT COUNT(*) FROM usage_buckets WHERE project_id = ? AND kind = 1",
                &[project.into()],
            )
            .unwrap()
            .rows[0][0]
        {
            SqlValue::Integer(n) => *n,
            other => panic!("{other:?}"),
        }
    };
    let clock = LocalClock::new("Europe/Paris");
    let scope = Scope {
        project_id: ProjectId(1),
        points: None,
    };
    let ids: Vec<PointId> = (1..=many as i64).map(PointId).collect();
    let ask = |first, last| {
        let asked = usage::UsageRequest {
            days: (first, last),
            step: Step::Year,
            meter: None,
        };
        let bounds = usage::boundaries(&clock, first, last, Step::Year).unwrap();
        let answered = usage::tallies(&db, scope, &ids, &clock, &asked, &bounds).unwrap();
        let direct = usage::bucket_tallies(&db, scope, &bounds).unwrap();
        let totals = |tallies: &usage::BucketTallies| {
            tallies
                .iter()
                .map(|(key, t)| (key, (t.total, t.count)))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(totals(&answered), totals(&direct));
        assert!(!answered.is_empty());
    };
    ask(first, last);
    assert_eq!(
        stored(1),
        0,
        "more than MAX_FILL rows missing: nothing stored"
    );
    ask(day(0), day(99));
    assert_eq!(stored(1), 100, "a row per day, of every point");
    assert_eq!(stored(2), 0, "another project's days are not computed");
    // A later answer reads the stored days: with the rollups gone (behind
    // the code's back), it is still the same, to the bit.
    let asked = usage::UsageRequest {
        days: (day(0), day(99)),
        step: Step::Day,
        meter: None,
    };
    let bounds = usage::boundaries(&clock, day(0), day(99), Step::Day).unwrap();
    let before = usage::tallies(&db, scope, &ids, &clock, &asked, &bounds).unwrap();
    // Hours likewise (asked once: computed and stored).
    let hours_asked = usage::UsageRequest {
        days: (day(30), day(32)),
        step: Step::Hour,
        meter: None,
    };
    let hour_bounds = usage::boundaries(&clock, day(30), day(32), Step::Hour).unwrap();
    let hours = || usage::tallies(&db, scope, &ids, &clock, &hours_asked, &hour_bounds).unwrap();
    let days_stored = stored(1);
    let hours_before = hours();
    assert_eq!(
        stored(1),
        days_stored,
        "hours are not stored among the days"
    );
    db.execute("DELETE FROM interval_rollups WHERE project_id = 1", &[])
        .unwrap();
    let after = usage::tallies(&db, scope, &ids, &clock, &asked, &bounds).unwrap();
    assert!(!after.is_empty());
    assert_eq!(after, before);
    let hours_after = hours();
    assert!(!hours_after.is_empty());
    assert_eq!(hours_after, hours_before);
}

/// A stored row holds a bucket of every point of the project. One
/// meter's request reads its own from them, and sums what they lack for
/// itself, storing nothing (its rows would lack the other points); a
/// request for every meter stores them, and then one meter's request
/// reads them, to the bit, with the rollups gone. A point the stored rows
/// lack (added after them) has its buckets computed, never read as empty.
#[test]
fn one_meters_request_reads_the_rows_of_every_point() {
    let db = Sqlite::in_memory();
    migrations::apply(&db).unwrap();
    store_site(
        &db,
        "Asia/Kathmandu",
        &[(1, 1), (2, 1), (3, 1), (9, 2)],
        day(10),
        400,
    );
    let clock = LocalClock::new("Asia/Kathmandu");
    let (first, last) = (day(9), day(15));
    let ask = |step: Step, points: &[PointId], only: bool| {
        let asked = usage::UsageRequest {
            days: (first, last),
            step,
            meter: only.then_some("m2"),
        };
        let scope = Scope {
            project_id: ProjectId(1),
            points: only.then_some(points),
        };
        let bounds = usage::boundaries(&clock, first, last, step).unwrap();
        usage::tallies(&db, scope, points, &clock, &asked, &bounds).unwrap()
    };
    // What a bucket keeps of a tally (not the low and high interval).
    let kept = |tallies: &usage::BucketTallies| -> Vec<_> {
        tallies
            .iter()
            .map(|(key, t)| (key, t.total, t.count, t.peak))
            .collect()
    };
    let rows = |db: &Sqlite| match &db
        .execute(
            "SELECT COUNT(*) FROM usage_buckets WHERE project_id = 1",
            &[],
        )
        .unwrap()
        .rows[0][0]
    {
        SqlValue::Integer(n) => *n,
        other => panic!("{other:?}"),
    };
    let everyone = [PointId(1), PointId(2), PointId(3)];
    let only_two = [PointId(2)];
    for step in [Step::Day, Step::Hour] {
        db.execute("DELETE FROM usage_buckets", &[]).unwrap();
        let one_cold = kept(&ask(step, &only_two, true));
        assert!(!one_cold.is_empty(), "{step:?}");
        assert_eq!(rows(&db), 0, "{step:?}: one meter's request stores nothing");
        let direct_all = kept(&ask(step, &everyone, false));
        let stored = rows(&db);
        assert!(stored > 0, "{step:?}");
        let direct_one: Vec<_> = direct_all
            .iter()
            .filter(|((point, _), ..)| *point == PointId(2))
            .copied()
            .collect();
        assert_eq!(one_cold, direct_one, "{step:?}");
        // With the rollups gone, both read the stored rows.
        let saved = db
            .execute("SELECT * FROM interval_rollups WHERE project_id = 1", &[])
            .unwrap();
        db.execute("DELETE FROM interval_rollups WHERE project_id = 1", &[])
            .unwrap();
        assert_eq!(kept(&ask(step, &only_two, true)), direct_one, "{step:?}");
        assert_eq!(kept(&ask(step, &everyone, false)), direct_all, "{step:?}");
        assert_eq!(rows(&db), stored, "{step:?}: nothing computed again");
        // A point the stored rows lack is computed, not taken as empty:
        // point 2 is left out of them behind the code's back.
        let kind = if step == Step::Day { 1 } else { 2 };
        for row in db
            .execute(
                "SELECT until, buckets FROM usage_buckets WHERE project_id = 1 AND kind = ?",
                &[kind.into()],
            )
            .unwrap()
            .rows
        {
            let SqlValue::Blob(bytes) = &row[1] else {
                panic!("{row:?}")
            };
            // A 16-byte header, then 32 bytes a point, its id first.
            let (header, buckets) = bytes.split_at(16);
            let kept: Vec<u8> = header
                .iter()
                .chain(
                    buckets
                        .chunks_exact(32)
                        .filter(|bucket| bucket[..4] != 2u32.to_le_bytes())
                        .flatten(),
                )
                .copied()
                .collect();
            assert_eq!(kept.len() + 32, bytes.len());
            db.execute(
                "UPDATE usage_buckets SET buckets = ? WHERE project_id = 1 AND kind = ? AND until = ?",
                &[SqlValue::Blob(kept), kind.into(), row[0].clone()],
            )
            .unwrap();
        }
        for row in &saved.rows {
            let params: Vec<SqlValue> = row.to_vec();
            let marks = vec!["?"; params.len()].join(", ");
            db.execute(
                &format!("INSERT INTO interval_rollups VALUES ({marks})"),
                &params,
            )
            .unwrap();
        }
        assert_eq!(kept(&ask(step, &only_two, true)), direct_one, "{step:?}");
        assert_eq!(kept(&ask(step, &everyone, false)), direct_all, "{step:?}");
    }
}

/// A bucket whose numbers do not fit the kept layout (here a point id
/// beyond `u32`) leaves its rows unkept: the answer is computed from the
/// rollups every time, and exact; the same site with small ids keeps them.
#[test]
fn buckets_that_do_not_fit_are_computed_not_kept() {
    let big = i64::from(u32::MAX) + 7;
    for (ids, kept_rows) in [([1, 2], 7), ([1, big], 0)] {
        let db = Sqlite::in_memory();
        migrations::apply(&db).unwrap();
        store_site(
            &db,
            "Europe/Paris",
            &[(ids[0], 1), (ids[1], 1)],
            day(10),
            400,
        );
        let clock = LocalClock::new("Europe/Paris");
        let scope = Scope {
            project_id: ProjectId(1),
            points: None,
        };
        let points = [PointId(ids[0]), PointId(ids[1])];
        let asked = usage::UsageRequest {
            days: (day(9), day(15)),
            step: Step::Day,
            meter: None,
        };
        let bounds = usage::boundaries(&clock, day(9), day(15), Step::Day).unwrap();
        let direct = usage::bucket_tallies(&db, scope, &bounds).unwrap();
        for _ in 0..2 {
            let answered = usage::tallies(&db, scope, &points, &clock, &asked, &bounds).unwrap();
            assert_eq!(answered, direct, "ids {ids:?}");
            assert!(
                answered
                    .iter()
                    .any(|((point, _), _)| point == PointId(ids[1]))
            );
        }
        let rows = db
            .execute("SELECT COUNT(*) FROM usage_buckets", &[])
            .unwrap();
        assert_eq!(rows.rows[0][0], SqlValue::Integer(kept_rows), "ids {ids:?}");
    }
}
