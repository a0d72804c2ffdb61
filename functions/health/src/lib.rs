//! `GET /health`: answers without touching storage. Load balancers use it,
//! and the benchmarks use it as the hello-world baseline of the test host.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle_health(_request: Request) -> impl IntoResponse {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body("{\"status\": \"ok\"}")
        .build()
}
