//! `/graphics` GET: a PNG chart of the project's consumption. `type` pie
//! or bar: each point's consumption over the window; line: consumption per
//! interval over time, one line per point, or of the one point `meter`
//! names. The window is the local days `start`..`end` (as `/file`), or the
//! 24 hours ending at the latest reading. The figure is built by
//! [`crate::domain::figures`]; this module reads the parameters and
//! draws it.

use crate::context::Ctx;
use crate::domain::days::{day_range, parse_day};
use crate::domain::figures::{self, FigureRequest, Kind, Quantity};
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use charts::Figure;

pub const SPEC: RouteSpec = RouteSpec::at("/graphics", &["GET"], "graphics", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

/// Figure sizes are in hundreds of pixels, as the published page has it.
const PIXELS_PER_UNIT: f64 = 100.0;
const DEFAULT_WIDTH: f64 = 16.0;
const DEFAULT_HEIGHT: f64 = 9.0;
pub const MIN_SIZE: f64 = 2.0;
pub const MAX_SIZE: f64 = 40.0;
const DAY: i64 = 86_400;

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let drawn = figure(ctx, request)?;
    let png = charts::bitmap::render_png(&drawn.figure, drawn.width, drawn.height)
        .map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(Reply::bytes("image/png", drawn.cache_control, png))
}

/// A chart as the request asks for it (`type`, `meter`, `start`, `end`,
/// `width`, `height`, `quantity`), ready for any backend, and how long a browser may
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
    let kind = match params.get("type") {
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

    let (figure, window_end) = figures::figure(
        ctx,
        account,
        FigureRequest {
            kind,
            meter: params.get("meter"),
            days,
            columns: width,
            quantity: Quantity::parse(params.get("quantity"))?,
        },
    )?;
    Ok(Drawn {
        figure,
        width,
        height,
        cache_control: cache_control(ctx, days.is_some(), window_end),
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
