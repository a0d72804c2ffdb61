//! `/point`: GET one metering point by `id` or `name` (id wins), or all of
//! them; POST renames one (`new`).

use crate::context::Ctx;
use crate::domain::ids::PointId;
use crate::domain::points::{self, Point};
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params, answer_format, requested_format};
use crate::http::{Reply, Route, method_not_allowed};
use crate::readmodel::{self, Listing, View};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;

pub const SPEC: RouteSpec = RouteSpec::at("/point", &["GET", "POST"], "point", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    match request.method.as_str() {
        "GET" => {
            let explicit = requested_format(request)?;
            let hint = View::of_points(explicit, names_one_point(&request.query));
            let (caller, view) = auth::authenticate_reading(ctx, request, hint)?;
            let project_id = caller.account.project_id;
            let params = Params::parse(request)?;
            if params.get("id").is_none() && params.get("name").is_none() {
                let format = answer_format(explicit, Some(caller.account.prefers_xml));
                let list = readmodel::point_list_or_view(ctx, project_id, view.as_ref(), format)?;
                return Ok(Reply::rendered(list));
            }
            let points = readmodel::points_or_view(ctx, project_id, view.as_ref())?;
            let point = find(points, &params)?;
            Ok(Reply::ok(point.to_value()))
        }
        "POST" => {
            let caller = auth::authenticate(ctx, request)?;
            let project_id = caller.account.project_id;
            let params = Params::parse(request)?;
            let new_name = params.required("new")?;
            validate::point_name(new_name)?;
            let stored = readmodel::listing(ctx, project_id, Listing::Points)?;
            let point = find(stored.points()?, &params)?;
            let renamed = points::rename(ctx, project_id, point.id, new_name)?;
            Ok(Reply::ok(renamed.to_value()))
        }
        _ => Err(method_not_allowed(request, SPEC.methods)),
    }
}

/// Whether the query names one point (`id` or `name`): which key view to
/// read with the account. Only a hint: a body may name it too, and then
/// the view does not answer and the listing is read as well.
fn names_one_point(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "id" || key == "name")
}

/// The point named by `id` (which wins) or `name` among the caller's
/// project's points: another project's point is as unknown as a missing
/// one (404).
fn find(points: Vec<Point>, params: &Params) -> Result<Point, ApiError> {
    let mut points = points.into_iter();
    if let Some(id) = params.get("id") {
        let id = id
            .trim()
            .parse()
            .map(PointId)
            .map_err(|_| ApiError::bad_request(format!("id must be an integer, not {id:?}")))?;
        return points
            .find(|point| point.id == id)
            .ok_or_else(|| ApiError::not_found(format!("no metering point with id {id}")));
    }
    let name = params.required("name")?;
    points
        .find(|point| point.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no metering point named {name:?}")))
}
