//! `/key`: GET the caller's API key, POST a new one (the old one stops
//! working at once).

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route, method_not_allowed};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use crate::value::Value;

pub const SPEC: RouteSpec = RouteSpec::at(
    "/key",
    &["GET", "POST"],
    "key",
    Grants::stores(&[auth::SEALING_SECRET_VARIABLE]),
);

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let key = match request.method.as_str() {
        "GET" => auth::current_api_key(ctx, &caller.account)?,
        "POST" => auth::issue_api_key(ctx, &caller.account)?,
        _ => return Err(method_not_allowed(request, SPEC.methods)),
    };
    Ok(Reply::ok(Value::dict([("key", Value::Str(key))])))
}
