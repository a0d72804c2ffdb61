//! `POST /ingest`: the site collector's door. Authenticated by the
//! project's ingest token (and nothing else opens it; the token opens
//! nothing else). The batch's wire format, limits and checks live in the
//! `ingest-wire` crate (shared with the collector); storing it in
//! [`crate::domain::ingest`]. This module speaks HTTP only.

use crate::context::Ctx;
use crate::domain::ingest;
use crate::error::{ApiError, ErrorKind};
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use crate::value::Value;
use ingest_wire::{MAX_INGEST_BODY_BYTES, WireError, WireErrorKind};

pub const SPEC: RouteSpec = RouteSpec::at("/ingest", &["POST"], "ingest", Grants::stores(&[]));

/// The route, for the component.
pub const ROUTE: Route = Route {
    spec: &SPEC,
    handler: handle,
    max_body_bytes: MAX_INGEST_BODY_BYTES,
};

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let collector = auth::authenticate_ingest(ctx, request)?;
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "send the batch as Content-Type: application/json",
        ));
    }
    let batch = ingest_wire::parse(&request.body).map_err(refused)?;
    let checked = ingest_wire::check(&batch, ctx.now()).map_err(refused)?;
    let stored = ingest::store(ctx, collector.project_id, &collector.timezone, &checked)?;
    Ok(Reply::ok(Value::dict([
        ("readings", Value::Int(stored.readings as i64)),
        ("new", Value::Int(stored.new as i64)),
        (
            "duplicates",
            Value::Int((stored.readings - stored.new) as i64),
        ),
        ("points_created", Value::Int(stored.points_created as i64)),
    ])))
}

fn refused(error: WireError) -> ApiError {
    let kind = match error.kind {
        WireErrorKind::Invalid => ErrorKind::BadRequest,
        WireErrorKind::TooLarge => ErrorKind::PayloadTooLarge,
    };
    ApiError::new(kind, error.message)
}
