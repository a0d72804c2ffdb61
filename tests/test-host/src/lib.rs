//! A local stand-in for Fermyon Spin's `spin up`, for end-to-end tests.
//!
//! [`serve`] reads an app's `spin.toml` (manifest version 2), and serves each
//! component's HTTP route on a local address, running the real `.wasm`
//! components (`wasi:http/incoming-handler@0.2.0`) in wasmtime with Spin's
//! key-value, SQLite and variables interfaces. It follows Spin's behaviour
//! (routes, request headers, storage semantics, capability checks) and is
//! never more lenient than Spin: what it does not support, it refuses.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let app = test_host::serve(test_host::HostConfig {
//!     manifest_path: "spin.toml".into(),
//!     state_dir: "target/e2e-state".into(),
//!     listen: "127.0.0.1:0".parse()?,
//!     variables: Default::default(),
//! })
//! .await?;
//! let res = test_host::client::request(&app.base_url(), "GET", "/health", &[], vec![]).await?;
//! assert_eq!(res.status, 200);
//! app.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod kv;
pub mod manifest;
pub mod outbound;
pub mod routes;
mod runtime;
mod server;
pub mod sqlite;
mod table;
pub mod variables;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Host bindings for the Spin interfaces this host provides, generated from
/// `wit/` (copied from spin-sdk 5.2.0's `fermyon:spin@2.0.0`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "fermyon:spin/test-host",
        // Host functions are async (SQLite runs on the blocking pool) and may
        // trap (an invalid resource handle), like Spin's.
        imports: { default: async | trappable },
        additional_derives: [PartialEq],
    });
}

pub use server::RunningApp;

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Path to `spin.toml`.
    pub manifest_path: PathBuf,
    /// Where `sqlite_db.db` and `sqlite_key_value.db` live (Spin's `.spin/`);
    /// created if missing.
    pub state_dir: PathBuf,
    /// Address to listen on (`127.0.0.1:0` in tests).
    pub listen: SocketAddr,
    /// Application variable values, by (lowercase) name; these win over
    /// `SPIN_VARIABLE_<NAME>` and over the manifest default.
    pub variables: BTreeMap<String, String>,
}

/// Loads the app, checks it, compiles its components and starts serving.
///
/// Fails, like `spin up`, on an invalid manifest, a missing required
/// variable, a store/database label that is not configured, or a component
/// `.wasm` that has not been built.
pub async fn serve(config: HostConfig) -> anyhow::Result<RunningApp> {
    server::start(config).await
}
