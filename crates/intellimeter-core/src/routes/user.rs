//! `/user`: GET the project's users, POST update own account, PUT create a
//! user in the caller's project, DELETE own account.

use crate::context::Ctx;
use crate::domain::accounts::{self, AccountChanges};
use crate::domain::enrolment::{self, NewAccount};
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route, method_not_allowed};
use crate::readmodel;
use crate::routes::{Grants, RouteSpec};
use crate::security::auth::{self, CookiePolicy};
use crate::security::secrets;
use crate::value::Value;

pub const SPEC: RouteSpec = RouteSpec::at(
    "/user",
    &["GET", "POST", "PUT", "DELETE"],
    "user",
    Grants::stores(&[
        auth::SEALING_SECRET_VARIABLE,
        auth::CLIENT_ADDRESS_HEADER_VARIABLE,
        auth::PLAIN_HTTP_VARIABLE,
    ]),
);

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    match request.method.as_str() {
        "GET" => {
            let caller = auth::authenticate(ctx, request)?;
            Ok(Reply::ok(accounts::users_of(ctx, &caller.account)?))
        }
        "POST" => update_own(ctx, request),
        "PUT" => create_in_project(ctx, request),
        "DELETE" => delete_own(ctx, request),
        _ => Err(method_not_allowed(request, SPEC.methods)),
    }
}

fn update_own(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let params = Params::parse(request)?;
    let mut changes = AccountChanges::default();
    if let Some(username) = params.get("username") {
        validate::username(username)?;
        changes.username = Some(username);
    }
    if let Some(email) = params.get("email") {
        validate::email(email)?;
        changes.email = Some(email);
    }
    if let Some(xml) = params.get("xml") {
        changes.prefers_xml = Some(validate::boolean("xml", xml)?);
    }
    let new_password = params.get("password");
    if let Some(password) = new_password {
        validate::password(password)?;
        auth::check_current_password(ctx, request, &caller, params.get("current_password"))?;
        changes.password_hash =
            Some(secrets::hash_password(ctx.env(), password).map_err(ApiError::internal)?);
        // Every session of the user ends with the old password.
        changes.session_stamp = Some(secrets::new_session_stamp(ctx.env()));
    }
    let account = accounts::update_own(ctx, &caller.account, &changes)?;
    // The answer follows the preference just stored, unless the request
    // asked for a format explicitly.
    ctx.prefers_xml.set(Some(account.prefers_xml));
    let mut reply = Reply::ok(account.to_value());
    if new_password.is_some()
        && let Some(old_token) = caller.session_token()
    {
        // The caller's own session ended too: hand it a new one.
        auth::end_session(ctx, old_token)?;
        let token = auth::start_session(ctx, &account)?;
        reply = reply.with_header("set-cookie", CookiePolicy::of(ctx, request).session(&token));
    }
    Ok(reply)
}

fn create_in_project(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let params = Params::parse(request)?;
    let user_id = enrolment::create_user(
        ctx,
        caller.account.project_id,
        NewAccount {
            username: params.required("username")?,
            email: params.required("email")?,
            password: params.required("password")?,
        },
    )?;
    let account = readmodel::account(ctx, user_id)?
        .ok_or_else(|| ApiError::internal(format!("user {user_id} vanished after creation")))?;
    Ok(Reply::ok(account.to_value()))
}

fn delete_own(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    accounts::delete_own(ctx, &caller.account)?;
    // Every other session of the user dies with the row (ids are never
    // reused); this one is only tidied away.
    if let Some(token) = caller.session_token() {
        auth::end_session(ctx, token)?;
    }
    Ok(CookiePolicy::of(ctx, request).expire_both(Reply::ok(Value::empty_dict())))
}
