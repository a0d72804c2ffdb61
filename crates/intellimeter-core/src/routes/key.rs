//! `/key`: GET the caller's API key, POST a new one (the old one stops
//! working at once).

use crate::context::Ctx;
use crate::domain::accounts::{self, Account};
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route, method_not_allowed};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use crate::value::Value;

pub const SPEC: RouteSpec = RouteSpec {
    path: "/key",
    methods: &["GET", "POST"],
    trigger: "/key",
    component: "key",
    grants: Grants::stores(&[auth::SEALING_SECRET_VARIABLE]),
};

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    match request.method.as_str() {
        "GET" => {
            let caller = auth::authenticate(ctx, request)?;
            let user_id = caller.account.user_id;
            let sealed = accounts::sealed_api_key(ctx.db()?, user_id)?
                .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
            let key = auth::sealing_key(ctx)?
                .open(&Account::seal_owner(user_id), &sealed)
                .ok_or_else(|| {
                    ApiError::internal(format!(
                        "the sealed API key of user {user_id} does not open: was the sealing secret changed?"
                    ))
                })?;
            Ok(Reply::ok(key_body(key)))
        }
        "POST" => {
            let caller = auth::authenticate(ctx, request)?;
            let key = auth::issue_api_key(ctx, &caller.account)?;
            Ok(Reply::ok(key_body(key)))
        }
        _ => Err(method_not_allowed(request, SPEC.methods)),
    }
}

fn key_body(key: String) -> Value {
    Value::dict([("key", Value::Str(key))])
}
