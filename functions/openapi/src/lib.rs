//! `GET /openapi.json`: the API's OpenAPI 3.1 description (`openapi.json`
//! beside this crate's manifest, embedded at build time by build.rs),
//! served by `intellimeter_core::http::static_files` with the dashboard's
//! caching rules (ETag, 304, gzip, `Cache-Control: no-cache`).

use intellimeter_core::context::Ctx;
use intellimeter_core::error::ApiError;
use intellimeter_core::http::request::ApiRequest;
use intellimeter_core::http::static_files::{self, Asset};
use intellimeter_core::http::{Reply, Route};
use intellimeter_core::routes;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const DOCUMENT: Asset = include!(concat!(env!("OUT_DIR"), "/asset.rs"));

const ROUTE: Route = Route::new(&routes::OPENAPI, handle);

fn handle(_ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    // Spin routes `/openapi.json/` and `//openapi.json` here too.
    let request = ApiRequest {
        path: DOCUMENT.path.to_owned(),
        ..request.clone()
    };
    static_files::reply(&[DOCUMENT], &request)
}

#[http_component]
async fn handle_openapi(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(request, response, &[&ROUTE]).await
}
