//! Support's routes, guarded by the `admin_token` Spin variable (a token
//! shorter than [`MIN_ADMIN_TOKEN_CHARS`] disables them: 403, never open;
//! wrong tokens are throttled per client address):
//! - `POST /admin/projects` provisions a site (project), its first user and
//!   the collector's ingest token;
//! - `POST /admin/ingest-token` with `project` gives a project a new ingest
//!   token; the old one stops at once (a stolen or lost collector).

use super::{NewAccount, PreparedAccount};
use crate::context::Ctx;
use crate::domain::accounts;
use crate::domain::time::is_known_time_zone;
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Handler, Reply, Route, method_not_allowed};
use crate::security::auth;
use crate::security::secrets;
use crate::security::throttle::Throttle;
use crate::storage::in_transaction;
use crate::value::Value;

pub const ADMIN_TOKEN_VARIABLE: &str = "admin_token";
/// An admin token shorter than this counts as unset.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// The paths this component serves (`/admin/...` in spin.toml).
pub const PATHS: &[&str] = &["/admin/projects", "/admin/ingest-token"];

/// The route, for the component.
pub const ROUTE: Route = Route::new(handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    // Spin ignores empty path segments (`/admin//projects/` is served here
    // too), and so does this match.
    let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    let action: Handler = match segments.as_slice() {
        ["admin", "projects"] => provision,
        ["admin", "ingest-token"] => rotate_ingest_token,
        _ => {
            return Err(ApiError::not_found(format!(
                "no route {}; the admin routes are {}",
                request.path,
                PATHS.join(", ")
            )));
        }
    };
    if request.method != "POST" {
        return Err(method_not_allowed(request, &["POST"]));
    }
    check_admin_token(ctx, request)?;
    action(ctx, request)
}

fn provision(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
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
    ctx.env().log(&format!(
        "provisioned project {project_id} ({name:?}) with user {user_id}"
    ));
    Ok(Reply::created(Value::dict([
        ("project", Value::Int(project_id)),
        ("uuid", Value::Int(user_id)),
        ("ingest_token", Value::Str(ingest_token)),
    ])))
}

fn rotate_ingest_token(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let params = Params::parse(request)?;
    let project = params.required("project")?;
    let project_id: i64 = project.parse().map_err(|_| {
        ApiError::bad_request(format!("project must be a project id, not {project:?}"))
    })?;
    let ingest_token = secrets::new_token(ctx.env());
    if !accounts::set_ingest_token_hash(ctx.db()?, project_id, &secrets::digest_hex(&ingest_token))?
    {
        return Err(ApiError::not_found(format!("no project {project_id}")));
    }
    ctx.env()
        .log(&format!("new ingest token for project {project_id}"));
    Ok(Reply::ok(Value::dict([
        ("project", Value::Int(project_id)),
        ("ingest_token", Value::Str(ingest_token)),
    ])))
}

fn check_admin_token(ctx: &Ctx, request: &ApiRequest) -> Result<(), ApiError> {
    let expected = ctx.env().variable(ADMIN_TOKEN_VARIABLE).unwrap_or_default();
    if expected.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        return Err(ApiError::forbidden(format!(
            "provisioning is disabled: the admin_token variable is not set \
             (or shorter than {MIN_ADMIN_TOKEN_CHARS} characters)"
        )));
    }
    let Some(given) = request.bearer_token() else {
        return Err(ApiError::unauthorized(
            "send Authorization: Bearer <admin token>",
        ));
    };
    let throttle = Throttle::admin(&auth::client_address(ctx, request));
    throttle.reserve(ctx)?;
    if !secrets::constant_time_eq(given, &expected) {
        return Err(ApiError::unauthorized("wrong admin token"));
    }
    throttle.release(ctx)
}
