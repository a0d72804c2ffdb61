//! `/usage` GET: energy, peak demand and coverage per meter and per local
//! hour, day, week, month or year of a range of days
//! ([`crate::domain::usage`]); JSON or XML as negotiated, or CSV with
//! `type=csv`.

use crate::context::Ctx;
use crate::domain::days;
use crate::domain::usage::{self, Step, UsageReport, UsageRequest};
use crate::error::ApiError;
use crate::format::Format;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;

pub const SPEC: RouteSpec = RouteSpec::at("/usage", &["GET"], "usage", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let params = Params::parse(request)?;
    let days = days::range(params.required("start")?, params.required("end")?)?;
    let step = Step::parse(params.get("interval").unwrap_or("day"))?;
    let csv = match params.get("type") {
        None => false,
        Some(name) => match Format::of_file(name) {
            Some(Format::Csv) => true,
            Some(Format::Json | Format::Xml) => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "type must be csv, json or xml, not {name:?}"
                )));
            }
        },
    };
    let asked = UsageRequest {
        days,
        step,
        meter: params.get("meter"),
    };
    let account = &caller.account;
    let found = usage::usage(ctx, account, &asked)?;
    let report = UsageReport::new(found, &account.timezone, &asked, ctx.now());
    if csv {
        return Ok(Reply::bytes(
            Format::Csv.content_type(),
            "no-store".to_owned(),
            report.to_csv(),
        ));
    }
    Ok(Reply::document(report))
}
