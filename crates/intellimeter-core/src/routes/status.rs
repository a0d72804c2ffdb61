//! `/status` GET: per meter, its latest reading's time and age, its
//! cadence and a state (`ok`, `late`, `silent`, `never`); per site, the
//! collector's last contact, version, spool backlog and clock. From the
//! read model `/data` uses, rendered there with holes for the clock: no
//! SQL when hot, and per request only the ages and states are written.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::format::Rendered;
use crate::http::request::{ApiRequest, answer_format, requested_format};
use crate::http::{Reply, Route};
use crate::readmodel::{self, View};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;

pub const SPEC: RouteSpec = RouteSpec::at("/status", &["GET"], "status", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let explicit = requested_format(request)?;
    let (caller, view) = auth::authenticate_reading(ctx, request, View::of_status(explicit))?;
    let format = answer_format(explicit, Some(caller.account.prefers_xml));
    let status = readmodel::status_or_view(ctx, caller.account.project_id, view.as_ref(), format)?;
    Ok(Reply::rendered(Rendered::only(
        format,
        status.answer(ctx.now()),
    )))
}
