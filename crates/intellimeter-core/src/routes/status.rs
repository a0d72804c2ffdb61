//! `/status` GET: per meter, its latest reading's time and age, its
//! cadence and a state (`ok`, `late`, `silent`, `never`); per site, the
//! collector's last contact, version, spool backlog and clock. From the
//! read model `/data` uses: no SQL when hot.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};
use crate::readmodel;
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;

pub const SPEC: RouteSpec = RouteSpec::at("/status", &["GET"], "status", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let status = readmodel::status(ctx, caller.account.project_id)?;
    Ok(Reply::ok(status.to_value(ctx.now())))
}
