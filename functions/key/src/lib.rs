//! `/key`: read and rotate the API key.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_key(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(request, response, &[&intellimeter_core::routes::key::ROUTE]).await
}
