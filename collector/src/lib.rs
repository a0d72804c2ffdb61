//! The site collector: reads energy meters over Modbus RTU and TCP on
//! wall-clock boundaries, commits every reading to a local SQLite spool,
//! and delivers the spool to the API's `POST /ingest` exactly once
//! (ARCHITECTURE.md, "The collector").
//!
//! `main.rs` parses the command line, calls [`run`], [`run_once`],
//! [`check`] or [`spool_summary`], and prints; everything else is here.
//! The daemon is generic over a [`MeterSource`] (the Modbus [`bus::Fleet`]
//! ships) and an [`UploadSink`] (the HTTP [`upload::Uploader`] ships), so
//! that tests drive the same code with in-memory fakes, in-process Modbus
//! servers (`simulator`, behind the `simulator` feature, which the shipped
//! binary does not enable) and an in-process ingest endpoint.

pub mod backoff;
pub mod bus;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod inspect;
pub mod map;
pub mod outbox;
pub mod plan;
pub mod scan;
pub mod schedule;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sink;
pub mod source;
pub mod spool;
pub mod sunspec;
pub mod upload;

pub use config::Config;
pub use daemon::{run, run_once};
pub use inspect::{check, quarantined, spool_summary};
pub use sink::UploadSink;
pub use source::MeterSource;
