//! `/data` GET: the latest reading of each point; `/interval` GET: the
//! latest interval of each point. Times in the project's time zone.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route, method_not_allowed};
use crate::readmodel::{self, Listing};
use crate::security::auth;

/// `/data`, for its component.
pub const DATA_ROUTE: Route = Route::new(handle_data);
/// `/interval`, for its component.
pub const INTERVAL_ROUTE: Route = Route::new(handle_interval);

fn handle_data(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    latest(ctx, request, Listing::Data)
}

fn handle_interval(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    latest(ctx, request, Listing::Interval)
}

/// The listing, rendered when the readings were stored (`readmodel.rs`).
fn latest(ctx: &Ctx, request: &ApiRequest, listing: Listing) -> Result<Reply, ApiError> {
    if request.method != "GET" {
        return Err(method_not_allowed(request, &["GET"]));
    }
    let caller = auth::authenticate(ctx, request)?;
    let stored = readmodel::listing(ctx, caller.account.project_id, listing)?;
    Ok(Reply::rendered(stored.rendered))
}
