//! `/file` GET: past readings of a range of local days as a CSV, JSON, XML
//! or YAML download, streamed page by page ([`crate::domain::exports`]).

use crate::context::Ctx;
use crate::domain::days;
use crate::domain::exports::{self, ExportRequest};
use crate::error::ApiError;
use crate::format::Format;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;

pub const SPEC: RouteSpec = RouteSpec::at("/file", &["GET"], "file", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let params = Params::parse(request)?;
    let days = days::range(params.required("start")?, params.required("end")?)?;
    let type_name = params.get("type").unwrap_or("csv");
    let format = Format::of_file(type_name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "type must be csv, json, xml or yaml, not {type_name:?}"
        ))
    })?;
    let export = exports::export(
        ctx,
        &caller.account,
        ExportRequest {
            days,
            format,
            meter: params.get("meter"),
        },
    )?;
    Ok(
        Reply::stream(format.content_type(), export.stream).with_header(
            "content-disposition",
            format!("attachment; filename=\"{}\"", export.filename),
        ),
    )
}
