//! Where batches go: an [`UploadSink`] takes one ingest-wire batch and
//! says what became of it; it never changes the spool (the outbox does, on
//! its verdict). `POST /ingest` ([`crate::upload::Uploader`]) is the sink
//! that ships; tests use sinks of their own.

use ingest_wire::Batch;
use std::future::Future;

/// What the server made of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Try again later; why.
    Retry(String),
    /// Refused for good: the status and the server's message.
    Refused(u16, String),
}

/// Delivers batches. The outbox ([`crate::outbox`]) is generic over it.
pub trait UploadSink: Send + 'static {
    /// Delivers `batch` (announcements or readings, never more than the
    /// wire's limits): `Delivered` only once the server has it.
    fn deliver(&mut self, batch: &Batch) -> impl Future<Output = Delivery> + Send;
}
