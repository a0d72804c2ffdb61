//! `POST /admin/projects`: support provisions a site (project), its first
//! user and the collector's ingest token. Guarded by the `admin_token` Spin
//! variable; an empty token disables the route (403), never opens it.

use super::{NewAccount, PreparedAccount};
use crate::accounts;
use crate::context::{Ctx, Reply, Route, method_not_allowed};
use crate::error::ApiError;
use crate::request::{ApiRequest, Params};
use crate::secrets;
use crate::storage::in_transaction;
use crate::time::is_known_time_zone;
use crate::validate;
use crate::value::Value;

pub const ADMIN_TOKEN_VARIABLE: &str = "admin_token";

/// The route, for the component.
pub const ROUTE: Route = Route::new(handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    if request.method != "POST" {
        return Err(method_not_allowed(request, &["POST"]));
    }
    check_admin_token(ctx, request)?;
    let params = Params::parse(request)?;
    let name = params.required("name")?;
    validate::project_name(name)?;
    let timezone = params.required("timezone")?;
    if !is_known_time_zone(timezone) {
        return Err(ApiError::bad_request(format!(
            "timezone {timezone:?} is not an IANA time zone such as America/Toronto"
        )));
    }
    let prepared = PreparedAccount::prepare(
        ctx,
        NewAccount {
            username: params.required("username")?,
            email: params.required("email")?,
            password: params.required("password")?,
        },
    )?;
    let ingest_token = secrets::new_token(ctx.env());
    let (project_id, user_id) = in_transaction(ctx.db()?, |db| {
        let project_id = accounts::insert_project(
            db,
            name,
            timezone,
            &secrets::digest_hex(&ingest_token),
            ctx.now(),
        )?;
        let user_id = prepared.insert(ctx, db, project_id)?;
        Ok::<_, ApiError>((project_id, user_id))
    })?;
    prepared.register_key(ctx, user_id)?;
    ctx.env().log(&format!(
        "provisioned project {project_id} ({name:?}) with user {user_id}"
    ));
    Ok(Reply::created(Value::dict([
        ("project", Value::Int(project_id)),
        ("uuid", Value::Int(user_id)),
        ("ingest_token", Value::Str(ingest_token)),
    ])))
}

fn check_admin_token(ctx: &Ctx, request: &ApiRequest) -> Result<(), ApiError> {
    let expected = ctx.env().variable(ADMIN_TOKEN_VARIABLE).unwrap_or_default();
    if expected.is_empty() {
        return Err(ApiError::forbidden(
            "provisioning is disabled: the admin_token variable is not set",
        ));
    }
    match request.bearer_token() {
        Some(given) if secrets::constant_time_eq(given, &expected) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("wrong admin token")),
        None => Err(ApiError::unauthorized(
            "send Authorization: Bearer <admin token>",
        )),
    }
}
