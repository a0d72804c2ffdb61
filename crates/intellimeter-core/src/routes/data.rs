//! `/data` GET: the latest reading of each point; `/interval` GET: the
//! latest interval of each point. Times in the project's time zone.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::{Reply, Route};
use crate::readmodel::{self, Listing, View};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;

pub const DATA_SPEC: RouteSpec = RouteSpec::at("/data", &["GET"], "data", Grants::stores(&[]));

pub const INTERVAL_SPEC: RouteSpec =
    RouteSpec::at("/interval", &["GET"], "interval", Grants::stores(&[]));

/// `/data`, for its component.
pub const DATA_ROUTE: Route = Route::new(&DATA_SPEC, handle_data);
/// `/interval`, for its component.
pub const INTERVAL_ROUTE: Route = Route::new(&INTERVAL_SPEC, handle_interval);

fn handle_data(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    latest(ctx, request, Listing::Data)
}

fn handle_interval(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    latest(ctx, request, Listing::Interval)
}

/// The listing, rendered when the readings were stored (`readmodel.rs`).
fn latest(ctx: &Ctx, request: &ApiRequest, listing: Listing) -> Result<Reply, ApiError> {
    let (caller, view) = auth::authenticate_reading(ctx, request, View::of(listing))?;
    let stored =
        readmodel::listing_or_view(ctx, caller.account.project_id, listing, view.as_ref())?;
    Ok(Reply::rendered(stored.rendered))
}
