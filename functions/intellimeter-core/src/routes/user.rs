//! `/user`: GET the project's users, POST update own account, PUT create a
//! user in the caller's project, DELETE own account.

use super::{NewAccount, create_user};
use crate::accounts::{self, AccountChanges};
use crate::auth;
use crate::context::{Ctx, Reply, Route, method_not_allowed};
use crate::error::ApiError;
use crate::request::{ApiRequest, Params};
use crate::secrets;
use crate::validate;
use crate::value::Value;

/// The route, for the component.
pub const ROUTE: Route = Route::new(handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    match request.method.as_str() {
        "GET" => {
            let caller = auth::authenticate(ctx, request)?;
            let account = &caller.account;
            let users = accounts::public_users(ctx.db()?, account.project_id, &account.timezone)?;
            Ok(Reply::ok(users))
        }
        "POST" => update_own(ctx, request),
        "PUT" => create_in_project(ctx, request),
        "DELETE" => delete_own(ctx, request),
        _ => Err(method_not_allowed(
            request,
            &["GET", "POST", "PUT", "DELETE"],
        )),
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
    if let Some(password) = params.get("password") {
        validate::password(password)?;
        changes.password_hash =
            Some(secrets::hash_password(ctx.env(), password).map_err(ApiError::internal)?);
    }
    let user_id = caller.account.user_id;
    accounts::update_user(ctx.db()?, user_id, &changes)?;
    let account = accounts::by_id(ctx.db()?, user_id)?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    // The answer follows the preference just stored, unless the request
    // asked for a format explicitly.
    ctx.prefers_xml.set(Some(account.prefers_xml));
    Ok(Reply::ok(account.to_value()))
}

fn create_in_project(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let params = Params::parse(request)?;
    let user_id = create_user(
        ctx,
        caller.account.project_id,
        NewAccount {
            username: params.required("username")?,
            email: params.required("email")?,
            password: params.required("password")?,
        },
    )?;
    let account = accounts::by_id(ctx.db()?, user_id)?
        .ok_or_else(|| ApiError::internal(format!("user {user_id} vanished after creation")))?;
    Ok(Reply::ok(account.to_value()))
}

fn delete_own(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let account = &caller.account;
    if accounts::count_users(ctx.db()?, account.project_id)? <= 1 {
        return Err(ApiError::conflict(
            "the last user of a project cannot delete itself; create another user first (PUT /user)",
        ));
    }
    accounts::delete_user(ctx.db()?, account.user_id)?;
    auth::forget_api_key(ctx, &account.api_key_hash)?;
    if let Some(token) = &caller.session_token {
        auth::end_session(ctx, token)?;
    }
    Ok(Reply::ok(Value::empty_dict())
        .with_header("set-cookie", auth::expired_session_cookie(request)))
}
