//! `GET /health`: answers without touching storage. Load balancers use it,
//! and the benchmarks use it as the hello-world baseline of the test host.
//! It stays free of the core (and its size) on purpose; its one error is
//! written here in the API's JSON error shape.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle_health(request: Request) -> impl IntoResponse {
    match request.method() {
        Method::Get | Method::Head => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body("{\"status\": \"ok\"}")
            .build(),
        other => Response::builder()
            .status(405)
            .header("content-type", "application/json")
            .header("allow", "GET, HEAD")
            .body(format!(
                "{{\"error\": \"method {other} is not allowed here; allowed: GET, HEAD\"}}"
            ))
            .build(),
    }
}
