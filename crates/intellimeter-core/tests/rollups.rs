//! The interval rollups against the readings they summarise, over a real
//! SQLite: kept exact by ingest in any order of arrival, computed the same
//! by migration 0004 for readings stored before it, and every chart query
//! (totals, reduced series) adding up to what the raw readings say.

mod common;

use common::Sqlite;
use intellimeter_core::domain::ids::{PointId, ProjectId};
use intellimeter_core::domain::readings::{self, BLOCK, HOUR, NewReading, Scope, Source};
use intellimeter_core::storage::migrations;
use intellimeter_core::storage::{Sql, SqlValue};
use std::collections::BTreeMap;

const START: i64 = 1_546_300_800; // 2019-01-01 00:00 UTC

/// `(point, span, start) → (total, low, high, count, (peak demand, its
/// start, its end))`.
type Rollups = BTreeMap<(i64, i64, i64), (f64, f64, f64, i64, (f64, i64, i64))>;

/// xorshift: repeatable pseudo-random numbers.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn database(version: i64) -> Sqlite {
    let db = Sqlite::in_memory();
    migrations::apply_up_to(&db, version).unwrap();
    common::add_projects_and_points(&db, "Asia/Kolkata", &[(1, 1), (2, 1), (3, 1), (4, 2)]);
    db
}

/// Readings of points 1–3 (project 1) and 4 (project 2): a cumulative
/// counter every 5 minutes for `days`, with resets, glitches to 0, gaps
/// of a few hours, and one spike.
fn meter_readings(days: i64, random: &mut Random) -> Vec<(i64, NewReading)> {
    let mut out = Vec::new();
    for point in 1..=4 {
        let mut value = 1000.0 * point as f64;
        let mut step = 0;
        while step < days * 288 {
            let ts = START + step * 300;
            let roll = random.below(1000);
            let stored = if roll < 3 {
                0.0 // a glitch: one read of 0
            } else {
                if roll < 5 {
                    value = 3.0; // a reset
                } else if roll == 7 {
                    value += 500.0; // a spike
                } else {
                    value += (random.below(100) as f64) / 40.0;
                }
                value
            };
            out.push((
                if point == 4 { 2 } else { 1 },
                NewReading {
                    point_id: PointId(point),
                    ts,
                    value: stored,
                },
            ));
            step += if random.below(500) == 0 { 40 } else { 1 };
        }
    }
    out
}

/// The rollups computed from scratch from the readings, as the rule says.
fn expected(db: &Sqlite) -> Rollups {
    let rows = db
        .execute(
            "SELECT point_id, ts, value FROM readings ORDER BY point_id, ts",
            &[],
        )
        .unwrap();
    let mut by_point: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for row in &rows.rows {
        let (SqlValue::Integer(point), SqlValue::Integer(ts), SqlValue::Real(value)) =
            (&row[0], &row[1], &row[2])
        else {
            panic!("{row:?}")
        };
        by_point.entry(*point).or_default().push((*ts, *value));
    }
    let mut out = BTreeMap::new();
    for (point, readings) in by_point {
        for interval in readings::intervals(&readings) {
            let (ts, value) = (interval.end, interval.value);
            // The demand of the interval: over the time since the reading
            // it is measured from, per hour.
            let demand = value * 3600.0 / (ts - interval.base) as f64;
            for span in [HOUR, BLOCK] {
                let entry = out
                    .entry((point, span, (ts - 1).div_euclid(span) * span))
                    .or_insert((
                        0.0,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        0,
                        (f64::NEG_INFINITY, 0, 0),
                    ));
                entry.0 += value;
                entry.1 = entry.1.min(value);
                entry.2 = entry.2.max(value);
                entry.3 += 1;
                // Intervals come in time order: the first of equal peaks stays.
                if demand > entry.4.0 {
                    entry.4 = (demand, interval.base, ts);
                }
            }
        }
    }
    out
}

fn stored(db: &Sqlite) -> Rollups {
    let rows = db
        .execute(
            "SELECT point_id, span, start, total, low, high, count, peak, peak_start, peak_end \
             FROM interval_rollups",
            &[],
        )
        .unwrap();
    rows.iter()
        .map(|row| {
            let real = |i: usize| match &row.0[i] {
                SqlValue::Real(x) => *x,
                SqlValue::Integer(n) => *n as f64,
                other => panic!("{other:?}"),
            };
            (
                (
                    row.int(0).unwrap(),
                    row.int(1).unwrap(),
                    row.int(2).unwrap(),
                ),
                (
                    real(3),
                    real(4),
                    real(5),
                    row.int(6).unwrap(),
                    (real(7), row.int(8).unwrap(), row.int(9).unwrap()),
                ),
            )
        })
        .collect()
}

fn assert_same(actual: &Rollups, expected: &Rollups) {
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same hours and blocks"
    );
    for (key, a) in actual {
        let e = expected[key];
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()));
        assert!(
            close(a.0, e.0) && close(a.1, e.1) && close(a.2, e.2) && a.3 == e.3 && a.4 == e.4,
            "{key:?}: stored {a:?}, expected {e:?}"
        );
    }
}

/// Stores `batch` as ingest does: one transaction per project.
fn insert(db: &Sqlite, batch: &[(i64, NewReading)]) {
    common::store_readings(db, batch, usize::MAX);
}

#[test]
fn ingest_keeps_rollups_exact_whatever_the_order_of_arrival() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let all = meter_readings(6, &mut random);
    let db = database(migrations::latest_version());
    // In time order, in small batches (a live collector)…
    let (live, late) = all.split_at(all.len() / 2);
    for batch in live.chunks(37) {
        insert(&db, batch);
    }
    assert_same(&stored(&db), &expected(&db));
    // … then the rest shuffled, with repeats (a backfill and retries).
    let mut late = late.to_vec();
    for i in (1..late.len()).rev() {
        late.swap(i, random.below(i as u64 + 1) as usize);
    }
    late.extend_from_slice(&all[..500]);
    for batch in late.chunks(211) {
        insert(&db, batch);
    }
    assert_same(&stored(&db), &expected(&db));
    // Readings arriving between stored ones change the rollups of the
    // hours after them too (the rule looks back two readings).
    let gap_filler: Vec<(i64, NewReading)> = (1..=3)
        .map(|point| {
            (
                1,
                NewReading {
                    point_id: PointId(point),
                    ts: START + 150,
                    value: 1e6,
                },
            )
        })
        .collect();
    insert(&db, &gap_filler);
    assert_same(&stored(&db), &expected(&db));
}

/// Batches as large as a collector's backlog sends: several multi-row
/// INSERTs and rollup upserts per batch, then every batch again.
#[test]
fn large_batches_keep_rollups_exact_and_a_replay_changes_nothing() {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let all = meter_readings(6, &mut random);
    let db = database(migrations::latest_version());
    let batch = 2_500;
    assert!(all.len() > 2 * batch, "{} readings", all.len());
    for chunk in all.chunks(batch) {
        common::store_readings(&db, chunk, usize::MAX);
    }
    let rollups = stored(&db);
    assert_same(&rollups, &expected(&db));
    let count = |db: &Sqlite| {
        db.execute("SELECT COUNT(*) FROM readings", &[])
            .unwrap()
            .rows[0][0]
            .clone()
    };
    let readings = count(&db);
    assert_eq!(readings, SqlValue::Integer(all.len() as i64));
    for chunk in all.chunks(batch) {
        common::store_readings(&db, chunk, usize::MAX);
    }
    assert_eq!(count(&db), readings, "a replay stores nothing");
    assert_eq!(stored(&db), rollups, "a replay changes no rollup");
}

#[test]
fn migrations_0004_and_0006_compute_the_same_rollups_as_ingest() {
    let mut random = Random(42);
    let all = meter_readings(4, &mut random);
    let db = database(3);
    for (project, reading) in &all {
        db.execute(
            "INSERT INTO readings (project_id, ts, point_id, value) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
            &[
                (*project).into(),
                reading.ts.into(),
                reading.point_id.into(),
                SqlValue::Real(reading.value),
            ],
        )
        .unwrap();
    }
    migrations::apply(&db).unwrap();
    let migrated = stored(&db);
    assert!(migrated.len() > 4 * 4 * 24, "{} rollups", migrated.len());
    assert_same(&migrated, &expected(&db));
}

fn raw_total(db: &Sqlite, scope: Scope, from: i64, to: i64) -> BTreeMap<PointId, f64> {
    let mut totals = BTreeMap::new();
    for (point, interval) in readings::raw_intervals(db, scope, from, to).unwrap() {
        *totals.entry(point).or_insert(0.0) += interval.value;
    }
    totals
}

#[test]
fn window_totals_equal_the_raw_sum_for_any_window() {
    let mut random = Random(7);
    let db = database(migrations::latest_version());
    insert(&db, &meter_readings(10, &mut random));
    let project = Scope {
        project_id: ProjectId(1),
        points: None,
    };
    // Aligned and unaligned (Asia/Kolkata midnight is at :30 UTC).
    let mut windows = vec![
        (START, START + 10 * 86_400),
        (START - 19_800, START + 3 * 86_400 - 19_800),
        (START + 1, START + 2),
        (START + 3 * 3600 + 17, START + 5 * 3600 + 59),
    ];
    for _ in 0..40 {
        let from = START + random.below(10 * 86_400) as i64 - 3600;
        windows.push((from, from + random.below(8 * 86_400) as i64));
    }
    for (from, to) in windows {
        let parts = readings::decompose(from, to);
        let covered: i64 = parts.iter().map(|(_, a, b)| b - a).sum();
        assert_eq!(covered, (to - from).max(0), "{parts:?}");
        let totals = readings::window_totals(&db, project, from, to).unwrap();
        let raw = raw_total(&db, project, from, to);
        assert_eq!(
            totals.keys().collect::<Vec<_>>(),
            raw.keys().collect::<Vec<_>>()
        );
        for (point, total) in &totals {
            assert!(
                (total - raw[point]).abs() < 1e-6 * (1.0 + total.abs()),
                "{from}..{to} point {point}: {total} vs {}",
                raw[point]
            );
        }
        assert!(
            !totals.contains_key(&PointId(4)),
            "another project's point never counts"
        );
    }
    // A long window reads whole blocks, not readings.
    assert!(
        readings::decompose(START - 1, START + 365 * 86_400 + 1)
            .iter()
            .any(|(source, a, b)| *source == Source::Rollup(BLOCK) && b - a > 300 * 86_400)
    );
}

#[test]
fn reduced_series_keep_the_sum_and_the_spike() {
    let db = database(migrations::latest_version());
    // A year of 5-minute readings of point 1 with one spike of 1000 in it.
    let spike_at = START + 200 * 86_400 + 77 * 300;
    let mut value = 0.0;
    let year: Vec<(i64, NewReading)> = (0..365 * 288)
        .map(|step| {
            let ts = START + step * 300;
            value += if ts == spike_at { 1000.0 } else { 0.25 };
            (
                1,
                NewReading {
                    point_id: PointId(1),
                    ts,
                    value,
                },
            )
        })
        .collect();
    for batch in year.chunks(10_000) {
        insert(&db, batch);
    }
    let scope = Scope {
        project_id: ProjectId(1),
        points: Some(&[PointId(1)]),
    };
    for (from, to, columns) in [
        (START, START + 365 * 86_400, 1600),
        (START + 190 * 86_400, START + 220 * 86_400, 1600),
        (START + 200 * 86_400, START + 201 * 86_400, 1600),
        (START + 200 * 86_400, START + 201 * 86_400, 200),
    ] {
        let series = readings::interval_series(&db, scope, from, to, columns).unwrap();
        assert_eq!(series.len(), 1);
        let buckets = &series[0].1;
        assert!(
            buckets.len() as u32 <= columns + 1,
            "{} buckets for {columns} columns",
            buckets.len()
        );
        let sum: f64 = buckets.iter().map(|b| b.total).sum();
        let raw = raw_total(&db, scope, from, to)[&PointId(1)];
        assert!(
            (sum - raw).abs() < 1e-6 * raw,
            "{from}..{to}: reduced {sum}, raw {raw}"
        );
        let high = buckets.iter().map(|b| b.high).fold(0.0, f64::max);
        assert_eq!(high, 1000.0, "the one-interval spike survives");
        let count: u64 = buckets.iter().map(|b| b.count).sum();
        assert_eq!(count as i64, (to - from) / 300 - i64::from(from == START));
        for pair in buckets.windows(2) {
            assert!(
                pair[0].end <= pair[1].start && pair[0].start < pair[0].end,
                "{from}..{to}: buckets in order, not overlapping: {pair:?}"
            );
        }
    }
    // Another project's scope sees nothing of it.
    let other = Scope {
        project_id: ProjectId(2),
        points: Some(&[PointId(1)]),
    };
    assert!(
        readings::interval_series(&db, other, START, START + 365 * 86_400, 1600)
            .unwrap()
            .is_empty()
    );
    assert!(
        readings::window_totals(&db, other, START, START + 365 * 86_400)
            .unwrap()
            .is_empty()
    );
}
