//! `/status`: is each meter reporting, and is the collector alive.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_status(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(
        request,
        response,
        &[&intellimeter_core::routes::status::ROUTE],
    )
    .await
}
