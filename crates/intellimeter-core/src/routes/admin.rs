//! Support's routes, guarded by the `admin_token` Spin variable
//! ([`auth::check_admin_token`]: a short token disables them, 403, never
//! open; wrong tokens are throttled per client address):
//! - `POST /admin/projects` provisions a site (project), its first user and
//!   the collector's ingest token;
//! - `POST /admin/ingest-token` with `project` gives a project a new ingest
//!   token; the old one stops at once (a stolen or lost collector).

use crate::context::Ctx;
use crate::domain::enrolment::{self, NewAccount, NewProject};
use crate::domain::ids::ProjectId;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth::{self, ADMIN_TOKEN_VARIABLE};
use crate::value::Value;
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
    auth::check_admin_token(ctx, request)?;
    let params = Params::parse(request)?;
    let provisioned = enrolment::provision(
        ctx,
        NewProject {
            name: params.required("name")?,
            timezone: params.required("timezone")?,
        },
        NewAccount {
            username: params.required("username")?,
            email: params.required("email")?,
            password: params.required("password")?,
        },
    )?;
    Ok(Reply::created(Value::dict([
        ("project", Value::Int(provisioned.project_id.get())),
        ("uuid", Value::Int(provisioned.user_id.get())),
        ("ingest_token", Value::Str(provisioned.ingest_token)),
    ])))
}

fn rotate_ingest_token(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    auth::check_admin_token(ctx, request)?;
    let params = Params::parse(request)?;
    let project = params.required("project")?;
    let project_id = project.parse().map(ProjectId).map_err(|_| {
        ApiError::bad_request(format!("project must be a project id, not {project:?}"))
    })?;
    let ingest_token = auth::new_ingest_token(ctx, project_id)?;
    Ok(Reply::ok(Value::dict([
        ("project", Value::Int(project_id.get())),
        ("ingest_token", Value::Str(ingest_token)),
    ])))
}
