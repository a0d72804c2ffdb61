//! Every path no other component serves (`/...` in spin.toml): a 404 in
//! the negotiated format that lists the routes.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};

/// The routes of the API, for the 404 message: every route of spin.toml
/// but this catch-all (a test in tests/test-host keeps the two in step),
/// the dashboard's page (`/`) and files last.
pub const ROUTES: &[&str] = &[
    "/session",
    "/key",
    "/user",
    "/data",
    "/interval",
    "/point",
    "/file",
    "/graphics",
    "/series",
    "/ingest",
    "/admin/projects",
    "/admin/ingest-token",
    "/health",
    "/openapi.json",
    "/",
    "/dashboard/...",
];

/// The route, for the component.
pub const ROUTE: Route = Route::new(handle);

fn handle(_ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    Err(ApiError::not_found(format!(
        "no route {}; the routes are {}",
        request.path,
        ROUTES.join(", ")
    )))
}
