//! What a successful handler answers with: a [`Reply`] and its [`Payload`].

use crate::error::ApiError;
use crate::format::document::Document;
use crate::format::{DocumentParts, Rendered};
use crate::storage::Sql;
use crate::value::Value;

/// A body produced piece by piece (a file export, whose every call reads
/// the next page from the database; a document in parts): each call
/// returns the next piece's bytes, `None` at the end.
/// It owns its state and borrows the database only per call, so a host can
/// send each chunk before asking for the next.
pub trait ChunkStream {
    fn next_chunk(&mut self, db: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError>;
}

/// A document's parts as a streamed body.
impl ChunkStream for DocumentParts {
    fn next_chunk(&mut self, _db: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.next_part())
    }
}

/// What a successful handler answers with.
pub enum Payload {
    /// Rendered in the negotiated format.
    Value(Value),
    /// Written in the negotiated format (JSON or XML) without a [`Value`]
    /// tree: an answer of many rows. Sent as it is written, part by part,
    /// when it has several ([`Document::parts`]).
    Document(Box<dyn Document>),
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

    /// `body` written in the negotiated format.
    pub fn document(body: impl Document + 'static) -> Self {
        Reply {
            status: 200,
            payload: Payload::Document(Box::new(body)),
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
