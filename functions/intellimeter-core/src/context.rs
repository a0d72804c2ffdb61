//! Running one request: the services a handler may use, what it returns,
//! and the single function that turns either into an HTTP response.

use crate::env::Env;
use crate::error::{ApiError, ErrorKind};
use crate::format::Format;
use crate::migrations;
use crate::readmodel::Rendered;
use crate::request::{ApiRequest, MAX_BODY_BYTES, requested_format};
use crate::storage::{KeyValue, Sql};
use crate::value::Value;
use std::cell::Cell;

/// The storage and environment of one request. The host opens stores
/// lazily, so a route that never touches SQLite never opens it.
pub struct Services<'a> {
    pub db: &'a dyn Sql,
    pub kv: &'a dyn KeyValue,
    pub env: &'a dyn Env,
}

/// What a handler gets: the services, plus what authentication learned.
pub struct Ctx<'a> {
    services: Services<'a>,
    migrated: Cell<bool>,
    /// The caller's stored XML preference, once known.
    pub(crate) prefers_xml: Cell<Option<bool>>,
}

impl<'a> Ctx<'a> {
    pub fn new(services: Services<'a>) -> Self {
        Ctx {
            services,
            migrated: Cell::new(false),
            prefers_xml: Cell::new(None),
        }
    }

    /// The SQL database, with the schema brought up to date on first use.
    pub fn db(&self) -> Result<&'a dyn Sql, ApiError> {
        if !self.migrated.get() {
            migrations::apply(self.services.db)?;
            self.migrated.set(true);
        }
        Ok(self.services.db)
    }

    pub fn kv(&self) -> &'a dyn KeyValue {
        self.services.kv
    }

    pub fn env(&self) -> &'a dyn Env {
        self.services.env
    }

    pub fn now(&self) -> i64 {
        self.services.env.now()
    }
}

/// A body produced piece by piece (a file export): each call reads the
/// next page from the database and returns its bytes, `None` at the end.
/// It owns its state and borrows the database only per call, so a host can
/// send each chunk before asking for the next.
pub trait ChunkStream {
    fn next_chunk(&mut self, db: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError>;
}

/// What a successful handler answers with.
pub enum Payload {
    /// Rendered in the negotiated format.
    Value(Value),
    /// Already rendered in each format (a read model); the negotiated one
    /// is sent.
    Rendered(Rendered),
    /// Bytes with their own content type and caching (a PNG chart).
    Bytes {
        content_type: &'static str,
        cache_control: String,
        body: Vec<u8>,
    },
    /// Sent as is: every header comes from the reply (static files).
    Raw(Vec<u8>),
    /// Streamed as is, with its own content type.
    Stream {
        content_type: &'static str,
        stream: Box<dyn ChunkStream>,
    },
}

/// A successful answer: status, body and extra headers.
pub struct Reply {
    pub status: u16,
    pub payload: Payload,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            payload: Payload::Value(body),
            headers: Vec::new(),
        }
    }

    pub fn rendered(body: Rendered) -> Self {
        Reply {
            status: 200,
            payload: Payload::Rendered(body),
            headers: Vec::new(),
        }
    }

    pub fn created(body: Value) -> Self {
        Reply {
            status: 201,
            ..Reply::ok(body)
        }
    }

    pub fn stream(content_type: &'static str, stream: Box<dyn ChunkStream>) -> Self {
        Reply {
            status: 200,
            payload: Payload::Stream {
                content_type,
                stream,
            },
            headers: Vec::new(),
        }
    }

    /// A body of `content_type` that private caches may keep as
    /// `cache_control` says; it varies with who asks.
    pub fn bytes(content_type: &'static str, cache_control: String, body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            payload: Payload::Bytes {
                content_type,
                cache_control,
                body,
            },
            headers: Vec::new(),
        }
    }

    /// `body` with exactly the reply's headers and no others.
    pub fn raw(status: u16, body: Vec<u8>) -> Self {
        Reply {
            status,
            payload: Payload::Raw(body),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

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
