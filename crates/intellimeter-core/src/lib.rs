//! The host-agnostic core of the Intellimeter API.
//!
//! Domain rules, authentication, output formats and the route handlers live
//! here. Storage, time, randomness and configuration come in through the
//! traits in [`storage`] and [`env`]; this crate does no I/O and knows
//! nothing about Spin, so it builds natively (for fast unit tests) and for
//! `wasm32-wasip2` (inside the components).

pub mod context;
pub mod domain;
pub mod env;
pub mod error;
pub mod format;
pub mod http;
pub mod readmodel;
pub mod routes;
pub mod security;
pub mod storage;
pub mod value;

pub use context::{Ctx, Services};
pub use error::{ApiError, ErrorKind};
pub use http::request::ApiRequest;
pub use http::{ApiResponse, ChunkStream, Handler, Reply, Route, respond};
pub use value::Value;
