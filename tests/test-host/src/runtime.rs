//! The wasmtime side: one process-wide engine, a process-wide cache of
//! compiled components, the per-instance store data and the linker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::fermyon::spin;
use crate::kv::KvInstance;
use crate::outbound::OutboundPolicy;
use crate::sqlite::SqliteInstance;
use crate::variables::VariablesInstance;

/// The process-wide engine: compiled components can be shared between every
/// `serve` call in a test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = Config::new();
        Engine::new(&config).expect("default wasmtime configuration is valid")
    })
}

/// Cache key of a compiled component: the file's identity and version.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ComponentKey {
    path: PathBuf,
    modified: SystemTime,
    size: u64,
}

/// Compiles the component at `path`, or returns the cached compilation of the
/// same file (same canonical path, mtime and size). Blocking: call it on the
/// blocking pool. Returns the component and the time spent compiling (zero
/// when cached).
pub fn load_component(path: &Path) -> Result<(Component, Duration)> {
    static CACHE: OnceLock<Mutex<HashMap<ComponentKey, Component>>> = OnceLock::new();

    let canonical = path
        .canonicalize()
        .with_context(|| format!("failed to resolve {}", path.display()))?;
    let metadata = std::fs::metadata(&canonical)
        .with_context(|| format!("failed to stat {}", canonical.display()))?;
    let key = ComponentKey {
        path: canonical.clone(),
        modified: metadata.modified()?,
        size: metadata.len(),
    };
    // Held while compiling, so concurrent `serve` calls compile a file once.
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(component) = cache.get(&key) {
        return Ok((component.clone(), Duration::ZERO));
    }
    let started = Instant::now();
    let component = Component::from_file(engine(), &canonical)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("failed to compile component {}", canonical.display()))?;
    let elapsed = started.elapsed();
    cache.insert(key, component.clone());
    Ok((component, elapsed))
}

/// Checks that a component's `.wasm` exists, with the hint Spin users need.
pub fn ensure_built(component_id: &str, path: &Path) -> Result<()> {
    if !path.is_file() {
        bail!(
            "component {component_id:?}: {} not found. Build the components first: \
             `cargo build --target wasm32-wasip2 --release`",
            path.display()
        );
    }
    Ok(())
}

/// Everything one component instance (one request) owns.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound: OutboundPolicy,
    pub kv: KvInstance,
    pub sqlite: SqliteInstance,
    pub variables: VariablesInstance,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// WASI p2, wasi-http p2 and the three Spin interfaces; nothing else.
pub fn linker() -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::key_value::add_to_linker::<HostState, HasSelf<KvInstance>>(&mut linker, |state| {
        &mut state.kv
    })?;
    spin::sqlite::add_to_linker::<HostState, HasSelf<SqliteInstance>>(&mut linker, |state| {
        &mut state.sqlite
    })?;
    spin::variables::add_to_linker::<HostState, HasSelf<VariablesInstance>>(
        &mut linker,
        |state| &mut state.variables,
    )?;
    Ok(linker)
}
