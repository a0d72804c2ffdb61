//! Every path no other component serves (`/...` in spin.toml): a 404 in
//! the negotiated format that lists the routes.

use crate::context::{Ctx, Reply};
use crate::error::ApiError;
use crate::request::ApiRequest;

/// The routes of the API, for the 404 message.
pub const ROUTES: &[&str] = &["/session", "/key", "/user", "/health"];

pub fn handle(_ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    Err(ApiError::not_found(format!(
        "no route {}; the routes are {}",
        request.path,
        ROUTES.join(", ")
    )))
}
