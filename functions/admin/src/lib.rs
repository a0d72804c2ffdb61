//! `/admin/projects`: provisioning of a project by support (guarded by `admin_token`).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_admin(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(request, response, &intellimeter_core::routes::admin::ROUTE).await
}
