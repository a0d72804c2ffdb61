//! The HTTP edge of the core: requests in ([`request`]), replies out
//! ([`reply`], [`respond`]), and embedded static files ([`static_files`]).

pub(crate) mod encoding;
pub mod reply;
pub mod request;
pub mod respond;
pub mod static_files;

pub use reply::{ChunkStream, Payload, Reply};
pub use respond::{
    ApiResponse, Handler, Route, error_response, method_not_allowed, respond, respond_among,
    route_for,
};
