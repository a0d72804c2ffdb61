//! `/session`: GET account info, PUT log in (password or API key), DELETE
//! log out (this session, or with `everywhere=true` every session of the
//! user).

use crate::context::Ctx;
use crate::domain::accounts::{self, AccountChanges};
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route, method_not_allowed};
use crate::readmodel::{self, Touched};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth::{self, CookiePolicy};
use crate::security::secrets;
use crate::security::throttle::Throttle;
use crate::value::Value;

pub const SPEC: RouteSpec = RouteSpec {
    path: "/session",
    methods: &["GET", "PUT", "DELETE"],
    trigger: "/session",
    component: "session",
    grants: Grants::stores(&[
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
            Ok(Reply::ok(caller.account.to_value()))
        }
        "PUT" => log_in(ctx, request),
        "DELETE" => log_out(ctx, request),
        _ => Err(method_not_allowed(request, SPEC.methods)),
    }
}

fn log_in(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    // Another site must not log the browser into an account of its choosing.
    auth::refuse_cross_site(request)?;
    let params = Params::parse(request)?;
    let key = params.get("key").filter(|k| !k.is_empty());
    let username = params.get("username").filter(|u| !u.is_empty());
    let client = auth::client_address(ctx, request);

    let (throttle, account) = if let Some(key) = key {
        let throttle = Throttle::api_key(&client);
        throttle.reserve(ctx)?;
        (throttle, auth::account_by_api_key(ctx, key)?)
    } else if let Some(username) = username {
        let password = params.required("password")?;
        let throttle = Throttle::password(&client, username);
        throttle.reserve(ctx)?;
        let account = match accounts::login_by_username(ctx.db()?, username)? {
            Some((user_id, hash)) if secrets::verify_password(password, &hash) => {
                readmodel::account(ctx, user_id)?
            }
            Some(_) => None,
            None => {
                secrets::verify_password_of_nobody(ctx.env(), password);
                None
            }
        };
        (throttle, account)
    } else {
        return Err(ApiError::bad_request(
            "log in with username and password, or with key",
        ));
    };

    let Some(account) = account else {
        // The failure was counted when it was reserved.
        return Err(ApiError::unauthorized(if key.is_some() {
            "the API key is not valid"
        } else {
            "wrong username or password"
        }));
    };
    throttle.release(ctx)?;
    ctx.prefers_xml.set(Some(account.prefers_xml));
    let token = auth::start_session(ctx, &account)?;
    Ok(
        Reply::ok(Value::dict([("uuid", Value::Int(account.user_id))]))
            .with_header("set-cookie", CookiePolicy::of(ctx).session(&token)),
    )
}

fn log_out(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let params = Params::parse(request)?;
    let everywhere = match params.get("everywhere") {
        Some(value) => validate::boolean("everywhere", value)?,
        None => false,
    };
    if everywhere {
        // A new stamp: every session issued before it stops at once.
        let changes = AccountChanges {
            session_stamp: Some(auth::new_session_stamp(ctx)),
            ..AccountChanges::default()
        };
        let account = &caller.account;
        let touched = [Touched::Account(account.user_id, &account.api_key_hash)];
        readmodel::write(ctx, &touched, |db| {
            accounts::update_user(db, account.user_id, &changes)?;
            readmodel::refresh_account(ctx, db, account.user_id, None)
        })?;
    }
    if let Some(token) = caller.session_token() {
        auth::end_session(ctx, token)?;
    }
    let [expired, expired_other] = CookiePolicy::of(ctx).expired();
    Ok(Reply::ok(Value::empty_dict())
        .with_header("set-cookie", expired)
        .with_header("set-cookie", expired_other))
}
