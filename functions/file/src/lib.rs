//! `/file`: streamed CSV/JSON/XML/YAML export of past readings.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_file(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(
        request,
        response,
        &[&intellimeter_core::routes::file::ROUTE],
    )
    .await
}
