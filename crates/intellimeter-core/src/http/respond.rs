//! The single function that turns a handler's outcome into an HTTP
//! response, and the route a component serves.

use crate::context::{Ctx, Services};
use crate::error::{ApiError, ErrorKind};
use crate::format::{DocumentParts, Format};
use crate::http::encoding;
use crate::http::reply::{Payload, Reply};
use crate::http::request::{
    ApiRequest, MAX_BODY_BYTES, answer_format, format_before_handler, requested_format,
};
use crate::routes::RouteSpec;
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

/// A route as a component serves it: its entry in the route table, its
/// handler, and how large a request body it accepts.
pub struct Route {
    pub spec: &'static RouteSpec,
    pub handler: Handler,
    pub max_body_bytes: usize,
}

impl Route {
    /// A route with the default body limit ([`MAX_BODY_BYTES`]).
    pub const fn new(spec: &'static RouteSpec, handler: Handler) -> Self {
        Route {
            spec,
            handler,
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

/// The route among a component's `routes` that serves `path` (a component
/// behind a wildcard such as `/admin/...` serves several); a path none of
/// them serves is a 404 that lists theirs.
pub fn route_for<'a>(routes: &[&'a Route], path: &str) -> Result<&'a Route, ApiError> {
    if let Some(route) = routes.iter().find(|route| route.spec.serves(path)) {
        return Ok(route);
    }
    let component = routes.first().map_or("", |route| route.spec.component);
    let paths: Vec<&str> = routes.iter().map(|route| route.spec.path).collect();
    Err(ApiError::not_found(format!(
        "no route {path}; the {component} routes are {}",
        paths.join(", ")
    )))
}

pub type Handler = fn(&Ctx, &ApiRequest) -> Result<Reply, ApiError>;

/// Answers `request` with whichever of a component's `routes` serves its
/// path (404 when none does), as a host does that has read the whole body.
pub fn respond_among(routes: &[&Route], request: &ApiRequest, services: Services) -> ApiResponse {
    match route_for(routes, &request.path) {
        Ok(route) => respond(route, request, services),
        Err(error) => error_response(format_before_handler(request), &error),
    }
}

/// Runs the route's handler and renders its outcome in the negotiated
/// format, compressed as the request allows ([`encoding::negotiate`]).
/// Never panics on bad input; internal errors are logged and answered with
/// a short 500.
pub fn respond(route: &Route, request: &ApiRequest, services: Services) -> ApiResponse {
    let mut response = answer(route, request, services);
    encoding::negotiate(
        &request.method,
        request.header("accept-encoding"),
        &mut response,
    );
    response
}

/// The answer to `request`, before content coding.
fn answer(route: &Route, request: &ApiRequest, services: Services) -> ApiResponse {
    let env = services.env;
    let explicit = match requested_format(request) {
        Ok(format) => format,
        Err(error) => return error_response(Format::Json, &error),
    };
    let ctx = Ctx::new(services);
    let spec = route.spec;
    let outcome = if spec.is_catch_all() || spec.methods.contains(&request.method.as_str()) {
        (route.handler)(&ctx, request)
    } else {
        Err(ApiError::method_not_allowed(&request.method, spec.methods))
    };
    let format = answer_format(explicit, ctx.prefers_xml.get());
    match outcome {
        Ok(reply) => {
            let mut response = match reply.payload {
                Payload::Value(body) => render(format, reply.status, &body),
                Payload::Document(document) if document.parts() > 1 => {
                    let mut response = response_with(format, reply.status, Vec::new());
                    response.stream = Some(Box::new(DocumentParts::new(format, document)));
                    response
                }
                Payload::Document(document) => {
                    response_with(format, reply.status, format.write(&*document))
                }
                Payload::Rendered(body) => {
                    let bytes = match format.of_answer() {
                        Format::Xml => body.xml,
                        _ => body.json,
                    };
                    if bytes.is_empty() {
                        // Rendered in the other format only
                        // (`Rendered::only`): a bug, never an empty 200.
                        env.log(&format!(
                            "{} {}: the answer was not rendered in {format:?}",
                            request.method, request.path
                        ));
                        return error_response(format, &ApiError::internal("unrendered answer"));
                    }
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
            (
                "content-type".to_owned(),
                format.of_answer().content_type().to_owned(),
            ),
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
