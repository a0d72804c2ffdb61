//! The single function that turns a handler's outcome into an HTTP
//! response, and the route a component serves.

use crate::context::{Ctx, Services};
use crate::error::{ApiError, ErrorKind};
use crate::format::Format;
use crate::http::reply::{Payload, Reply};
use crate::http::request::{ApiRequest, MAX_BODY_BYTES, requested_format};
use crate::value::Value;

pub use crate::http::reply::ChunkStream;

/// An HTTP response, ready for any host to send: `body` first, then, for
/// a streamed answer, every chunk of `stream`.
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stream: Option<Box<dyn ChunkStream>>,
}

impl ApiResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A route as a component serves it: its handler and how large a request
/// body it accepts.
pub struct Route {
    pub handler: Handler,
    pub max_body_bytes: usize,
}

impl Route {
    /// A route with the default body limit ([`MAX_BODY_BYTES`]).
    pub const fn new(handler: Handler) -> Self {
        Route {
            handler,
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

pub type Handler = fn(&Ctx, &ApiRequest) -> Result<Reply, ApiError>;

/// Runs the route's handler and renders its outcome in the negotiated format. Never
/// panics on bad input; internal errors are logged and answered with a
/// short 500.
pub fn respond(route: &Route, request: &ApiRequest, services: Services) -> ApiResponse {
    let env = services.env;
    let explicit = match requested_format(request) {
        Ok(format) => format,
        Err(error) => return error_response(Format::Json, &error),
    };
    let ctx = Ctx::new(services);
    let outcome = (route.handler)(&ctx, request);
    let format = explicit.unwrap_or(match ctx.prefers_xml.get() {
        Some(true) => Format::Xml,
        _ => Format::Json,
    });
    match outcome {
        Ok(reply) => {
            let mut response = match reply.payload {
                Payload::Value(body) => render(format, reply.status, &body),
                Payload::Rendered(body) => {
                    let bytes = match format {
                        Format::Json => body.json,
                        Format::Xml => body.xml,
                    };
                    response_with(format, reply.status, bytes)
                }
                Payload::Bytes {
                    content_type,
                    cache_control,
                    body,
                } => ApiResponse {
                    status: reply.status,
                    headers: vec![
                        ("content-type".to_owned(), content_type.to_owned()),
                        ("cache-control".to_owned(), cache_control),
                        ("vary".to_owned(), "Authorization, Cookie".to_owned()),
                    ],
                    body,
                    stream: None,
                },
                Payload::Raw(body) => ApiResponse {
                    status: reply.status,
                    headers: Vec::new(),
                    body,
                    stream: None,
                },
                Payload::Stream {
                    content_type,
                    stream,
                } => ApiResponse {
                    status: reply.status,
                    headers: vec![
                        ("content-type".to_owned(), content_type.to_owned()),
                        ("cache-control".to_owned(), "no-store".to_owned()),
                    ],
                    body: Vec::new(),
                    stream: Some(stream),
                },
            };
            response.headers.extend(reply.headers);
            response
        }
        Err(error) => {
            if error.kind == ErrorKind::Internal {
                env.log(&format!(
                    "{} {}: {}",
                    request.method, request.path, error.message
                ));
            }
            error_response(format, &error)
        }
    }
}

/// `{"error": "…"}` in the negotiated format, with the error's headers.
pub fn error_response(format: Format, error: &ApiError) -> ApiResponse {
    let body = Value::dict([("error", Value::str(error.public_message()))]);
    let mut response = render(format, error.status(), &body);
    response.headers.extend(
        error
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone())),
    );
    response
}

fn render(format: Format, status: u16, body: &Value) -> ApiResponse {
    response_with(format, status, format.render(body).into_bytes())
}

fn response_with(format: Format, status: u16, body: Vec<u8>) -> ApiResponse {
    ApiResponse {
        status,
        headers: vec![
            ("content-type".to_owned(), format.content_type().to_owned()),
            ("cache-control".to_owned(), "no-store".to_owned()),
        ],
        body,
        stream: None,
    }
}

/// Refuses a method the route does not serve.
pub fn method_not_allowed(request: &ApiRequest, allowed: &[&str]) -> ApiError {
    ApiError::method_not_allowed(&request.method, allowed)
}
