//! The one place that decides HTTP status codes: every failure is an
//! [`ApiError`] whose [`ErrorKind`] maps to exactly one status.

use crate::storage::{StorageError, Transient};

/// What went wrong, as a client can branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    /// A fault of ours or of the storage behind us. The client is told
    /// little; the cause is logged.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Internal => 500,
        }
    }
}

/// A request that cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    /// For 4xx: says exactly what was wrong, and is sent to the client.
    /// For 5xx: the cause, logged and never sent.
    pub message: String,
    /// Extra response headers (`Allow` on 405, `Retry-After` on 429,
    /// `WWW-Authenticate` on 401).
    pub headers: Vec<(&'static str, String)>,
    /// The storage failure behind an internal error, kept whole: whether
    /// it may be retried is asked of it, not read from the message.
    pub source: Option<StorageError>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            headers: Vec::new(),
            source: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// 405 with the `Allow` header listing what the route does accept.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        let mut error = Self::new(
            ErrorKind::MethodNotAllowed,
            format!("method {method} is not allowed here; allowed: {allow}"),
        );
        error.headers.push(("allow", allow));
        error
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i64) -> Self {
        let mut error = Self::new(ErrorKind::TooManyRequests, message);
        error
            .headers
            .push(("retry-after", retry_after_seconds.max(1).to_string()));
        error
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// What the client may read: the message for 4xx, a fixed text for 5xx.
    pub fn public_message(&self) -> &str {
        if self.kind == ErrorKind::Internal {
            "internal error; the cause has been logged"
        } else {
            &self.message
        }
    }
}

impl Transient for ApiError {
    fn is_transient(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|source| source.is_transient())
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        let mut api_error = ApiError::internal(format!("storage: {error}"));
        api_error.source = Some(error);
        api_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_the_usual_ones() {
        assert_eq!(ApiError::bad_request("x").status(), 400);
        assert_eq!(ApiError::unauthorized("x").status(), 401);
        assert_eq!(ApiError::conflict("x").status(), 409);
        assert_eq!(ApiError::internal("x").status(), 500);
        let error = ApiError::method_not_allowed("PATCH", &["GET", "POST"]);
        assert_eq!(error.status(), 405);
        assert_eq!(error.headers, vec![("allow", "GET, POST".to_owned())]);
    }

    #[test]
    fn internal_causes_are_not_shown() {
        let error = ApiError::internal("disk on fire at /var/db");
        assert!(!error.public_message().contains("disk"));
    }
}
