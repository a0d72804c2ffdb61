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
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use crate::security::secrets;
use crate::security::throttle::Throttle;
use crate::storage::in_transaction;
use crate::value::Value;

pub const ADMIN_TOKEN_VARIABLE: &str = "admin_token";
/// An admin token shorter than this counts as unset.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// What the admin component is granted (both of its routes).
const GRANTS: Grants = Grants::stores(&[
    ADMIN_TOKEN_VARIABLE,
    auth::SEALING_SECRET_VARIABLE,
    auth::CLIENT_ADDRESS_HEADER_VARIABLE,
]);

pub const PROJECTS_SPEC: RouteSpec = RouteSpec {
    path: "/admin/projects",
    methods: &["POST"],
    trigger: "/admin/...",
    component: "admin",
    grants: GRANTS,
};

pub const INGEST_TOKEN_SPEC: RouteSpec = RouteSpec {
    path: "/admin/ingest-token",
    methods: &["POST"],
    trigger: "/admin/...",
    component: "admin",
    grants: GRANTS,
};

/// `POST /admin/projects`, for the component.
pub const PROJECTS: Route = Route::new(&PROJECTS_SPEC, provision);
/// `POST /admin/ingest-token`, for the component.
pub const INGEST_TOKEN: Route = Route::new(&INGEST_TOKEN_SPEC, rotate_ingest_token);

fn provision(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
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
    check_admin_token(ctx, request)?;
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
