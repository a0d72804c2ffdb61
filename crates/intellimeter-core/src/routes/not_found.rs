//! Every path no other component serves (`/...` in spin.toml), whatever
//! the method: a 404 in the negotiated format that lists the routes of
//! [`ROUTES`].

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};
use crate::routes::{Grants, ROUTES, RouteSpec};

/// The catch-all answers every method (with 404), so it lists none.
pub const SPEC: RouteSpec = RouteSpec::at("/...", &[], "not-found", Grants::NONE);

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(_ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let paths: Vec<&str> = ROUTES
        .iter()
        .filter(|route| !route.is_catch_all())
        .map(|route| route.path)
        .collect();
    Err(ApiError::not_found(format!(
        "no route {}; the routes are {}",
        request.path,
        paths.join(", ")
    )))
}
