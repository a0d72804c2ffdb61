//! `/session`: GET account info, PUT log in (password or API key), DELETE
//! log out.

use crate::accounts;
use crate::auth::{self, ThrottleSubjects};
use crate::context::{Ctx, Reply, Route, method_not_allowed};
use crate::error::ApiError;
use crate::request::{ApiRequest, Params};
use crate::secrets;
use crate::value::Value;

/// The route, for the component.
pub const ROUTE: Route = Route::new(handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    match request.method.as_str() {
        "GET" => {
            let caller = auth::authenticate(ctx, request)?;
            Ok(Reply::ok(caller.account.to_value()))
        }
        "PUT" => log_in(ctx, request),
        "DELETE" => log_out(ctx, request),
        _ => Err(method_not_allowed(request, &["GET", "PUT", "DELETE"])),
    }
}

fn log_in(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let params = Params::parse(request)?;
    let key = params.get("key").filter(|k| !k.is_empty());
    let username = params.get("username").filter(|u| !u.is_empty());
    let throttle = ThrottleSubjects::new(request, if key.is_some() { None } else { username });
    throttle.check(ctx)?;

    let account = if let Some(key) = key {
        auth::account_by_api_key(ctx, key)?
    } else if let Some(username) = username {
        let password = params.required("password")?;
        match accounts::by_username(ctx.db()?, username)? {
            Some(account) if secrets::verify_password(password, &account.password_hash) => {
                Some(account)
            }
            Some(_) => None,
            None => {
                secrets::verify_password_of_nobody(ctx.env(), password);
                None
            }
        }
    } else {
        return Err(ApiError::bad_request(
            "log in with username and password, or with key",
        ));
    };

    let Some(account) = account else {
        throttle.record_failure(ctx)?;
        return Err(ApiError::unauthorized(if key.is_some() {
            "the API key is not valid"
        } else {
            "wrong username or password"
        }));
    };
    throttle.record_success(ctx)?;
    ctx.prefers_xml.set(Some(account.prefers_xml));
    let token = auth::start_session(ctx, account.user_id)?;
    Ok(
        Reply::ok(Value::dict([("uuid", Value::Int(account.user_id))]))
            .with_header("set-cookie", auth::session_cookie(request, &token)),
    )
}

fn log_out(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    if let Some(token) = &caller.session_token {
        auth::end_session(ctx, token)?;
    }
    Ok(Reply::ok(Value::empty_dict())
        .with_header("set-cookie", auth::expired_session_cookie(request)))
}
