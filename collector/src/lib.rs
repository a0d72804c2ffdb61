//! The site collector: reads energy meters over Modbus RTU and TCP on
//! wall-clock boundaries, commits every reading to a local SQLite spool,
//! and delivers the spool to the API's `POST /ingest` exactly once
//! (ARCHITECTURE.md, "The collector").
//!
//! `main.rs` parses the command line and calls [`daemon::run`],
//! [`daemon::run_once`] or [`daemon::read_all`]; everything else is here,
//! so that tests drive the same code with in-process Modbus servers
//! (`simulator`, behind the `simulator` feature, which the shipped binary
//! does not enable) and an in-process ingest endpoint.

pub mod backoff;
pub mod bus;
pub mod config;
pub mod daemon;
pub mod map;
pub mod plan;
pub mod schedule;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod spool;
pub mod upload;

pub use config::Config;
pub use daemon::{run, run_once};
