//! Readings: cumulative register values per point and time, the latest of
//! them, the interval rule, and the rollups of intervals that charts read.
//!
//! # Rollups
//! `interval_rollups` holds, per point, for every UTC hour ([`HOUR`]) and
//! every 6-hour block ([`BLOCK`]), the sum, smallest, largest and number of
//! the intervals it holds, and their peak demand. A span `[start, start +
//! span)` holds the intervals that end in `(start, start + span]`
//! ([`span_of`]): the energy from the reading at its start to the reading
//! at its end, as a meter's register read at both instants gives it. Invariant: every row equals
//! what [`interval`] computes from the readings stored, because the only
//! writer of readings, [`insert`], recomputes every hour and block whose
//! intervals its readings can change (their own hours and those of the two
//! readings after each, which the rule looks back from), in the same
//! transaction. Migration 0004 computed them for the readings stored
//! before. A chart of a year then reads 1,460 blocks per point instead of
//! 105,120 readings, and an exact total over any window adds whole blocks,
//! whole hours and the raw intervals of the partial hours at its edges.

use crate::domain::ids::{PointId, ProjectId};
use crate::error::ApiError;
use crate::readmodel::ProjectWrite;
use crate::storage::{Sql, SqlValue};
use charts::Bucket;
use std::collections::BTreeMap;

/// Readings per multi-row INSERT (3 parameters each and the project's
/// id, far below SQLite's 32,766-parameter limit). Measured: a statement
/// of 1,000 rows compiles in about a millisecond (each request opens its
/// own connection, so once per batch) and stores its rows faster than
/// 1,000 statements of one; 100 rows were twice as slow per row, 8,000
/// slower to compile.
const ROWS_PER_INSERT: usize = 1000;

/// One reading ready to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewReading {
    pub point_id: PointId,
    pub ts: i64,
    pub value: f64,
}

/// Stores readings; a (point, time) already stored is left as it is.
/// Returns how many were new, from SQLite's change counter of this
/// connection (a skipped duplicate is no change), so no row comes back.
pub fn insert(write: &ProjectWrite, readings: &[NewReading]) -> Result<u64, ApiError> {
    let (db, project_id) = (write.db(), write.project_id().get());
    let batch = Batch::of(readings);
    let latest_before = last_two(db, project_id, &batch)?;
    let before = total_changes(db)?;
    for chunk in readings.chunks(ROWS_PER_INSERT) {
        // `?1` is the project's id in every row; each later `?` numbers
        // itself one past the largest so far.
        let mut statement = String::with_capacity(80 + chunk.len() * 12);
        statement.push_str("INSERT INTO readings (project_id, ts, point_id, value) VALUES ");
        let mut params = Vec::with_capacity(1 + chunk.len() * 3);
        params.push(SqlValue::Integer(project_id));
        for (index, reading) in chunk.iter().enumerate() {
            statement.push_str(if index == 0 {
                "(?1,?,?,?)"
            } else {
                ",(?1,?,?,?)"
            });
            params.push(SqlValue::Integer(reading.ts));
            params.push(reading.point_id.into());
            params.push(SqlValue::Real(reading.value));
        }
        statement.push_str(" ON CONFLICT DO NOTHING");
        db.execute(&statement, &params)?;
    }
    let new = (total_changes(db)? - before) as u64;
    if new > 0 {
        refresh_rollups(db, project_id, &batch, &latest_before)?;
        if let Some(earliest) = readings.iter().map(|reading| reading.ts).min() {
            crate::domain::usage_days::forget_from(db, project_id, earliest)?;
        }
    }
    Ok(new)
}

fn total_changes(db: &dyn Sql) -> Result<i64, ApiError> {
    db.execute("SELECT total_changes()", &[])?
        .first()
        .ok_or_else(|| ApiError::internal("SELECT total_changes() returned no row"))?
        .int(0)
        .map_err(ApiError::from)
}

/// The latest reading and the latest interval of every point of a project,
/// each `(point id, time, value)` in point order.
#[derive(Debug, Default, PartialEq)]
pub struct Latest {
    /// Every point that has a reading.
    pub readings: Vec<LatestValue>,
    /// Every point that has two readings or more; see [`interval`].
    pub intervals: Vec<LatestValue>,
}

/// [`Latest`] of a project, in one statement: the last three readings of
/// each point, oldest first.
/// A point's latest reading (or interval) and when it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatestValue {
    pub point: PointId,
    pub ts: i64,
    pub value: f64,
}

pub fn latest(db: &dyn Sql, project_id: ProjectId) -> Result<Latest, ApiError> {
    let rows = db.execute(
        "SELECT p.id, r.ts, r.value FROM points p \
         JOIN readings r ON r.point_id = p.id \
          AND r.ts >= COALESCE((SELECT ts FROM readings WHERE point_id = p.id \
                                ORDER BY ts DESC LIMIT 1 OFFSET 2), -9223372036854775808) \
         WHERE p.project_id = ? ORDER BY p.id, r.ts",
        &[project_id.into()],
    )?;
    let mut latest = Latest::default();
    let mut current: Option<PointId> = None;
    let mut values: Vec<f64> = Vec::with_capacity(3);
    let mut last_ts = 0;
    let mut flush = |point: Option<PointId>, values: &[f64], ts: i64| {
        if let (Some(point), Some(&value)) = (point, values.last()) {
            latest.readings.push(LatestValue { point, ts, value });
            if let Some(interval) = interval(values) {
                latest.intervals.push(LatestValue {
                    point,
                    ts,
                    value: interval,
                });
            }
        }
    };
    for row in rows.iter() {
        let point_id = PointId::from_column(&row, 0)?;
        if current.is_some_and(|id| id != point_id) {
            flush(current.take(), &values, last_ts);
            values.clear();
        }
        current = Some(point_id);
        last_ts = row.int(1)?;
        values.push(real(&row.0[2])?);
    }
    flush(current, &values, last_ts);
    Ok(latest)
}

pub(crate) fn real(value: &SqlValue) -> Result<f64, ApiError> {
    match value {
        SqlValue::Real(x) => Ok(*x),
        SqlValue::Integer(n) => Ok(*n as f64),
        other => Err(ApiError::internal(format!(
            "a reading's value is {other:?}"
        ))),
    }
}

/// The interval at the latest of a point's last readings (oldest first,
/// up to three): what the meter counted since the reading before.
///
/// A cumulative counter can go backwards: a reset, a replaced meter, a
/// register rollover or a one-reading glitch (a read of 0). The rule never
/// yields a negative or absurd interval:
/// - the counter went backwards at the latest reading → `0` (what was
///   counted across the drop is unknown; the new value is the new base);
/// - the reading before was a drop and the latest is back at or above the
///   value before the drop → that drop was a glitch: the interval is
///   measured from the value before it;
/// - otherwise the plain difference.
///
/// Fewer than two readings → `None`.
pub fn interval(values: &[f64]) -> Option<f64> {
    measured(values).map(|(value, _)| value)
}

/// [`interval`], and how many readings back the value it is measured
/// from is (1, or 2 across a glitch): its duration runs from that
/// reading's time.
fn measured(values: &[f64]) -> Option<(f64, usize)> {
    // Readings are bounded at ingest, so a difference is always finite;
    // values stored before that bound still never give a non-finite answer.
    let (difference, back) = match *values {
        [.., previous, latest] if latest < previous => (0.0, 1),
        [before, dropped, latest] if dropped < before && latest >= before => (latest - before, 2),
        [.., previous, latest] => (latest - previous, 1),
        _ => return None,
    };
    Some((
        if difference.is_finite() {
            difference
        } else {
            0.0
        },
        back,
    ))
}

/// One interval of a point's readings: what the meter counted up to the
/// reading at `end`, measured from the reading at `base` (the reading
/// before, or the one before a glitch); `previous` is the reading just
/// before `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub base: i64,
    pub previous: i64,
    pub end: i64,
    pub value: f64,
}

impl Interval {
    /// Its demand: the interval over its duration, per hour (kW for kWh).
    pub fn demand(&self) -> f64 {
        self.value * 3600.0 / (self.end - self.base) as f64
    }
}

/// The start of the span of length `span` that holds an interval ending
/// at `end`: spans hold the intervals ending in `(start, start + span]`.
pub fn span_of(end: i64, span: i64) -> i64 {
    (end - 1).div_euclid(span) * span
}

/// The span of the finest rollup: an hour.
pub const HOUR: i64 = 3600;
/// The span of the coarser rollup: 6 hours (a year is 1,460 of them, about
/// one per pixel column of a full-width chart).
pub const BLOCK: i64 = 6 * HOUR;
/// Touched points per rollup statement (3 parameters each).
const POINTS_PER_STATEMENT: usize = 300;
/// Rollup rows per upsert (10 parameters each and the project's id).
/// Measured: an upsert of 1,000 rows cost more to compile than to run, one
/// of 100 compiles in a tenth of the time and is reused, so a live batch's
/// 1,165 rollups of 100 points took 2.4 ms in 12 statements instead of
/// 5.5 ms in 2.
const ROLLUPS_PER_UPSERT: usize = 100;

/// The interval at every reading of `readings` (one point's `(time,
/// value)`, oldest first) but the first: `(previous time, time, interval)`
/// by the rule of [`interval`].
pub fn intervals(readings: &[(i64, f64)]) -> Vec<Interval> {
    let values: Vec<f64> = readings.iter().map(|&(_, value)| value).collect();
    (1..readings.len())
        .filter_map(|index| {
            let window = &values[index.saturating_sub(2)..=index];
            measured(window).map(|(value, back)| Interval {
                base: readings[index - back].0,
                previous: readings[index - 1].0,
                end: readings[index].0,
                value,
            })
        })
        .collect()
}

/// The sum, smallest, largest and number of some intervals, and the
/// largest demand among them ([`Interval::demand`]) with when it ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tally {
    pub total: f64,
    pub low: f64,
    pub high: f64,
    pub count: i64,
    pub peak: Peak,
}

/// The largest demand of some intervals and the interval's `[start,
/// end)`; of equal demands, the earliest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    pub demand: f64,
    pub start: i64,
    pub end: i64,
}

impl Peak {
    fn of(interval: &Interval) -> Self {
        Peak {
            demand: interval.demand(),
            start: interval.base,
            end: interval.end,
        }
    }

    /// The greater of two peaks; the earlier of equal ones.
    pub fn max(self, other: Peak) -> Peak {
        if other.demand > self.demand || (other.demand == self.demand && other.end < self.end) {
            other
        } else {
            self
        }
    }
}

impl Tally {
    pub fn new(interval: &Interval) -> Self {
        Tally {
            total: interval.value,
            low: interval.value,
            high: interval.value,
            count: 1,
            peak: Peak::of(interval),
        }
    }

    pub fn add(&mut self, interval: &Interval) {
        self.merge(&Tally::new(interval));
    }

    /// Adds another tally's intervals (of later or earlier times).
    pub fn merge(&mut self, other: &Tally) {
        self.total += other.total;
        self.low = self.low.min(other.low);
        self.high = self.high.max(other.high);
        self.count += other.count;
        self.peak = self.peak.max(other.peak);
    }
}

/// A batch's readings by point, each point's in time order with the first
/// of equal times kept (as `INSERT … ON CONFLICT DO NOTHING` keeps it).
struct Batch(BTreeMap<i64, Vec<(i64, f64)>>);

impl Batch {
    fn of(readings: &[NewReading]) -> Self {
        let mut points: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
        for reading in readings {
            points
                .entry(reading.point_id.get())
                .or_default()
                .push((reading.ts, reading.value));
        }
        for readings in points.values_mut() {
            readings.sort_by_key(|&(ts, _)| ts);
            readings.dedup_by_key(|&mut (ts, _)| ts);
        }
        Batch(points)
    }
}

/// The last two stored readings (oldest first) of each point of `batch`.
fn last_two(
    db: &dyn Sql,
    project_id: i64,
    batch: &Batch,
) -> Result<BTreeMap<i64, Vec<(i64, f64)>>, ApiError> {
    let points: Vec<(i64, i64, i64)> = batch.0.keys().map(|&point| (point, 0, 0)).collect();
    let mut latest: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for chunk in points.chunks(POINTS_PER_STATEMENT) {
        let (mut sql, mut params) = touched_table(chunk);
        sql.push_str(
            "SELECT t.point_id, r.ts, r.value FROM touched t \
             CROSS JOIN readings r ON r.point_id = t.point_id \
              AND r.ts >= COALESCE((SELECT ts FROM readings WHERE point_id = t.point_id \
                                    ORDER BY ts DESC LIMIT 1 OFFSET 1), -9223372036854775808) \
             WHERE +r.project_id = ? ORDER BY t.point_id, r.ts",
        );
        params.push(project_id.into());
        for row in db.execute(&sql, &params)?.iter() {
            latest
                .entry(row.int(0)?)
                .or_default()
                .push((row.int(1)?, real(&row.0[2])?));
        }
    }
    Ok(latest)
}

/// Brings the rollups in step with `batch`, just inserted; see the
/// module's "Rollups". Runs inside the caller's transaction.
///
/// A point whose new readings all come after its stored ones (a live
/// collector) only adds intervals: they are tallied from the batch and the
/// two readings before it, and merged into the stored rollups. A point
/// with a reading at or before its latest stored one (a backfill, a retry)
/// has its affected hours recomputed from the readings.
fn refresh_rollups(
    db: &dyn Sql,
    project_id: i64,
    batch: &Batch,
    latest_before: &BTreeMap<i64, Vec<(i64, f64)>>,
) -> Result<(), ApiError> {
    // Hours and blocks in time order per point: a tally grows until its
    // key changes.
    let mut added: Vec<((i64, i64, i64), Tally)> = Vec::new();
    let mut recompute: Vec<(i64, i64, i64)> = Vec::new();
    for (&point, readings) in &batch.0 {
        let (Some(&(first, _)), Some(&(last, _))) = (readings.first(), readings.last()) else {
            continue;
        };
        let before = latest_before.get(&point).map_or(&[][..], Vec::as_slice);
        if before.last().is_some_and(|&(ts, _)| ts >= first) {
            recompute.push((point, first, last));
            continue;
        }
        let sequence: Vec<(i64, f64)> = before.iter().chain(readings).copied().collect();
        let mut hour: Option<((i64, i64, i64), Tally)> = None;
        let mut block: Option<((i64, i64, i64), Tally)> = None;
        // The stored readings' own intervals are in the rollups already.
        for interval in intervals(&sequence)
            .into_iter()
            .filter(|interval| interval.end >= first)
        {
            for (span, open) in [(HOUR, &mut hour), (BLOCK, &mut block)] {
                let key = (point, span, span_of(interval.end, span));
                match open {
                    Some((open_key, tally)) if *open_key == key => tally.add(&interval),
                    _ => {
                        if let Some(done) = open.replace((key, Tally::new(&interval))) {
                            added.push(done);
                        }
                    }
                }
            }
        }
        added.extend(hour);
        added.extend(block);
    }
    upsert(db, project_id, &added, Upsert::Add)?;
    for chunk in recompute.chunks(POINTS_PER_STATEMENT) {
        let hours: Vec<_> = recompute_hours(db, project_id, chunk)?
            .into_iter()
            .map(|((point, hour), tally)| ((point, HOUR, hour), tally))
            .collect();
        upsert(db, project_id, &hours, Upsert::Replace)?;
        refresh_blocks(db, project_id, &hours)?;
    }
    Ok(())
}

/// `WITH touched(point_id, lo, hi) AS (VALUES (?,?,?),…)` and its
/// parameters.
fn touched_table(rows: &[(i64, i64, i64)]) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("WITH touched(point_id, lo, hi) AS (VALUES ");
    let mut params = Vec::with_capacity(rows.len() * 3);
    for (index, &(point, lo, hi)) in rows.iter().enumerate() {
        sql.push_str(if index == 0 { "(?,?,?)" } else { ",(?,?,?)" });
        params.extend([point.into(), lo.into(), hi.into()]);
    }
    sql.push_str(") ");
    (sql, params)
}

/// Every hour rollup of the touched points' affected hours, from the
/// readings: `(point, hour) → tally`. An hour is affected from the hour of
/// a point's first new reading to the hour of the second reading after its
/// last new one.
fn recompute_hours(
    db: &dyn Sql,
    project_id: i64,
    touched: &[(i64, i64, i64)],
) -> Result<BTreeMap<(i64, i64), Tally>, ApiError> {
    let (mut sql, mut params) = touched_table(touched);
    // From the two readings before the first affected hour (the rule looks
    // back two readings) to the end of the last affected hour. `+r.project_id`
    // keeps the scope but steers SQLite to the per-point index: searching
    // the primary key by time would read every point's readings per point.
    // CROSS JOIN keeps `touched` the outer loop.
    sql.push_str(
        "SELECT t.point_id, (t.lo - 1) / 3600 * 3600, r.ts, r.value FROM touched t \
         CROSS JOIN readings r ON r.point_id = t.point_id \
          AND r.ts >= COALESCE((SELECT ts FROM readings WHERE point_id = t.point_id \
                                AND ts <= (t.lo - 1) / 3600 * 3600 ORDER BY ts DESC LIMIT 1 OFFSET 1), \
                               -9223372036854775808) \
          AND r.ts <= (COALESCE((SELECT ts FROM readings WHERE point_id = t.point_id \
                                AND ts > t.hi ORDER BY ts LIMIT 1 OFFSET 1), t.hi) - 1) / 3600 * 3600 + 3600 \
         WHERE +r.project_id = ? ORDER BY t.point_id, r.ts",
    );
    params.push(project_id.into());
    let rows = db.execute(&sql, &params)?;
    let mut hours = BTreeMap::new();
    let mut point_rows: Vec<(i64, f64)> = Vec::new();
    let mut current: Option<(i64, i64)> = None;
    let mut flush = |current: Option<(i64, i64)>, readings: &[(i64, f64)]| {
        if let Some((point, first_hour)) = current {
            for interval in intervals(readings) {
                if interval.end > first_hour {
                    hours
                        .entry((point, span_of(interval.end, HOUR)))
                        .and_modify(|tally: &mut Tally| tally.add(&interval))
                        .or_insert_with(|| Tally::new(&interval));
                }
            }
        }
    };
    for row in rows.iter() {
        let (point, first_hour) = (row.int(0)?, row.int(1)?);
        if current.is_some_and(|(id, _)| id != point) {
            flush(current, &point_rows);
            point_rows.clear();
        }
        current = Some((point, first_hour));
        point_rows.push((row.int(2)?, real(&row.0[3])?));
    }
    flush(current, &point_rows);
    Ok(hours)
}

/// What an upsert does to a rollup already stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Upsert {
    /// Replaces it: the tally is recomputed from every reading.
    Replace,
    /// Adds to it: the tally is of new intervals only.
    Add,
}

impl Upsert {
    fn on_conflict(self) -> &'static str {
        match self {
            Upsert::Replace => {
                " ON CONFLICT (project_id, point_id, span, start) DO UPDATE SET \
                 total = excluded.total, low = excluded.low, high = excluded.high, \
                 count = excluded.count, peak = excluded.peak, \
                 peak_start = excluded.peak_start, peak_end = excluded.peak_end"
            }
            // The added intervals come after the stored ones: of equal
            // peaks, the stored (earlier) one stays.
            Upsert::Add => {
                " ON CONFLICT (project_id, point_id, span, start) DO UPDATE SET \
                 total = interval_rollups.total + excluded.total, \
                 low = MIN(interval_rollups.low, excluded.low), \
                 high = MAX(interval_rollups.high, excluded.high), \
                 count = interval_rollups.count + excluded.count, \
                 peak_start = CASE WHEN excluded.peak > interval_rollups.peak \
                     THEN excluded.peak_start ELSE interval_rollups.peak_start END, \
                 peak_end = CASE WHEN excluded.peak > interval_rollups.peak \
                     THEN excluded.peak_end ELSE interval_rollups.peak_end END, \
                 peak = MAX(interval_rollups.peak, excluded.peak)"
            }
        }
    }
}

/// Stores `((point, span, start), tally)` rollups.
fn upsert(
    db: &dyn Sql,
    project_id: i64,
    rollups: &[((i64, i64, i64), Tally)],
    mode: Upsert,
) -> Result<(), ApiError> {
    for chunk in rollups.chunks(ROLLUPS_PER_UPSERT) {
        let mut sql = String::from(
            "INSERT INTO interval_rollups \
             (project_id, point_id, span, start, total, low, high, count, peak, peak_start, peak_end) \
             VALUES ",
        );
        let mut params = Vec::with_capacity(1 + chunk.len() * 10);
        params.push(project_id.into());
        for (index, &((point, span, start), tally)) in chunk.iter().enumerate() {
            sql.push_str(if index == 0 {
                "(?1,?,?,?,?,?,?,?,?,?,?)"
            } else {
                ",(?1,?,?,?,?,?,?,?,?,?,?)"
            });
            params.extend([
                point.into(),
                span.into(),
                start.into(),
                SqlValue::Real(tally.total),
                SqlValue::Real(tally.low),
                SqlValue::Real(tally.high),
                tally.count.into(),
                SqlValue::Real(tally.peak.demand),
                tally.peak.start.into(),
                tally.peak.end.into(),
            ]);
        }
        sql.push_str(mode.on_conflict());
        db.execute(&sql, &params)?;
    }
    Ok(())
}

/// Recomputes the blocks holding `hours` from the hour rollups.
fn refresh_blocks(
    db: &dyn Sql,
    project_id: i64,
    hours: &[((i64, i64, i64), Tally)],
) -> Result<(), ApiError> {
    let mut ranges: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for &((point, _, hour), _) in hours {
        let block = hour.div_euclid(BLOCK) * BLOCK;
        let range = ranges.entry(point).or_insert((block, block + BLOCK));
        range.0 = range.0.min(block);
        range.1 = range.1.max(block + BLOCK);
    }
    if ranges.is_empty() {
        return Ok(());
    }
    let ranges: Vec<(i64, i64, i64)> = ranges
        .into_iter()
        .map(|(point, (lo, hi))| (point, lo, hi))
        .collect();
    let (mut sql, mut params) = touched_table(&ranges);
    // CROSS JOIN: SQLite keeps `touched` as the outer loop (each point's
    // hours are then one primary-key range), where a plain join may scan
    // the project's rollups once per touched point.
    sql.push_str(&format!(
        "SELECT r.point_id, r.start, {TALLY_COLUMNS} \
         FROM touched t CROSS JOIN interval_rollups r ON r.project_id = ? \
          AND r.point_id = t.point_id AND r.span = 3600 AND r.start >= t.lo AND r.start < t.hi \
         ORDER BY r.point_id, r.start"
    ));
    params.push(project_id.into());
    let mut blocks: Vec<((i64, i64, i64), Tally)> = Vec::new();
    for row in db.execute(&sql, &params)?.iter() {
        let (point, hour, tally) = (row.int(0)?, row.int(1)?, tally_of(&row, 2)?);
        let key = (point, BLOCK, hour.div_euclid(BLOCK) * BLOCK);
        match blocks.last_mut() {
            Some((open, sum)) if *open == key => sum.merge(&tally),
            _ => blocks.push((key, tally)),
        }
    }
    upsert(db, project_id, &blocks, Upsert::Replace)
}

/// The columns of a rollup's [`Tally`], as [`tally_of`] reads them.
pub const TALLY_COLUMNS: &str = "r.total, r.low, r.high, r.count, r.peak, r.peak_start, r.peak_end";

/// The [`Tally`] in a row's columns from `first` on ([`TALLY_COLUMNS`]).
pub fn tally_of(row: &crate::storage::Row, first: usize) -> Result<Tally, ApiError> {
    Ok(Tally {
        total: real(&row.0[first])?,
        low: real(&row.0[first + 1])?,
        high: real(&row.0[first + 2])?,
        count: row.int(first + 3)?,
        peak: Peak {
            demand: real(&row.0[first + 4])?,
            start: row.int(first + 5)?,
            end: row.int(first + 6)?,
        },
    })
}

/// Where the intervals of a time range come from: whole rollups of a span,
/// or the raw readings (the partial hours at the edges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rollup(i64),
    Raw,
}

/// `[from, to)` as disjoint parts, coarsest first: whole blocks, whole
/// hours, raw readings at the edges.
pub fn decompose(from: i64, to: i64) -> Vec<(Source, i64, i64)> {
    fn split(from: i64, to: i64, spans: &[i64], parts: &mut Vec<(Source, i64, i64)>) {
        if from >= to {
            return;
        }
        let Some((&span, finer)) = spans.split_first() else {
            parts.push((Source::Raw, from, to));
            return;
        };
        let inner_from =
            from.div_euclid(span) * span + if from.rem_euclid(span) == 0 { 0 } else { span };
        let inner_to = to.div_euclid(span) * span;
        if inner_from >= inner_to {
            split(from, to, finer, parts);
            return;
        }
        parts.push((Source::Rollup(span), inner_from, inner_to));
        split(from, inner_from, finer, parts);
        split(inner_to, to, finer, parts);
    }
    let mut parts = Vec::new();
    split(from, to, &[BLOCK, HOUR], &mut parts);
    parts
}

/// Which points a chart reads: all of a project's, or some. Every chart
/// query walks the project's points (`CROSS JOIN` keeps them the outer
/// loop) and reads each point's own range of its primary key or index:
/// SQLite would otherwise scan all of the project's rollups or readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub project_id: ProjectId,
    /// Only these of the project's points (ids of other projects' points
    /// match nothing).
    pub points: Option<&'a [PointId]>,
}

impl Scope<'_> {
    /// ` WHERE p.project_id = ?N [AND p.id IN (?N+1, …)]`, its parameters
    /// appended to `params` (numbered from their position there).
    pub(crate) fn filter(&self, params: &mut Vec<SqlValue>) -> String {
        params.push(self.project_id.into());
        let mut sql = format!(" WHERE p.project_id = ?{}", params.len());
        if let Some(points) = self.points {
            sql.push_str(" AND p.id IN (");
            for (index, point) in points.iter().enumerate() {
                params.push((*point).into());
                let separator = if index == 0 { "" } else { ", " };
                sql.push_str(&format!("{separator}?{}", params.len()));
            }
            sql.push(')');
        }
        sql
    }
}

/// The time of the latest reading in scope, if any.
pub fn latest_time(db: &dyn Sql, scope: Scope) -> Result<Option<i64>, ApiError> {
    let mut params = Vec::new();
    let sql = format!(
        "SELECT MAX(r.ts) FROM points p CROSS JOIN readings r ON r.point_id = p.id{}",
        scope.filter(&mut params)
    );
    let rows = match scope.points {
        Some(_) => db.execute(&sql, &params)?,
        // The whole project: the primary key's first columns.
        None => db.execute(
            "SELECT MAX(ts) FROM readings WHERE project_id = ?",
            &[scope.project_id.into()],
        )?,
    };
    Ok(match rows.rows.first().and_then(|row| row.first()) {
        Some(SqlValue::Integer(ts)) => Some(*ts),
        _ => None,
    })
}

/// The intervals that end in `(from, to]` (read with the two readings at
/// or before `from` that the rule looks back to), per point in point order.
pub fn raw_intervals(
    db: &dyn Sql,
    scope: Scope,
    from: i64,
    to: i64,
) -> Result<Vec<(PointId, Interval)>, ApiError> {
    let mut params: Vec<SqlValue> = vec![from.into(), to.into()];
    let mut sql = String::from(
        "SELECT p.id, r.ts, r.value FROM points p \
         CROSS JOIN readings r ON r.point_id = p.id \
          AND r.ts >= COALESCE((SELECT ts FROM readings WHERE point_id = p.id AND ts <= ?1 \
                                ORDER BY ts DESC LIMIT 1 OFFSET 1), -9223372036854775808) \
          AND r.ts <= ?2",
    );
    sql.push_str(&scope.filter(&mut params));
    sql.push_str(" ORDER BY p.id, r.ts");
    let rows = db.execute(&sql, &params)?;
    let mut out = Vec::new();
    let mut readings: Vec<(i64, f64)> = Vec::new();
    let mut current: Option<PointId> = None;
    let flush = |point: Option<PointId>, readings: &[(i64, f64)], out: &mut Vec<_>| {
        if let Some(point) = point {
            for interval in intervals(readings) {
                if interval.end > from {
                    out.push((point, interval));
                }
            }
        }
    };
    for row in rows.iter() {
        let point = PointId::from_column(&row, 0)?;
        if current.is_some_and(|id| id != point) {
            flush(current, &readings, &mut out);
            readings.clear();
        }
        current = Some(point);
        readings.push((row.int(1)?, real(&row.0[2])?));
    }
    flush(current, &readings, &mut out);
    Ok(out)
}

/// Each point's consumption over `[from, to)`, the sum of the intervals of
/// its readings in it: exact, from whole blocks, whole hours and the raw
/// edges. Points without an interval in the window are absent.
pub fn window_totals(
    db: &dyn Sql,
    scope: Scope,
    from: i64,
    to: i64,
) -> Result<BTreeMap<PointId, f64>, ApiError> {
    let mut totals: BTreeMap<PointId, f64> = BTreeMap::new();
    for (source, part_from, part_to) in decompose(from, to) {
        match source {
            Source::Raw => {
                for (point, interval) in raw_intervals(db, scope, part_from, part_to)? {
                    *totals.entry(point).or_default() += interval.value;
                }
            }
            Source::Rollup(span) => {
                let mut params: Vec<SqlValue> = vec![span.into(), part_from.into(), part_to.into()];
                let mut sql = String::from(
                    "SELECT p.id, SUM(r.total) FROM points p \
                     CROSS JOIN interval_rollups r ON r.project_id = p.project_id AND r.point_id = p.id \
                      AND r.span = ?1 AND r.start >= ?2 AND r.start < ?3",
                );
                sql.push_str(&scope.filter(&mut params));
                sql.push_str(" GROUP BY p.id");
                for row in db.execute(&sql, &params)?.iter() {
                    *totals.entry(PointId::from_column(&row, 0)?).or_default() += real(&row.0[1])?;
                }
            }
        }
    }
    Ok(totals)
}

/// Windows up to this long are drawn from the raw readings (4 days of
/// 5-minute readings is 1,152 per point, about a pixel column each).
pub const RAW_WINDOW_SECONDS: i64 = 4 * 24 * HOUR;

/// Each point's intervals over `[from, to)` reduced to at most about
/// `columns` buckets (pixel columns), in point order. Each bucket keeps the
/// sum, smallest and largest of its intervals, so a single-interval spike
/// survives any reduction. Short windows come from the raw readings, long
/// ones from the rollups: hours, or blocks once a column is 6 hours wide.
pub fn interval_series(
    db: &dyn Sql,
    scope: Scope,
    from: i64,
    to: i64,
    columns: u32,
) -> Result<Vec<(PointId, Vec<Bucket>)>, ApiError> {
    let column = ((to - from) / i64::from(columns.max(1))).max(1);
    if to - from <= RAW_WINDOW_SECONDS {
        let intervals = raw_intervals(db, scope, from, to)?;
        let mut series: Vec<(PointId, Vec<Bucket>)> = Vec::new();
        for (
            point,
            Interval {
                previous,
                end: ts,
                value,
                ..
            },
        ) in intervals
        {
            if series.last().is_none_or(|(id, _)| *id != point) {
                series.push((point, Vec::new()));
            }
            let buckets = &mut series.last_mut().expect("pushed above").1;
            let index = (ts - 1 - from) / column;
            match buckets.last_mut() {
                Some(bucket) if (bucket.end - 1 - from) / column == index => {
                    bucket.end = ts;
                    bucket.total += value;
                    bucket.low = bucket.low.min(value);
                    bucket.high = bucket.high.max(value);
                    bucket.count += 1;
                }
                _ => buckets.push(Bucket {
                    start: previous,
                    end: ts,
                    total: value,
                    low: value,
                    high: value,
                    count: 1,
                }),
            }
        }
        return Ok(series);
    }
    // Columns a whole number of rollups wide, at least a pixel column.
    let whole = |span: i64| (column + span - 1) / span * span;
    let span = if whole(HOUR) >= BLOCK { BLOCK } else { HOUR };
    let width = whole(span);
    let first = from.div_euclid(span) * span;
    let mut params: Vec<SqlValue> = vec![first.into(), width.into(), span.into(), to.into()];
    let mut sql = String::from(
        "SELECT r.point_id, MIN(r.start), MAX(r.start) + ?3, SUM(r.total), MIN(r.low), \
                MAX(r.high), SUM(r.count) \
         FROM points p CROSS JOIN interval_rollups r ON r.project_id = p.project_id \
          AND r.point_id = p.id AND r.span = ?3 AND r.start >= ?1 AND r.start < ?4",
    );
    sql.push_str(&scope.filter(&mut params));
    sql.push_str(" GROUP BY r.point_id, (r.start - ?1) / ?2 ORDER BY r.point_id, MIN(r.start)");
    let rows = db.execute(&sql, &params)?;
    let mut series: Vec<(PointId, Vec<Bucket>)> = Vec::new();
    for row in rows.iter() {
        let point = PointId::from_column(&row, 0)?;
        if series.last().is_none_or(|(id, _)| *id != point) {
            series.push((point, Vec::new()));
        }
        series.last_mut().expect("pushed above").1.push(Bucket {
            start: row.int(1)?.max(from),
            end: row.int(2)?.min(to),
            total: real(&row.0[3])?,
            low: real(&row.0[4])?,
            high: real(&row.0[5])?,
            count: row.int(6)?.max(0) as u64,
        });
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::interval;

    #[test]
    fn intervals_never_go_negative_or_absurd() {
        assert_eq!(interval(&[]), None);
        assert_eq!(interval(&[5.0]), None);
        assert_eq!(interval(&[28540.24, 28540.74]), Some(28540.74 - 28540.24));
        assert_eq!(interval(&[1.0, 2.0, 2.5]), Some(0.5));
        // Reset, replacement or rollover: the drop itself counts 0 …
        assert_eq!(interval(&[100.0, 200.0, 3.0]), Some(0.0));
        // … and counting resumes from the new base.
        assert_eq!(interval(&[200.0, 3.0, 3.4]), Some(3.4 - 3.0));
        // A glitch to 0 and back: measured from the value before it.
        assert_eq!(interval(&[28540.0, 0.0]), Some(0.0));
        assert_eq!(interval(&[28540.0, 0.0, 28540.5]), Some(0.5));
        // Unchanged counter.
        assert_eq!(interval(&[7.0, 7.0, 7.0]), Some(0.0));
        // Absurd values stored before ingest bounded them: never Infinity.
        assert_eq!(interval(&[-1e308, 1e308]), Some(0.0));
        assert_eq!(interval(&[1e308, -1e308, 1e308]), Some(0.0));
    }
}
