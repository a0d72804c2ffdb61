//! The wasmtime side: one process-wide engine, a process-wide cache of
//! compiled components, the per-instance store data (with its memory
//! meter) and the linker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::fermyon::spin;
use crate::bindings::wasi::keyvalue as wasi_keyvalue;
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
    /// The store's resource limiter: limits nothing, measures memory.
    pub memory: MemoryMeter,
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

/// The largest linear memory (in bytes) any one component instance of an
/// app has had, shared by all of the app's stores. Cheap: one atomic,
/// updated only when a memory is created or grows.
#[derive(Debug, Clone, Default)]
pub struct PeakMemory(Arc<AtomicU64>);

impl PeakMemory {
    /// The peak since the app started or since the last [`Self::reset`].
    pub fn get(&self) -> u64 {
        // Relaxed: the counter publishes no other data; readers only need
        // its own latest value.
        self.0.load(Ordering::Relaxed)
    }

    /// Forgets the peak. Instances still running report their full size
    /// again on their next growth.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    fn record(&self, bytes: usize) {
        self.0
            .fetch_max(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// A per-store [`ResourceLimiter`] that allows everything (Spin sets no
/// memory or table limit by default, so neither may we) and records the
/// instance's linear memory into the app's [`PeakMemory`].
///
/// A component instance may hold several core memories; wasmtime tells the
/// limiter `current -> desired` for each memory's creation (`current` = 0)
/// and growth without saying which memory it is, so the meter keeps the
/// store's total as the sum of the growths granted. Instance, table and
/// memory counts keep wasmtime's defaults (the same as having no limiter).
#[derive(Debug)]
pub struct MemoryMeter {
    peak: PeakMemory,
    /// Bytes of linear memory this store's instances hold.
    total: usize,
    /// What the last `memory_growing` call added to `total`, taken back if
    /// wasmtime then reports that this growth failed.
    last_growth: usize,
}

impl MemoryMeter {
    pub fn new(peak: PeakMemory) -> Self {
        Self {
            peak,
            total: 0,
            last_growth: 0,
        }
    }
}

impl ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // wasmtime refuses a growth past the memory's maximum right after
        // asking us: such a growth never happens, so it is not counted.
        self.last_growth = if maximum.is_none_or(|max| desired <= max) {
            desired.saturating_sub(current)
        } else {
            0
        };
        self.total = self.total.saturating_add(self.last_growth);
        self.peak.record(self.total);
        // Always allow, as Spin does without a configured limit.
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // With 64 KiB pages (custom page sizes are not enabled in `engine`)
        // wasmtime calls this only right after the `memory_growing` that
        // allowed the failed growth, e.g. when the OS refused the memory or
        // the growth passed the maximum. Take that growth back from the
        // store's total; the app's peak may keep it, which only a failing
        // allocation can cause. `Ok` keeps wasmtime's default behaviour
        // (`memory.grow` returns -1).
        self.total = self
            .total
            .saturating_sub(std::mem::take(&mut self.last_growth));
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// WASI p2, wasi-http p2, the three Spin interfaces and `wasi:keyvalue`'s
/// store and batch; nothing else.
pub fn linker() -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::key_value::add_to_linker::<HostState, HasSelf<KvInstance>>(&mut linker, |state| {
        &mut state.kv
    })?;
    wasi_keyvalue::store::add_to_linker::<HostState, HasSelf<KvInstance>>(&mut linker, |state| {
        &mut state.kv
    })?;
    wasi_keyvalue::batch::add_to_linker::<HostState, HasSelf<KvInstance>>(&mut linker, |state| {
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
