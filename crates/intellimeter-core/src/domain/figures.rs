//! The figures of `/graphics` and `/series`: the project's consumption
//! over a window as pie or bar shares, or as lines per interval, from the
//! reduced data of [`crate::domain::readings`] (`interval_series`,
//! `window_totals`), so drawing a year costs about what drawing a day
//! does. Plain data for the `charts` crate: any backend draws it.

use crate::context::Ctx;
use crate::domain::accounts::Account;
use crate::domain::days::instants;
use crate::domain::ids::PointId;
use crate::domain::points;
use crate::domain::readings::{self, Scope};
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use charts::{Chart, Figure, LineChart, Series, Share, Tick};
use jiff::civil::Date;
use std::collections::HashMap;

const DAY: i64 = 86_400;
const NO_READINGS: &str = "No readings in this window";
/// The most lines a chart of all points draws: the largest consumers.
pub const MAX_LINE_SERIES: usize = 20;

/// What a figure shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pie,
    Bar,
    Line,
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
            let mut title = match &meter {
                Some(point) => format!("{}: consumption per interval", point.name),
                None => "Consumption per interval".to_owned(),
            };
            let mut largest: Vec<PointId> = Vec::new();
            if meter.is_none() && names.len() > MAX_LINE_SERIES {
                let totals = readings::window_totals(db, scope, from, to)?;
                let mut ranked: Vec<(PointId, f64)> = totals.into_iter().collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                if ranked.len() > MAX_LINE_SERIES {
                    title = format!(
                        "Consumption per interval: the {MAX_LINE_SERIES} largest of {} points",
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
            let series = readings::interval_series(db, scope, from, to, width)?;
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
                    value_label: axis_label(
                        series
                            .iter()
                            .map(|(point, _)| units.get(point).copied().flatten()),
                    ),
                    legend: meter.is_none(),
                    series: series
                        .into_iter()
                        .map(|(point, buckets)| Series {
                            name: name_of(point),
                            color: color_of(point),
                            buckets,
                        })
                        .collect(),
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
    use super::axis_label;

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
