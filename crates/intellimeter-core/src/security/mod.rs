//! Credentials and their rules: authentication of every credential kind
//! ([`auth`]), hashing, sealing and tokens ([`secrets`]), and the
//! throttling of failed attempts ([`throttle`]).

pub mod auth;
pub mod secrets;
pub(crate) mod throttle;
