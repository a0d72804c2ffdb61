//! `GET /health`: answers without touching storage. Load balancers use it,
//! and the benchmarks use it as the hello-world baseline of the test host.
//! `HEAD` answers the same without a body; any other method is refused
//! with 405 and `Allow`, as on every route.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle_health(request: Request) -> impl IntoResponse {
    let (status, body) = match request.method() {
        Method::Get => (200, "{\"status\": \"ok\"}".to_owned()),
        Method::Head => (200, String::new()),
        other => (
            405,
            format!("{{\"error\": \"method {other} is not allowed here; allowed: GET, HEAD\"}}"),
        ),
    };
    let mut response = Response::builder();
    response
        .status(status)
        .header("content-type", "application/json");
    if status == 405 {
        response.header("allow", "GET, HEAD");
    }
    response.body(body).build()
}
