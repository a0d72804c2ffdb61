//! `GET /health`: answers without touching storage (the core's
//! `routes::health`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_health(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(
        request,
        response,
        &[&intellimeter_core::routes::health::ROUTE],
    )
    .await
}
