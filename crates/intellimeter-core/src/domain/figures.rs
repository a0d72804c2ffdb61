//! The figures of `/graphics` and `/series`: the project's consumption
//! over a window as pie or bar shares, or as lines per interval, from the
//! reduced data of [`crate::domain::readings`] (`interval_series`,
//! `window_totals`), so drawing a year costs about what drawing a day
//! does. Plain data for the `charts` crate: any backend draws it.
//!
//! A line chart shows energy per interval, or with [`Quantity::Demand`]
//! each interval's energy over its duration (kW for kWh): what an energy
//! manager reads off a day, and comparable across meters whatever their
//! cadence. Demand is read from the raw readings, so its window is short
//! ([`DEMAND_WINDOW_SECONDS`]).

use crate::context::Ctx;
use crate::domain::accounts::Account;
use crate::domain::days::instants;
use crate::domain::ids::PointId;
use crate::domain::points;
use crate::domain::readings::{self, Scope};
use crate::domain::time::LocalClock;
use crate::domain::usage::demand_unit;
use crate::error::ApiError;
use charts::{Bucket, Chart, Figure, LineChart, Series, Share, Tick};
use jiff::civil::Date;
use std::collections::HashMap;

const DAY: i64 = 86_400;
const NO_READINGS: &str = "No readings in this window";
/// The most lines a chart of all points draws: the largest consumers.
pub const MAX_LINE_SERIES: usize = 20;
/// The longest window a demand line may show: four days and a DST hour
/// (demand comes from the raw readings, not the rollups).
pub const DEMAND_WINDOW_SECONDS: i64 = 4 * DAY + 3_600;

/// What a figure shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pie,
    Bar,
    Line,
}

/// What a line's values are.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantity {
    /// Energy per interval (the register's difference), as `/interval`.
    #[default]
    Energy,
    /// Each interval's energy over its duration, per hour, in the point's
    /// demand unit (`/usage`'s `DemandUnit`: kW for kWh). A bucket's `low`
    /// and `high` are its smallest and largest interval demand; its
    /// `total` stays its energy.
    Demand,
}

impl Quantity {
    /// `energy` (the default) or `demand`; 400 otherwise.
    pub fn parse(text: Option<&str>) -> Result<Quantity, ApiError> {
        match text {
            None | Some("energy") => Ok(Quantity::Energy),
            Some("demand") => Ok(Quantity::Demand),
            Some(other) => Err(ApiError::bad_request(format!(
                "quantity must be energy or demand, not {other:?}"
            ))),
        }
    }
}

/// A figure as asked for.
pub struct FigureRequest<'a> {
    /// Pie, bar or line; a `meter` is always drawn as its line.
    pub kind: Kind,
    /// One point by name (404 when the project has none of that name).
    pub meter: Option<&'a str>,
    /// Local days (first, last); `None`: the 24 hours ending at the latest
    /// reading.
    pub days: Option<(Date, Date)>,
    /// About one bucket per pixel column of a line.
    pub columns: u32,
    /// What a line shows: energy per interval or demand.
    pub quantity: Quantity,
}

/// The figure, and the instant its window ends.
pub fn figure(
    ctx: &Ctx,
    account: &Account,
    asked: FigureRequest,
) -> Result<(Figure, i64), ApiError> {
    let db = ctx.db()?;
    let project_id = account.project_id;
    let mut kind = asked.kind;
    let width = asked.columns;
    let days = asked.days;
    let meter =
        match asked.meter {
            Some(name) => {
                kind = Kind::Line;
                Some(points::by_name(db, project_id, name)?.ok_or_else(|| {
                    ApiError::not_found(format!("no metering point named {name:?}"))
                })?)
            }
            None => None,
        };
    if asked.quantity == Quantity::Demand && kind != Kind::Line {
        return Err(ApiError::bad_request(
            "quantity=demand draws lines: ask for type=line or a meter",
        ));
    }
    let meter_id = meter.as_ref().map(|point| [point.id]);
    let scope = Scope {
        project_id,
        points: meter_id.as_ref().map(|id| &id[..]),
    };
    let mut clock = LocalClock::new(&account.timezone);
    let (from, to) = match days {
        Some((first, last)) => instants(&clock, first, last)?,
        // The 24 hours ending at the latest reading, that reading included.
        None => match readings::latest_time(db, scope)? {
            Some(latest) => (latest + 1 - DAY, latest + 1),
            None => (ctx.now() - DAY, ctx.now()),
        },
    };
    if asked.quantity == Quantity::Demand && to - from > DEMAND_WINDOW_SECONDS {
        return Err(ApiError::bad_request(
            "quantity=demand shows at most 4 days: ask for fewer days",
        ));
    }

    // Names, and palette slots by point id: a point has the same colour in
    // every chart.
    let all = points::all(db, project_id)?;
    let names: HashMap<PointId, String> = all.iter().map(|p| (p.id, p.name.clone())).collect();
    let units: HashMap<PointId, Option<&str>> = all
        .iter()
        .map(|p| (p.id, p.config.unit.as_deref()))
        .collect();
    let mut ids: Vec<PointId> = names.keys().copied().collect();
    ids.sort_unstable();
    let name_of = |point: PointId| names.get(&point).cloned().unwrap_or_default();
    let color_of = |point: PointId| ids.binary_search(&point).unwrap_or_default();
    let subtitle = format!(
        "{} – {} ({})",
        clock.format_minutes(from),
        clock.format_minutes(to),
        account.timezone
    );
    let (title, chart) = match kind {
        Kind::Pie | Kind::Bar => {
            let totals = readings::window_totals(db, scope, from, to)?;
            let shares: Vec<Share> = totals
                .into_iter()
                .map(|(point, value)| Share {
                    name: name_of(point),
                    value,
                    color: color_of(point),
                })
                .collect();
            let chart = if shares.is_empty() {
                Chart::Empty(NO_READINGS.to_owned())
            } else if kind == Kind::Pie {
                Chart::Pie(shares)
            } else {
                Chart::Bar(shares)
            };
            ("Consumption per point".to_owned(), chart)
        }
        Kind::Line => {
            // Beyond MAX_LINE_SERIES points, the largest consumers: more
            // lines are neither readable nor cheap (a project may have
            // 10,000 points).
            let what = match asked.quantity {
                Quantity::Energy => "consumption per interval",
                Quantity::Demand => "demand",
            };
            let mut title = match &meter {
                Some(point) => format!("{}: {what}", point.name),
                None => capitalised(what),
            };
            let mut largest: Vec<PointId> = Vec::new();
            if meter.is_none() && names.len() > MAX_LINE_SERIES {
                let totals = readings::window_totals(db, scope, from, to)?;
                let mut ranked: Vec<(PointId, f64)> = totals.into_iter().collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                if ranked.len() > MAX_LINE_SERIES {
                    title = format!(
                        "{}: the {MAX_LINE_SERIES} largest of {} points",
                        capitalised(what),
                        ranked.len()
                    );
                }
                largest = ranked
                    .into_iter()
                    .take(MAX_LINE_SERIES)
                    .map(|(point, _)| point)
                    .collect();
                largest.sort_unstable();
            }
            let scope = if largest.is_empty() {
                scope
            } else {
                Scope {
                    project_id,
                    points: Some(&largest),
                }
            };
            let series = match asked.quantity {
                Quantity::Energy => readings::interval_series(db, scope, from, to, width)?,
                Quantity::Demand => demand_series(db, scope, from, to, width, &units)?,
            };
            let units = series
                .iter()
                .map(|(point, _)| units.get(point).copied().flatten());
            let chart = if series.is_empty() {
                Chart::Empty(NO_READINGS.to_owned())
            } else {
                Chart::Line(LineChart {
                    start: from,
                    end: to,
                    ticks: clock
                        .ticks(from, to)
                        .into_iter()
                        .map(|(at, label)| Tick { at, label })
                        .collect(),
                    value_label: match asked.quantity {
                        Quantity::Energy => axis_label(units),
                        Quantity::Demand => demand_axis_label(units),
                    },
                    legend: meter.is_none(),
                    series: series
                        .into_iter()
                        .map(|(point, buckets)| Series {
                            name: name_of(point),
                            color: color_of(point),
                            buckets,
                        })
                        .collect(),
                    previous: Vec::new(),
                })
            };
            (title, chart)
        }
    };
    Ok((
        Figure {
            title,
            subtitle,
            chart,
        },
        to,
    ))
}

/// Each point's demand per bucket of about `(to - from) / columns`
/// seconds, from the raw intervals that end in `(from, to]`: a bucket's
/// `low` and `high` are its smallest and largest interval demand in the
/// point's demand unit ([`demand_unit`]), its `total` its energy.
fn demand_series(
    db: &dyn crate::storage::Sql,
    scope: Scope,
    from: i64,
    to: i64,
    columns: u32,
    units: &HashMap<PointId, Option<&str>>,
) -> Result<Vec<(PointId, Vec<Bucket>)>, ApiError> {
    let column = ((to - from) / i64::from(columns.max(1))).max(1);
    let mut series: Vec<(PointId, Vec<Bucket>)> = Vec::new();
    let mut factor = 1.0;
    for (point, interval) in readings::raw_intervals(db, scope, from, to)? {
        if series.last().is_none_or(|(id, _)| *id != point) {
            factor = demand_unit(units.get(&point).copied().flatten()).1;
            series.push((point, Vec::new()));
        }
        let buckets = &mut series.last_mut().expect("pushed above").1;
        let demand = significant(interval.demand() * factor);
        let index = (interval.end - 1 - from) / column;
        match buckets.last_mut() {
            Some(bucket) if (bucket.end - 1 - from) / column == index => {
                bucket.end = interval.end;
                bucket.total = significant(bucket.total + interval.value);
                bucket.low = bucket.low.min(demand);
                bucket.high = bucket.high.max(demand);
                bucket.count += 1;
            }
            _ => buckets.push(Bucket {
                start: interval.previous,
                end: interval.end,
                total: significant(interval.value),
                low: demand,
                high: demand,
                count: 1,
            }),
        }
    }
    Ok(series)
}

/// `value` to 12 significant digits: a register's difference carries
/// float noise (`0.1000000000000227`) that would make the JSON half again
/// as long and means nothing.
fn significant(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(11 - value.abs().log10().floor() as i32);
    if !scale.is_finite() || scale == 0.0 {
        return value;
    }
    (value * scale).round() / scale
}

/// "Consumption per interval" from "consumption per interval".
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The value axis' title of demand lines whose points have these energy
/// units: their demand unit ("kW") when they share one, "demand" when a
/// unit is unknown or they differ.
fn demand_axis_label<'a>(mut units: impl Iterator<Item = Option<&'a str>>) -> String {
    let first = demand_unit(units.next().flatten()).0;
    match first {
        Some(unit) if units.all(|other| demand_unit(other).0.as_deref() == Some(&unit)) => unit,
        _ => "demand".to_owned(),
    }
}

/// The value axis' title of lines whose points have these units: "kWh per
/// interval" when they share one, "per interval" when a unit is unknown
/// or they differ (no unit is guessed).
fn axis_label<'a>(mut units: impl Iterator<Item = Option<&'a str>>) -> String {
    let first = units.next().flatten();
    match first {
        Some(unit) if units.all(|other| other == Some(unit)) => format!("{unit} per interval"),
        _ => "per interval".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{axis_label, demand_axis_label};

    #[test]
    fn float_noise_is_dropped_and_values_kept() {
        use super::significant;
        assert_eq!(significant(0.1000000000000227).to_string(), "0.1");
        assert_eq!(significant(1.2000000000002728).to_string(), "1.2");
        assert_eq!(significant(28540.24), 28540.24);
        assert_eq!(significant(-0.0421), -0.0421);
        assert_eq!(significant(123456.789012345).to_string(), "123456.789012");
        assert_eq!(significant(0.0), 0.0);
        assert!(significant(f64::NAN).is_nan());
        assert_eq!(significant(1e-300), 1e-300);
    }

    #[test]
    fn the_demand_axis_names_a_shared_demand_unit_only() {
        assert_eq!(
            demand_axis_label([Some("kWh"), Some("Wh")].into_iter()),
            "kW"
        );
        assert_eq!(demand_axis_label([Some("m³")].into_iter()), "m³/h");
        assert_eq!(
            demand_axis_label([Some("kWh"), Some("m³")].into_iter()),
            "demand"
        );
        assert_eq!(demand_axis_label([Some("kWh"), None].into_iter()), "demand");
        assert_eq!(demand_axis_label(std::iter::empty()), "demand");
    }

    #[test]
    fn the_axis_names_a_shared_unit_only() {
        assert_eq!(
            axis_label([Some("kWh"), Some("kWh")].into_iter()),
            "kWh per interval"
        );
        assert_eq!(
            axis_label([Some("kWh"), Some("Wh")].into_iter()),
            "per interval"
        );
        assert_eq!(axis_label([Some("kWh"), None].into_iter()), "per interval");
        assert_eq!(axis_label([None, Some("kWh")].into_iter()), "per interval");
        assert_eq!(axis_label(std::iter::empty()), "per interval");
    }
}
