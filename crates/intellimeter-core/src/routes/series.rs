//! `/series` GET: the chart `/graphics` would draw, as JSON instead of a
//! PNG, for the browser dashboard to draw on a canvas with the same chart
//! crate. Same parameters, same reduction (about one bucket per pixel
//! column of `width`), same caching. The body is a `charts::Figure`
//! (serde): `{"title", "subtitle", "chart": {"type": "line" | "bar" |
//! "pie" | "empty", "data": …}}`. Always JSON (it is the chart's own
//! format, as the PNG is `/graphics`'s); errors are negotiated as on every
//! route.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec, graphics};

pub const SPEC: RouteSpec = RouteSpec::at("/series", &["GET"], "series", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let drawn = graphics::figure(ctx, request)?;
    let body =
        serde_json::to_vec(&drawn.figure).map_err(|error| ApiError::internal(error.to_string()))?;
    Ok(Reply::bytes("application/json", drawn.cache_control, body))
}
