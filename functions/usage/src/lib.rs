//! `/usage`: energy, peak demand and coverage per meter and bucket.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_usage(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(
        request,
        response,
        &[&intellimeter_core::routes::usage::ROUTE],
    )
    .await
}
