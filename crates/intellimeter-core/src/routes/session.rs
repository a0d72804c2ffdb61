//! `/session`: GET account info, PUT log in (password or API key), DELETE
//! log out (this session, or with `everywhere=true` every session of the
//! user).

use crate::context::Ctx;
use crate::domain::accounts;
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::request::{ApiRequest, Params};
use crate::http::{Reply, Route, method_not_allowed};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth::{self, CookiePolicy, LogIn};
use crate::value::Value;

pub const SPEC: RouteSpec = RouteSpec::at(
    "/session",
    &["GET", "PUT", "DELETE"],
    "session",
    Grants::stores(&[
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
    let login = match (key, username) {
        (Some(key), _) => LogIn::ApiKey(key),
        (None, Some(username)) => LogIn::Password {
            username,
            password: params.required("password")?,
        },
        (None, None) => {
            return Err(ApiError::bad_request(
                "log in with username and password, or with key",
            ));
        }
    };
    let account = auth::log_in(ctx, request, login)?;
    ctx.prefers_xml.set(Some(account.prefers_xml));
    let token = auth::start_session(ctx, &account)?;
    Ok(
        Reply::ok(Value::dict([("uuid", Value::Int(account.user_id.get()))]))
            .with_header("set-cookie", CookiePolicy::of(ctx, request).session(&token)),
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
        accounts::end_every_session(ctx, &caller.account)?;
    }
    if let Some(token) = caller.session_token() {
        auth::end_session(ctx, token)?;
    }
    Ok(CookiePolicy::of(ctx, request).expire_both(Reply::ok(Value::empty_dict())))
}
