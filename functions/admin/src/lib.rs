//! `/admin/...`: support's routes, guarded by `admin_token`: provisioning
//! of a project (`/admin/projects`) and a new ingest token
//! (`/admin/ingest-token`).

use intellimeter_core::routes::admin;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle_admin(request: IncomingRequest, response: ResponseOutparam) {
    intellimeter_spin::serve(request, response, &[&admin::PROJECTS, &admin::INGEST_TOKEN]).await
}
