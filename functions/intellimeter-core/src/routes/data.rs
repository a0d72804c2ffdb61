//! `/data` GET: the latest reading of each point; `/interval` GET: the
//! latest interval of each point. Times in the project's time zone.

use crate::auth;
use crate::context::{Ctx, Reply, Route, method_not_allowed};
use crate::error::ApiError;
use crate::readmodel::{self, PointView};
use crate::request::ApiRequest;
use crate::time::LocalClock;
use crate::value::Value;

/// `/data`, for its component.
pub const DATA_ROUTE: Route = Route::new(handle_data);
/// `/interval`, for its component.
pub const INTERVAL_ROUTE: Route = Route::new(handle_interval);

fn handle_data(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    latest(ctx, request, PointView::latest)
}

fn handle_interval(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    latest(ctx, request, PointView::interval)
}

/// One `(time, value)` of a point, if it has one.
type Latest = fn(&PointView) -> Option<(i64, f64)>;

fn latest(ctx: &Ctx, request: &ApiRequest, of_point: Latest) -> Result<Reply, ApiError> {
    if request.method != "GET" {
        return Err(method_not_allowed(request, &["GET"]));
    }
    let caller = auth::authenticate(ctx, request)?;
    let account = &caller.account;
    let mut clock = LocalClock::new(&account.timezone);
    let view = readmodel::project(ctx, account.project_id)?;
    Ok(Reply::ok(Value::List(
        view.points
            .iter()
            .filter_map(|point| {
                let (ts, value) = of_point(point)?;
                Some(reading_value(
                    point.point.name.clone(),
                    clock.format(ts),
                    value,
                ))
            })
            .collect(),
    )))
}

/// The page's `/data` row: `MeterParam`, `TimeStamping`, `value`.
pub fn reading_value(meter: String, local_time: &str, value: f64) -> Value {
    Value::dict([
        ("MeterParam", Value::Str(meter)),
        ("TimeStamping", Value::LocalDateTime(local_time.to_owned())),
        ("value", Value::Float(value)),
    ])
}
