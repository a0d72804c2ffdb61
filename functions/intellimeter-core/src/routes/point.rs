//! `/point`: GET one metering point by `id` or `name` (id wins), or all of
//! them; POST renames one (`new`).

use crate::auth;
use crate::context::{Ctx, Reply, Route, method_not_allowed};
use crate::error::ApiError;
use crate::points::{self, Point};
use crate::request::{ApiRequest, Params};
use crate::validate;
use crate::value::Value;

/// The route, for the component.
pub const ROUTE: Route = Route::new(handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    match request.method.as_str() {
        "GET" => {
            let caller = auth::authenticate(ctx, request)?;
            let project_id = caller.account.project_id;
            let params = Params::parse(request)?;
            if params.get("id").is_none() && params.get("name").is_none() {
                let all = points::all(ctx.db()?, project_id)?;
                return Ok(Reply::ok(Value::List(
                    all.iter().map(Point::to_value).collect(),
                )));
            }
            let point = find(ctx, project_id, &params)?;
            Ok(Reply::ok(point.to_value()))
        }
        "POST" => {
            let caller = auth::authenticate(ctx, request)?;
            let project_id = caller.account.project_id;
            let params = Params::parse(request)?;
            let new_name = params.required("new")?;
            validate::point_name(new_name)?;
            let point = find(ctx, project_id, &params)?;
            points::rename(ctx.db()?, project_id, point.id, new_name)?;
            let renamed = points::by_id(ctx.db()?, project_id, point.id)?
                .ok_or_else(|| ApiError::not_found("the metering point was deleted meanwhile"))?;
            Ok(Reply::ok(renamed.to_value()))
        }
        _ => Err(method_not_allowed(request, &["GET", "POST"])),
    }
}

/// The point named by `id` (which wins) or `name`, in the caller's project
/// only: another project's point is as unknown as a missing one (404).
fn find(ctx: &Ctx, project_id: i64, params: &Params) -> Result<Point, ApiError> {
    if let Some(id) = params.get("id") {
        let id: i64 = id
            .trim()
            .parse()
            .map_err(|_| ApiError::bad_request(format!("id must be an integer, not {id:?}")))?;
        return points::by_id(ctx.db()?, project_id, id)?
            .ok_or_else(|| ApiError::not_found(format!("no metering point with id {id}")));
    }
    let name = params.required("name")?;
    points::by_name(ctx.db()?, project_id, name)?
        .ok_or_else(|| ApiError::not_found(format!("no metering point named {name:?}")))
}
