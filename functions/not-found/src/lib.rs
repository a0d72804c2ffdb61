//! Every unknown path (`/...`): a 404 in the negotiated format.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_not_found(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(
        request,
        response,
        &[&intellimeter_core::routes::not_found::ROUTE],
    )
    .await
}
