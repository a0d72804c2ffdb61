//! `/graphics` GET: a PNG chart of the project's consumption. `type` pie
//! or bar: each point's consumption over the window; line: consumption per
//! interval over time, one line per point, or of the one point `meter`
//! names. The window is the local days `start`..`end` (as `/file`), or the
//! 24 hours ending at the latest reading. The data comes reduced from SQL
//! (`readings::interval_series`, `readings::window_totals`), so drawing a
//! year costs about what drawing a day does.

use crate::context::Ctx;
use crate::domain::points;
use crate::domain::readings::{self, Scope};
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route};
use crate::routes::file::{day_range, instants, parse_day};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use charts::{Chart, Figure, LineChart, Series, Share, Tick};

pub const SPEC: RouteSpec = RouteSpec {
    path: "/graphics",
    methods: &["GET"],
    trigger: "/graphics",
    component: "graphics",
    grants: Grants::stores(&[]),
};

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

/// Figure sizes are in hundreds of pixels, as the published page has it.
const PIXELS_PER_UNIT: f64 = 100.0;
const DEFAULT_WIDTH: f64 = 16.0;
const DEFAULT_HEIGHT: f64 = 9.0;
pub const MIN_SIZE: f64 = 2.0;
pub const MAX_SIZE: f64 = 40.0;
const DAY: i64 = 86_400;
const NO_READINGS: &str = "No readings in this window";
/// The most lines a chart of all points draws: the largest consumers.
pub const MAX_LINE_SERIES: usize = 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pie,
    Bar,
    Line,
}

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let drawn = figure(ctx, request)?;
    let png = charts::bitmap::render_png(&drawn.figure, drawn.width, drawn.height)
        .map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(Reply::bytes("image/png", drawn.cache_control, png))
}

/// A chart as the request asks for it (`type`, `meter`, `start`, `end`,
/// `width`, `height`), ready for any backend, and how long a browser may
/// keep it.
pub(crate) struct Drawn {
    pub figure: Figure,
    pub width: u32,
    pub height: u32,
    pub cache_control: String,
}

/// The figure of `/graphics` and `/series`: authenticates, reads the
/// parameters and the reduced data.
pub(crate) fn figure(ctx: &Ctx, request: &ApiRequest) -> Result<Drawn, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let account = &caller.account;
    let params = Params::parse(request)?;
    let mut kind = match params.get("type") {
        None | Some("pie") => Kind::Pie,
        Some("bar") => Kind::Bar,
        Some("line") => Kind::Line,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "type must be pie, bar or line, not {other:?}"
            )));
        }
    };
    let width = pixels(&params, "width", DEFAULT_WIDTH)?;
    let height = pixels(&params, "height", DEFAULT_HEIGHT)?;
    let days = match (params.get("start"), params.get("end")) {
        (None, None) => None,
        (start, end) => {
            // One of them alone is that one day.
            let start = parse_day("start", start.or(end).unwrap_or_default())?;
            let end = parse_day("end", end.or(params.get("start")).unwrap_or_default())?;
            Some(day_range(start, end)?)
        }
    };

    let db = ctx.db()?;
    let project_id = account.project_id;
    let meter =
        match params.get("meter") {
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
    let names = points::names(db, project_id)?;
    let mut ids: Vec<i64> = names.keys().copied().collect();
    ids.sort_unstable();
    let name_of = |point: i64| names.get(&point).cloned().unwrap_or_default();
    let color_of = |point: i64| ids.binary_search(&point).unwrap_or_default();
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
            let mut largest: Vec<i64> = Vec::new();
            if meter.is_none() && names.len() > MAX_LINE_SERIES {
                let totals = readings::window_totals(db, scope, from, to)?;
                let mut ranked: Vec<(i64, f64)> = totals.into_iter().collect();
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
                    value_label: "per interval".to_owned(),
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
    Ok(Drawn {
        figure: Figure {
            title,
            subtitle,
            chart,
        },
        width,
        height,
        cache_control: cache_control(ctx, days.is_some(), to),
    })
}

/// A dimension in hundreds of pixels (`16`, `7.5`) as pixels, from
/// [`MIN_SIZE`] to [`MAX_SIZE`] hundred.
fn pixels(params: &Params, name: &str, default: f64) -> Result<u32, ApiError> {
    let units = match params.get(name) {
        None => default,
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|units| (MIN_SIZE..=MAX_SIZE).contains(units))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name} must be a number from {MIN_SIZE} to {MAX_SIZE} (hundreds of pixels), not {text:?}"
                ))
            })?,
    };
    Ok((units * PIXELS_PER_UNIT).round() as u32)
}

/// A chart of days long past changes only when old readings arrive late:
/// browsers may keep it for a while. The latest day changes with every
/// reading the collector sends.
fn cache_control(ctx: &Ctx, explicit_days: bool, to: i64) -> String {
    if explicit_days && to <= ctx.now() - DAY {
        "private, max-age=300".to_owned()
    } else {
        "private, max-age=30".to_owned()
    }
}
