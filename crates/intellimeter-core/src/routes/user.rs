//! `/user`: GET the project's users, POST update own account, PUT create a
//! user in the caller's project, DELETE own account.

use super::{NewAccount, create_user};
use crate::context::Ctx;
use crate::domain::accounts::{self, AccountChanges};
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route, method_not_allowed};
use crate::readmodel::{self, Touched};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth::{self, CookiePolicy, Credential};
use crate::security::secrets;
use crate::security::throttle::Throttle;
use crate::value::Value;

pub const SPEC: RouteSpec = RouteSpec {
    path: "/user",
    methods: &["GET", "POST", "PUT", "DELETE"],
    trigger: "/user",
    component: "user",
    grants: Grants::stores(&[
        auth::SEALING_SECRET_VARIABLE,
        auth::CLIENT_ADDRESS_HEADER_VARIABLE,
        auth::PLAIN_HTTP_VARIABLE,
    ]),
};

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

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
        check_current_password(ctx, request, &caller, params.get("current_password"))?;
        changes.password_hash =
            Some(secrets::hash_password(ctx.env(), password).map_err(ApiError::internal)?);
        // Every session of the user ends with the old password.
        changes.session_stamp = Some(auth::new_session_stamp(ctx));
    }
    let user_id = caller.account.user_id;
    let key_hash = caller.account.api_key_hash.as_str();
    let account = readmodel::write(ctx, &[Touched::Account(user_id, key_hash)], |db| {
        accounts::update_user(db, user_id, &changes)?;
        readmodel::refresh_account(ctx, db, user_id, None)
    })?
    .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
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
        reply = reply.with_header("set-cookie", CookiePolicy::of(ctx).session(&token));
    }
    Ok(reply)
}

/// A password change made with the session cookie must prove the current
/// password (whoever holds a stolen cookie does not know it), throttled
/// like a login. With the API key, which is itself a full credential of
/// the account, it is optional but checked when given.
fn check_current_password(
    ctx: &Ctx,
    request: &ApiRequest,
    caller: &auth::Caller,
    current: Option<&str>,
) -> Result<(), ApiError> {
    let current = match (current.filter(|c| !c.is_empty()), &caller.credential) {
        (Some(current), _) => current,
        (None, Credential::ApiKey) => return Ok(()),
        (None, Credential::Session(_)) => {
            return Err(ApiError::bad_request(
                "changing the password with a session needs current_password",
            ));
        }
    };
    let account = &caller.account;
    let throttle = Throttle::password(&auth::client_address(ctx, request), &account.username);
    throttle.reserve(ctx)?;
    let password_hash = accounts::password_hash(ctx.db()?, account.user_id)?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    if !secrets::verify_password(current, &password_hash) {
        return Err(ApiError::forbidden("current_password is wrong"));
    }
    throttle.release(ctx)
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
    let account = readmodel::account(ctx, user_id)?
        .ok_or_else(|| ApiError::internal(format!("user {user_id} vanished after creation")))?;
    Ok(Reply::ok(account.to_value()))
}

fn delete_own(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let account = &caller.account;
    let user_id = account.user_id;
    let key_hash = account.api_key_hash.as_str();
    let deleted = readmodel::write(ctx, &[Touched::Account(user_id, key_hash)], |db| {
        let deleted = accounts::delete_user_unless_last(db, user_id, account.project_id)?;
        readmodel::refresh_account(ctx, db, user_id, Some(key_hash))?;
        Ok(deleted)
    })?;
    if !deleted {
        return Err(ApiError::conflict(
            "the last user of a project cannot delete itself; create another user first (PUT /user)",
        ));
    }
    // Every other session of the user dies with the row (ids are never
    // reused); this one is only tidied away.
    if let Some(token) = caller.session_token() {
        auth::end_session(ctx, token)?;
    }
    let [expired, expired_other] = CookiePolicy::of(ctx).expired();
    Ok(Reply::ok(Value::empty_dict())
        .with_header("set-cookie", expired)
        .with_header("set-cookie", expired_other))
}
