//! `GET /usage`: per meter and per local hour, day, ISO week, month or
//! year of a range of local days, the energy used, the peak demand and
//! when it ran, and the coverage (intervals present ÷ expected), plus a
//! total per meter.
//!
//! Served from the interval rollups ([`crate::domain::readings`]): each
//! bucket is cut into whole 6-hour blocks, whole hours and, where a local
//! boundary falls inside a UTC hour (half-hour zones), the raw readings of
//! that part; the rollups are summed in SQL, one statement for all
//! buckets. A bucket `[start, end)` holds the intervals that end in
//! `(start, end]`, as the rollups' spans do: the energy from the reading
//! at its start to the reading at its end.

use crate::context::Ctx;
use crate::domain::accounts::Account;
use crate::domain::days;
use crate::domain::ids::PointId;
use crate::domain::points::{self, Point};
use crate::domain::readings::{self, Peak, Scope, Source, Tally, real};
use crate::domain::time::LocalClock;
use crate::domain::usage_days::{self, Kept};
use crate::error::ApiError;
use crate::format::csv::CsvWriter;
use crate::format::document::{
    Container, Document, DocumentWriter, Record, RecordHead, Scalar, Slot,
};
use crate::storage::{Row, Sql, SqlValue};
use jiff::civil::Date;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The most buckets one meter may have in one answer (a leap year of
/// hours, with room).
pub const MAX_BUCKETS: usize = 9_000;
/// The most rows (buckets × meters) one answer may have: a month of hours
/// of 130 meters, a year of days of 270.
pub const MAX_ROWS: usize = 100_000;

/// A bucket's tally as [`BucketTallies`] keeps it: what `/usage` shows of
/// a [`Tally`] (the total, the count and the peak; its low and high are
/// the total, as the rollups' sums give them), in 40 bytes where an
/// `Option<Tally>` takes 64. A count of 0 is a bucket without intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketCell {
    total: f64,
    demand: f64,
    peak_start: i64,
    peak_end: i64,
    count: i64,
}

impl BucketCell {
    /// A bucket without intervals.
    pub const EMPTY: BucketCell = BucketCell {
        total: 0.0,
        demand: 0.0,
        peak_start: 0,
        peak_end: 0,
        count: 0,
    };

    pub fn of(tally: &Tally) -> Self {
        BucketCell {
            total: tally.total,
            demand: tally.peak.demand,
            peak_start: tally.peak.start,
            peak_end: tally.peak.end,
            count: tally.count,
        }
    }

    /// The tally, `None` for a bucket without intervals.
    pub fn tally(&self) -> Option<Tally> {
        (self.count != 0).then_some(Tally {
            total: self.total,
            low: self.total,
            high: self.total,
            count: self.count,
            peak: Peak {
                demand: self.demand,
                start: self.peak_start,
                end: self.peak_end,
            },
        })
    }
}

/// Each point's tally per bucket of a fixed number of buckets; a bucket
/// without intervals has none. Dense (a row of buckets per point): a
/// month of hours of 100 meters is 74,400 cells, placed by index.
#[derive(Debug, Clone, Default)]
pub struct BucketTallies {
    buckets: usize,
    by_point: BTreeMap<PointId, Vec<BucketCell>>,
}

impl BucketTallies {
    /// None yet, of `buckets` buckets.
    pub fn new(buckets: usize) -> Self {
        BucketTallies {
            buckets,
            by_point: BTreeMap::new(),
        }
    }

    /// Of `buckets` buckets, each point's row of cells as given.
    pub fn from_rows(
        buckets: usize,
        rows: impl IntoIterator<Item = (PointId, Vec<BucketCell>)>,
    ) -> Self {
        BucketTallies {
            buckets,
            by_point: rows.into_iter().collect(),
        }
    }

    fn cell(&mut self, point: PointId, bucket: usize) -> Result<&mut BucketCell, ApiError> {
        let buckets = self.buckets;
        self.by_point
            .entry(point)
            .or_insert_with(|| vec![BucketCell::EMPTY; buckets])
            .get_mut(bucket)
            .ok_or_else(|| ApiError::internal(format!("bucket {bucket} of {buckets}")))
    }

    /// Puts `tally` in the bucket, replacing what was there.
    pub fn set(&mut self, point: PointId, bucket: usize, tally: Tally) -> Result<(), ApiError> {
        *self.cell(point, bucket)? = BucketCell::of(&tally);
        Ok(())
    }

    /// Adds `tally` to what the bucket holds.
    pub fn add(&mut self, point: PointId, bucket: usize, tally: Tally) -> Result<(), ApiError> {
        let cell = self.cell(point, bucket)?;
        let mut sum = cell.tally().unwrap_or(tally);
        if cell.count != 0 {
            sum.merge(&tally);
        }
        *cell = BucketCell::of(&sum);
        Ok(())
    }

    pub fn get(&self, point: PointId, bucket: usize) -> Option<Tally> {
        self.by_point.get(&point)?.get(bucket)?.tally()
    }

    /// The point's cells, one per bucket, taken out.
    pub fn take(&mut self, point: PointId) -> Vec<BucketCell> {
        self.by_point
            .remove(&point)
            .unwrap_or_else(|| vec![BucketCell::EMPTY; self.buckets])
    }

    /// Every tally with its point and bucket, in that order.
    pub fn iter(&self) -> impl Iterator<Item = ((PointId, usize), Tally)> + '_ {
        self.by_point.iter().flat_map(|(&point, row)| {
            row.iter()
                .enumerate()
                .filter_map(move |(bucket, cell)| Some(((point, bucket), cell.tally()?)))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// Equal when they hold the same tallies in the same cells (a point
/// whose cells are all empty is as good as no row for it).
impl PartialEq for BucketTallies {
    fn eq(&self, other: &Self) -> bool {
        self.buckets == other.buckets && self.iter().eq(other.iter())
    }
}

/// The length of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hour,
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    Year,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Hour, Step::Day, Step::Week, Step::Month, Step::Year];

    pub fn name(self) -> &'static str {
        match self {
            Step::Hour => "hour",
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
            Step::Year => "year",
        }
    }

    /// The step `interval=` names (exactly, in lower case).
    pub fn parse(text: &str) -> Result<Step, ApiError> {
        Step::ALL
            .into_iter()
            .find(|step| step.name() == text)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "interval must be hour, day, week, month or year, not {text:?}"
                ))
            })
    }
}

/// What a usage answer is of.
pub struct UsageRequest<'a> {
    /// The first and last local day, both included ([`days::range`]).
    pub days: (Date, Date),
    pub step: Step,
    /// One point by name, or every point of the project.
    pub meter: Option<&'a str>,
}

/// The local boundaries of the buckets of `step` over local days `first`
/// to `last`: `[start of first, …, start of the day after last]`, each
/// bucket `[b[i], b[i+1])`. The first and last buckets are cut at the
/// range (a week that starts before `first` starts at `first`).
pub fn boundaries(
    clock: &LocalClock,
    first: Date,
    last: Date,
    step: Step,
) -> Result<Vec<i64>, ApiError> {
    let (start, end) = days::instants(clock, first, last)?;
    let too_many = || {
        ApiError::bad_request(format!(
            "{} to {} has more than {MAX_BUCKETS} buckets of one {}; ask for fewer days or a longer interval",
            first,
            last,
            step.name()
        ))
    };
    let mut bounds = vec![start];
    match step {
        Step::Hour => {
            if (end - start) / 3600 > MAX_BUCKETS as i64 {
                return Err(too_many());
            }
            // Every quarter hour (all zones' offsets are whole quarter
            // hours) that starts a local hour: 23 or 25 a DST day, and the
            // right ones where the offset has half or three quarters of an
            // hour, or DST moves it by half an hour.
            let mut at = start + 900;
            while at < end {
                let local = jiff::Timestamp::from_second(at)
                    .map_err(|error| ApiError::bad_request(error.to_string()))?
                    .to_zoned(clock.zone().clone());
                if local.minute() == 0 && local.second() == 0 {
                    bounds.push(at);
                }
                at += 900;
            }
        }
        Step::Day | Step::Week | Step::Month | Step::Year => {
            let mut day = first;
            loop {
                let next = match step {
                    Step::Day => day.tomorrow(),
                    Step::Week => day.checked_add(
                        jiff::Span::new()
                            .days(7 - i64::from(day.weekday().to_monday_zero_offset())),
                    ),
                    Step::Month => day
                        .first_of_month()
                        .checked_add(jiff::Span::new().months(1)),
                    Step::Year => day.first_of_year().checked_add(jiff::Span::new().years(1)),
                    Step::Hour => unreachable!("hours are handled above"),
                };
                match next {
                    Ok(next) if next <= last => {
                        bounds.push(clock.start_of_day(next).map_err(ApiError::bad_request)?);
                        day = next;
                    }
                    _ => break,
                }
                if bounds.len() > MAX_BUCKETS {
                    return Err(too_many());
                }
            }
        }
    }
    bounds.push(end);
    Ok(bounds)
}

/// One meter's usage in one bucket (or over the range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketUsage {
    pub start: i64,
    pub end: i64,
    /// The intervals in it; `None` when there are none.
    pub tally: Option<Tally>,
}

/// What [`usage`] found: the buckets' bounds, which every meter shares,
/// and each meter's usage in them.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// `[start of the first bucket, …, end of the last]`.
    pub bounds: Vec<i64>,
    pub meters: Vec<MeterUsage>,
}

/// One meter's usage: a cell per bucket of [`Usage::bounds`] and the
/// total over them.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterUsage {
    pub point: Point,
    cells: Vec<BucketCell>,
    /// The range's intervals; `None` when there are none.
    pub total: Option<Tally>,
}

impl MeterUsage {
    /// `point`'s usage of the buckets its `cells` are of, one each.
    pub fn new(point: Point, cells: Vec<BucketCell>) -> Self {
        let mut total: Option<Tally> = None;
        for tally in cells.iter().filter_map(BucketCell::tally) {
            match &mut total {
                Some(sum) => sum.merge(&tally),
                None => total = Some(tally),
            }
        }
        MeterUsage {
            point,
            cells,
            total,
        }
    }

    /// Its usage per bucket of `bounds` (its [`Usage::bounds`]).
    pub fn buckets<'a>(&'a self, bounds: &'a [i64]) -> impl Iterator<Item = BucketUsage> + 'a {
        bounds
            .windows(2)
            .zip(&self.cells)
            .map(|(pair, cell)| BucketUsage {
                start: pair[0],
                end: pair[1],
                tally: cell.tally(),
            })
    }
}

/// The usage the request asks for, of the caller's project: 404 for a
/// meter the project does not have, 400 for an answer too large.
pub fn usage(ctx: &Ctx, account: &Account, asked: &UsageRequest) -> Result<Usage, ApiError> {
    let db = ctx.db()?;
    let project_id = account.project_id;
    let chosen: Vec<Point> = match asked.meter {
        Some(name) => vec![
            points::by_name(db, project_id, name)?
                .ok_or_else(|| ApiError::not_found(format!("no metering point named {name:?}")))?,
        ],
        None => points::all(db, project_id)?,
    };
    let clock = LocalClock::new(&account.timezone);
    let bounds = boundaries(&clock, asked.days.0, asked.days.1, asked.step)?;
    let buckets = bounds.len() - 1;
    if buckets.saturating_mul(chosen.len()) > MAX_ROWS {
        return Err(ApiError::bad_request(format!(
            "{buckets} buckets × {} meters is more than {MAX_ROWS} rows; ask for fewer days, a longer interval or one meter",
            chosen.len()
        )));
    }
    let ids: Vec<PointId> = chosen.iter().map(|point| point.id).collect();
    let scope = Scope {
        project_id,
        points: asked.meter.map(|_| &ids[..]),
    };
    let mut by_point = tallies(db, scope, &ids, &clock, asked, &bounds)?;
    let meters = chosen
        .into_iter()
        .map(|point| {
            let cells = by_point.take(point.id);
            MeterUsage::new(point, cells)
        })
        .collect();
    Ok(Usage { bounds, meters })
}

/// Each point's tally per bucket of `asked` (`(point, bucket index) →
/// tally`), of `points` (all in `scope`), the buckets' bounds being
/// `bounds` ([`boundaries`]): hours from the stored hours, longer buckets
/// from the stored local days ([`usage_days`]), either computed from the
/// rollups ([`bucket_tallies`]) when too many are missing.
pub fn tallies(
    db: &dyn Sql,
    scope: Scope,
    points: &[PointId],
    clock: &LocalClock,
    asked: &UsageRequest,
    bounds: &[i64],
) -> Result<BucketTallies, ApiError> {
    if asked.step == Step::Hour {
        return match usage_days::tallies(db, scope, points, bounds, Kept::Hours)? {
            Some(hours) => Ok(hours),
            None => bucket_tallies(db, scope, bounds),
        };
    }
    let days = match asked.step {
        Step::Day => bounds.to_vec(),
        _ => boundaries(clock, asked.days.0, asked.days.1, Step::Day)?,
    };
    match usage_days::tallies(db, scope, points, &days, Kept::Days)? {
        Some(by_day) => fold_days(by_day, &days, bounds),
        None => bucket_tallies(db, scope, bounds),
    }
}

/// Day tallies summed into the buckets `[bounds[i], bounds[i+1])`, each
/// a whole number of the days `[days[j], days[j+1])` (both start at the
/// first day and end after the last).
fn fold_days(
    by_day: BucketTallies,
    days: &[i64],
    bounds: &[i64],
) -> Result<BucketTallies, ApiError> {
    if days == bounds {
        return Ok(by_day);
    }
    // The bucket of each day: the last bound at or before its start.
    let bucket_of: Vec<usize> = days[..days.len() - 1]
        .iter()
        .map(|start| bounds.partition_point(|bound| bound <= start) - 1)
        .collect();
    let mut tallies = BucketTallies::new(bounds.len() - 1);
    for ((point, day), tally) in by_day.iter() {
        tallies.add(point, bucket_of[day], tally)?;
    }
    Ok(tallies)
}

/// Each point's tally per bucket (`(point, bucket index) → tally`), of the
/// buckets `[bounds[i], bounds[i+1])`: whole rollups summed in SQL, raw
/// readings for the parts shorter than an hour.
pub fn bucket_tallies(
    db: &dyn Sql,
    scope: Scope,
    bounds: &[i64],
) -> Result<BucketTallies, ApiError> {
    if let Some(tallies) = whole_hour_tallies(db, scope, bounds)? {
        return Ok(tallies);
    }
    let mut rollup_parts = String::new();
    let mut raw_parts: Vec<(usize, i64, i64)> = Vec::new();
    for (index, pair) in bounds.windows(2).enumerate() {
        for (source, from, to) in readings::decompose(pair[0], pair[1]) {
            match source {
                Source::Rollup(span) => {
                    let separator = if rollup_parts.is_empty() { "" } else { "," };
                    // Our own integers: written into the statement, which
                    // keeps a year of parts far below the parameter limit.
                    let _ = write!(rollup_parts, "{separator}({index},{span},{from},{to})");
                }
                Source::Raw => raw_parts.push((index, from, to)),
            }
        }
    }
    let mut tallies = BucketTallies::new(bounds.len().saturating_sub(1));
    if !rollup_parts.is_empty() {
        let mut params: Vec<SqlValue> = Vec::new();
        // One MIN()/MAX() aggregate: SQLite takes the bare peak_start and
        // peak_end from the row with the largest peak.
        let mut sql = format!(
            "WITH parts(bucket, span, lo, hi) AS (VALUES {rollup_parts}) \
             SELECT p.id, parts.bucket, SUM(r.total), SUM(r.count), \
                    MAX(r.peak), r.peak_start, r.peak_end \
             FROM points p CROSS JOIN parts CROSS JOIN interval_rollups r \
              ON r.project_id = p.project_id AND r.point_id = p.id AND r.span = parts.span \
              AND r.start >= parts.lo AND r.start < parts.hi"
        );
        sql.push_str(&scope.filter(&mut params));
        sql.push_str(" GROUP BY p.id, parts.bucket");
        for row in db.execute(&sql, &params)?.iter() {
            let point = PointId::from_column(&row, 0)?;
            let bucket = usize::try_from(row.int(1)?)
                .map_err(|_| ApiError::internal("a negative bucket"))?;
            tallies.add(point, bucket, usage_tally(&row, 2)?)?;
        }
    }
    for (bucket, from, to) in raw_parts {
        for (point, interval) in readings::raw_intervals(db, scope, from, to)? {
            tallies.add(point, bucket, Tally::new(&interval))?;
        }
    }
    Ok(tallies)
}

/// When every bucket is one whole UTC hour (hours of a zone whose offset
/// is whole hours), each is one hour rollup: they are read in one range
/// of each point's rollups, with no sum and no sort. `None` otherwise.
fn whole_hour_tallies(
    db: &dyn Sql,
    scope: Scope,
    bounds: &[i64],
) -> Result<Option<BucketTallies>, ApiError> {
    let (Some(&first), Some(&last)) = (bounds.first(), bounds.last()) else {
        return Ok(None);
    };
    let hourly = first.rem_euclid(readings::HOUR) == 0
        && bounds
            .windows(2)
            .all(|pair| pair[1] - pair[0] == readings::HOUR);
    if !hourly {
        return Ok(None);
    }
    let mut params: Vec<SqlValue> = vec![readings::HOUR.into(), first.into(), last.into()];
    let mut sql = String::from(
        "SELECT p.id, r.start, r.total, r.count, r.peak, r.peak_start, r.peak_end \
         FROM points p CROSS JOIN interval_rollups r \
         ON r.project_id = p.project_id AND r.point_id = p.id AND r.span = ?1 \
         AND r.start >= ?2 AND r.start < ?3",
    );
    sql.push_str(&scope.filter(&mut params));
    let mut tallies = BucketTallies::new(bounds.len() - 1);
    for row in db.execute(&sql, &params)?.iter() {
        let point = PointId::from_column(&row, 0)?;
        let bucket = usize::try_from((row.int(1)? - first) / readings::HOUR)
            .map_err(|_| ApiError::internal("an hour before the range"))?;
        tallies.set(point, bucket, usage_tally(&row, 2)?)?;
    }
    Ok(Some(tallies))
}

/// The tally in a row's columns from `first` on: total, count, peak
/// demand, its start and end (what /usage shows; low and high are the
/// total).
pub(crate) fn usage_tally(row: &Row, first: usize) -> Result<Tally, ApiError> {
    let total = real(&row.0[first])?;
    Ok(Tally {
        total,
        low: total,
        high: total,
        count: row.int(first + 1)?,
        peak: Peak {
            demand: real(&row.0[first + 2])?,
            start: row.int(first + 3)?,
            end: row.int(first + 4)?,
        },
    })
}

/// The unit demand is shown in for a point whose energy is in `unit`,
/// and the factor from "`unit` per hour" to it: kW for Wh, kWh and MWh
/// (likewise kvar, kVA), "`unit`/h" otherwise.
pub fn demand_unit(unit: Option<&str>) -> (Option<String>, f64) {
    let Some(unit) = unit else {
        return (None, 1.0);
    };
    for (prefix, factor) in [("M", 1000.0), ("k", 1.0), ("", 0.001)] {
        for (energy, power) in [("Wh", "kW"), ("varh", "kvar"), ("VAh", "kVA")] {
            if unit == format!("{prefix}{energy}") {
                return (Some(power.to_owned()), factor);
            }
        }
    }
    (Some(format!("{unit}/h")), 1.0)
}

/// Intervals a meter read every `cadence` seconds should have given in
/// `[start, end)`, counted up to `now` (a bucket still running expects
/// what has passed); `None` when nothing is expected yet.
fn expected_intervals(start: i64, end: i64, now: i64, cadence: i64) -> Option<i64> {
    let elapsed = end.min(now) - start;
    (elapsed >= cadence).then(|| elapsed / cadence.max(1))
}

/// What every row of one meter shares, worked out once per meter.
struct MeterTerms {
    demand_unit: Option<String>,
    /// From "unit per hour" to `demand_unit`.
    factor: f64,
    cadence: i64,
    /// Coverage is shown only for a point with a `SaveEvery`.
    has_save_every: bool,
}

impl MeterTerms {
    fn of(point: &Point) -> Self {
        let (demand_unit, factor) = demand_unit(point.config.unit.as_deref());
        MeterTerms {
            demand_unit,
            factor,
            cadence: point.brief().cadence_seconds(),
            has_save_every: point.config.save_every.is_some(),
        }
    }
}

/// A bucket's (and a total's) row.
static ROW: Record = Record::new(&ROW_FIELDS);

/// The fields of a bucket's (and a total's) row, in the answer's order.
const ROW_FIELDS: [&str; 9] = [
    "Start",
    "End",
    "Energy",
    "PeakDemand",
    "PeakStart",
    "PeakEnd",
    "Intervals",
    "Coverage",
    "DemandUnit",
];

/// The `/usage` answer: what [`usage`] found, with what its rows share
/// worked out once (each meter's terms, the buckets' bounds as local
/// times). Written straight into the negotiated format
/// ([`Document`]), or as CSV ([`UsageReport::to_csv`]): a year of days of
/// 100 meters is 36,600 rows.
pub struct UsageReport {
    timezone: String,
    /// The zone's clock, for the peaks' times (made once: a zone's lookup
    /// costs more than a part of the answer).
    clock: LocalClock,
    step: Step,
    days: (Date, Date),
    now: i64,
    meters: Vec<(MeterUsage, MeterTerms)>,
    /// Every bucket bound ([`Usage::bounds`]).
    bounds: Vec<i64>,
    /// Per bucket, then for the total, its row's first cells: its start
    /// and end as local time (the same for every meter).
    heads: Vec<RecordHead>,
}

/// Two reused strings for a row's peak times.
#[derive(Default)]
struct PeakTexts {
    start: String,
    end: String,
}

impl UsageReport {
    pub fn new(usage: Usage, timezone: &str, asked: &UsageRequest, now: i64) -> Self {
        let clock = LocalClock::new(timezone);
        let texts: Vec<String> = usage
            .bounds
            .iter()
            .map(|&ts| {
                let mut text = String::with_capacity(19);
                clock.write(ts, &mut text);
                text
            })
            .collect();
        let head = |start: &str, end: &str| {
            RecordHead::new([Scalar::LocalDateTime(start), Scalar::LocalDateTime(end)])
        };
        let heads = texts
            .windows(2)
            .map(|pair| head(&pair[0], &pair[1]))
            .chain(
                texts
                    .first()
                    .zip(texts.last())
                    .map(|(first, last)| head(first, last)),
            )
            .collect();
        UsageReport {
            clock,
            timezone: timezone.to_owned(),
            step: asked.step,
            days: asked.days,
            now,
            meters: usage
                .meters
                .into_iter()
                .map(|meter| {
                    let terms = MeterTerms::of(&meter.point);
                    (meter, terms)
                })
                .collect(),
            bounds: usage.bounds,
            heads,
        }
    }

    /// The cells of a row of [`ROW_FIELDS`] after its head (its bounds,
    /// [`Self::rows`]), of the bucket `[start, end)`.
    fn cells<'a>(
        &self,
        bucket: &BucketUsage,
        terms: &'a MeterTerms,
        clock: &LocalClock,
        peak_texts: &'a mut PeakTexts,
    ) -> [Scalar<'a>; 7] {
        let expected = expected_intervals(bucket.start, bucket.end, self.now, terms.cadence);
        let count = bucket.tally.map_or(0, |tally| tally.count);
        let coverage = match expected {
            Some(expected) if terms.has_save_every => {
                Scalar::Float((count as f64 / expected as f64).min(1.0))
            }
            _ => Scalar::Null,
        };
        let demand_unit = Scalar::optional_str(terms.demand_unit.as_deref());
        let Some(tally) = &bucket.tally else {
            return [
                Scalar::Null,
                Scalar::Null,
                Scalar::Null,
                Scalar::Null,
                Scalar::Int(count),
                coverage,
                demand_unit,
            ];
        };
        let PeakTexts { start, end } = peak_texts;
        start.clear();
        clock.write(tally.peak.start, start);
        end.clear();
        clock.write(tally.peak.end, end);
        [
            Scalar::Float(tally.total),
            Scalar::Float(tally.peak.demand * terms.factor),
            Scalar::LocalDateTime(start),
            Scalar::LocalDateTime(end),
            Scalar::Int(count),
            coverage,
            demand_unit,
        ]
    }

    /// Each meter's rows: its buckets, then its total (`true`), with their
    /// heads (their bounds as local time).
    fn rows<'a>(
        &'a self,
        meter: &'a MeterUsage,
    ) -> impl Iterator<Item = (BucketUsage, &'a RecordHead, bool)> {
        let total = BucketUsage {
            start: self.bounds.first().copied().unwrap_or_default(),
            end: self.bounds.last().copied().unwrap_or_default(),
            tally: meter.total,
        };
        let buckets = meter.buckets(&self.bounds).zip(&self.heads);
        let total = self.heads.last().map(|head| (total, head));
        buckets
            .map(|(bucket, head)| (bucket, head, false))
            .chain(total.map(|(total, head)| (total, head, true)))
    }

    /// The answer as CSV: a header, then per meter one row per bucket and
    /// one total row (`Row` says which). Text cells are neutralised
    /// against formula injection as the exports' are.
    pub fn to_csv(&self) -> Vec<u8> {
        let clock = &self.clock;
        let mut peak_texts = PeakTexts::default();
        let mut out = Vec::new();
        let mut writer = CsvWriter::new();
        writer.header_of(
            &[
                "MeterId",
                "Row",
                "Start",
                "End",
                "Energy",
                "Unit",
                "PeakDemand",
                "DemandUnit",
                "PeakStart",
                "PeakEnd",
                "Intervals",
                "Coverage",
            ],
            &mut out,
        );
        for (meter, terms) in &self.meters {
            let unit = Scalar::Str(meter.point.config.unit.as_deref().unwrap_or(""));
            for (bucket, head, is_total) in self.rows(meter) {
                let mut bounds = head.scalars();
                let (start, end) = (
                    bounds.next().unwrap_or(Scalar::Null),
                    bounds.next().unwrap_or(Scalar::Null),
                );
                let [
                    energy,
                    peak,
                    peak_start,
                    peak_end,
                    count,
                    coverage,
                    demand_unit,
                ] = self.cells(&bucket, terms, clock, &mut peak_texts);
                for cell in [
                    Scalar::Str(&meter.point.name),
                    Scalar::Str(if is_total { "total" } else { "bucket" }),
                    start,
                    end,
                    energy,
                    unit,
                    peak,
                    demand_unit,
                    peak_start,
                    peak_end,
                    count,
                    coverage,
                ] {
                    writer.cell(cell);
                }
                writer.end_record(&mut out);
            }
        }
        out
    }
}

/// About how many bytes of JSON a part of the `/usage` answer takes (a
/// host sends each before the next is written): a meter's rows, or as
/// many meters as make this much.
const PART_BYTES: usize = 64 * 1024;

/// About how many bytes a row of the answer takes: about 240 in JSON
/// (500 in XML).
const ROW_BYTES: usize = 256;

impl UsageReport {
    /// How many meters each part of the answer holds.
    fn meters_per_part(&self) -> usize {
        (PART_BYTES / (self.heads.len().max(1) * ROW_BYTES)).max(1)
    }

    fn write_head(&self, out: &mut dyn DocumentWriter) {
        let (first, last) = (self.days.0.to_string(), self.days.1.to_string());
        out.open(Slot::Root, Container::Dict);
        out.scalar(Slot::Field("TimeZone"), Scalar::Str(&self.timezone));
        out.scalar(Slot::Field("Interval"), Scalar::Str(self.step.name()));
        out.scalar(Slot::Field("Start"), Scalar::Str(&first));
        out.scalar(Slot::Field("End"), Scalar::Str(&last));
        out.open(Slot::Field("Meters"), Container::List);
    }

    fn write_meter(&self, meter: &MeterUsage, terms: &MeterTerms, out: &mut dyn DocumentWriter) {
        let mut peak_texts = PeakTexts::default();
        let config = &meter.point.config;
        out.open(Slot::Item, Container::Dict);
        out.scalar(Slot::Field("MeterId"), Scalar::Str(&meter.point.name));
        out.scalar(
            Slot::Field("Unit"),
            Scalar::optional_str(config.unit.as_deref()),
        );
        out.scalar(
            Slot::Field("DemandUnit"),
            Scalar::optional_str(terms.demand_unit.as_deref()),
        );
        out.scalar(
            Slot::Field("SaveEvery"),
            Scalar::optional_int(config.save_every),
        );
        out.open(Slot::Field("Buckets"), Container::List);
        for (bucket, head, is_total) in self.rows(meter) {
            let slot = if is_total {
                out.close(Slot::Field("Buckets"), Container::List);
                Slot::Field("Total")
            } else {
                Slot::Item
            };
            let cells = self.cells(&bucket, terms, &self.clock, &mut peak_texts);
            out.record_after(slot, &ROW, head, &cells);
        }
        out.close(Slot::Item, Container::Dict);
    }

    fn write_tail(&self, out: &mut dyn DocumentWriter) {
        out.close(Slot::Field("Meters"), Container::List);
        out.close(Slot::Root, Container::Dict);
    }
}

impl Document for UsageReport {
    fn write(&self, out: &mut dyn DocumentWriter) {
        for index in 0..self.parts() {
            self.write_part(index, out);
        }
    }

    fn size_hint(&self) -> usize {
        let rows: usize = self
            .meters
            .iter()
            .map(|(meter, _)| meter.cells.len() + 1)
            .sum();
        256 + rows * ROW_BYTES
    }

    /// Some meters each ([`PART_BYTES`]); the first part opens the
    /// answer, the last closes it.
    fn parts(&self) -> usize {
        self.meters.len().div_ceil(self.meters_per_part()).max(1)
    }

    fn write_part(&self, index: usize, out: &mut dyn DocumentWriter) {
        if index == 0 {
            self.write_head(out);
        }
        let per_part = self.meters_per_part();
        for (meter, terms) in self.meters.iter().skip(index * per_part).take(per_part) {
            self.write_meter(meter, terms, out);
        }
        if index + 1 >= self.parts() {
            self.write_tail(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn buckets_follow_local_days_weeks_months_and_dst() {
        let paris = LocalClock::new("Europe/Paris");
        // 2019-10-27: 25 hours in Paris.
        let hours = boundaries(&paris, day("2019-10-27"), day("2019-10-27"), Step::Hour).unwrap();
        assert_eq!(hours.len() - 1, 25);
        let spring = boundaries(&paris, day("2019-03-31"), day("2019-03-31"), Step::Hour).unwrap();
        assert_eq!(spring.len() - 1, 23);
        let kolkata = LocalClock::new("Asia/Kolkata");
        let hours = boundaries(&kolkata, day("2019-10-27"), day("2019-10-28"), Step::Hour).unwrap();
        assert_eq!(hours.len() - 1, 48);
        assert!(hours.iter().all(|ts| ts.rem_euclid(3600) == 1800));
        // Weeks start on Monday: Wed 2019-10-02 .. Tue 2019-10-15 is
        // Wed–Sun, Mon–Sun, Mon–Tue.
        let utc = LocalClock::new("UTC");
        let weeks = boundaries(&utc, day("2019-10-02"), day("2019-10-15"), Step::Week).unwrap();
        let days: Vec<i64> = weeks.windows(2).map(|w| (w[1] - w[0]) / 86_400).collect();
        assert_eq!(days, [5, 7, 2]);
        let months = boundaries(&utc, day("2019-01-15"), day("2019-03-31"), Step::Month).unwrap();
        let days: Vec<i64> = months.windows(2).map(|w| (w[1] - w[0]) / 86_400).collect();
        assert_eq!(days, [17, 28, 31]);
        let years = boundaries(&utc, day("2019-12-31"), day("2020-01-01"), Step::Year).unwrap();
        assert_eq!(years.len() - 1, 2);
        let too_many = boundaries(&utc, day("2019-01-01"), day("2020-12-31"), Step::Hour);
        assert_eq!(too_many.unwrap_err().status(), 400);
    }

    #[test]
    fn demand_is_in_kilowatts_for_energy_units() {
        assert_eq!(demand_unit(Some("kWh")), (Some("kW".into()), 1.0));
        assert_eq!(demand_unit(Some("Wh")), (Some("kW".into()), 0.001));
        assert_eq!(demand_unit(Some("MWh")), (Some("kW".into()), 1000.0));
        assert_eq!(demand_unit(Some("kvarh")), (Some("kvar".into()), 1.0));
        assert_eq!(demand_unit(Some("m³")), (Some("m³/h".into()), 1.0));
        assert_eq!(demand_unit(None), (None, 1.0));
    }

    /// A report of `meters` meters' hours over local days `first` to
    /// `last` in Paris, every other bucket with intervals.
    fn hours_report(meters: i64, first: &str, last: &str) -> UsageReport {
        let clock = LocalClock::new("Europe/Paris");
        let (first, last) = (day(first), day(last));
        let bounds = boundaries(&clock, first, last, Step::Hour).unwrap();
        let meters = (1..=meters)
            .map(|id| {
                let cells = bounds
                    .windows(2)
                    .enumerate()
                    .map(|(index, pair)| {
                        let tally = Tally {
                            total: index as f64 * 0.1,
                            low: 0.0,
                            high: 1.0,
                            count: 12,
                            peak: Peak {
                                demand: 1.5,
                                start: pair[0],
                                end: pair[0] + 300,
                            },
                        };
                        if index % 2 == 0 {
                            BucketCell::of(&tally)
                        } else {
                            BucketCell::EMPTY
                        }
                    })
                    .collect();
                let point = Point {
                    id: PointId(id),
                    name: format!("m\"{id}<"),
                    config: Default::default(),
                };
                MeterUsage::new(point, cells)
            })
            .collect();
        let usage = Usage { bounds, meters };
        let asked = UsageRequest {
            days: (first, last),
            step: Step::Hour,
            meter: None,
        };
        UsageReport::new(usage, "Europe/Paris", &asked, 1_600_000_000)
    }

    /// A large answer goes out in parts of some meters each, which make
    /// the whole answer in JSON and in XML; a small one is one part.
    #[test]
    fn a_large_report_is_written_in_parts_that_make_it() {
        for (meters, first, last, parts) in [
            (10, "2019-10-29", "2019-11-02", 5),
            (3, "2019-10-01", "2019-10-31", 3),
            (7, "2019-10-29", "2019-10-29", 1),
            (0, "2019-10-29", "2019-11-02", 1),
        ] {
            let report = hours_report(meters, first, last);
            assert_eq!(report.parts(), parts, "{meters} meters, {first} to {last}");
            for format in [Format::Json, Format::Xml] {
                let whole = format.write(&report);
                let mut stream = crate::format::DocumentParts::new(
                    format,
                    Box::new(hours_report(meters, first, last)),
                );
                let mut sent = Vec::new();
                while let Some(part) = stream.next_part() {
                    sent.extend_from_slice(&part);
                }
                assert_eq!(sent, whole, "{meters} meters, {format:?}");
            }
            let json: serde_json::Value =
                serde_json::from_slice(&Format::Json.write(&report)).unwrap();
            assert_eq!(
                json["Meters"].as_array().map(Vec::len),
                Some(meters as usize)
            );
        }
    }

    #[test]
    fn expected_intervals_count_only_what_has_passed() {
        assert_eq!(expected_intervals(0, 86_400, 1_000_000, 300), Some(288));
        assert_eq!(expected_intervals(0, 86_400, 3_600, 300), Some(12));
        assert_eq!(expected_intervals(0, 86_400, 100, 300), None);
        assert_eq!(expected_intervals(100, 200, 0, 300), None);
    }
}
