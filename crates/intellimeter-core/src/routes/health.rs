//! `GET /health`: answers without touching storage. Load balancers use it,
//! and the benchmarks use it as the hello-world baseline. `HEAD` answers
//! the same without a body.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};

pub const SPEC: RouteSpec = RouteSpec::at("/health", &["GET", "HEAD"], "health", Grants::NONE);

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

const BODY: &[u8] = b"{\"status\": \"ok\"}";

fn handle(_ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let body = if request.method == "HEAD" {
        Vec::new()
    } else {
        BODY.to_vec()
    };
    Ok(Reply::raw(200, body).with_header("content-type", "application/json"))
}
