//! `/` and `/dashboard/...`: the browser dashboard's files, embedded at
//! build time (build.rs), served by `intellimeter_core::http::static_files`.

use intellimeter_core::context::Ctx;
use intellimeter_core::error::ApiError;
use intellimeter_core::http::request::ApiRequest;
use intellimeter_core::http::static_files::{self, Asset};
use intellimeter_core::http::{Reply, Route};
use intellimeter_core::routes;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const PAGE: Route = Route::new(&routes::DASHBOARD_PAGE, handle);
const FILES: Route = Route::new(&routes::DASHBOARD_FILES, handle);

fn handle(_ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    static_files::reply(ASSETS, request)
}

#[http_component]
async fn handle_dashboard(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(request, response, &[&PAGE, &FILES]).await
}
