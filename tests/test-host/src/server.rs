//! The HTTP server: hyper on a TCP listener, one fresh wasmtime store and
//! instance per request, as Spin's `trigger-http` does it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use http::uri::{Authority, Scheme as UriScheme};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpView};

use crate::HostConfig;
use crate::kv::{self, KvBackend, KvInstance};
use crate::manifest::{self, App};
use crate::outbound::OutboundPolicy;
use crate::routes::{RoutePattern, Router, WELL_KNOWN_PREFIX};
use crate::runtime::{self, HostState, MemoryMeter, PeakMemory};
use crate::sqlite::{self, SqliteInstance};
use crate::variables::{self, Template, VariablesInstance};

/// A served app. Stops serving on [`RunningApp::shutdown`] or when dropped.
pub struct RunningApp {
    addr: SocketAddr,
    routes: Vec<String>,
    peak_memory: PeakMemory,
    sql_faults: Arc<sqlite::SqlFaults>,
    sql_profile: Arc<sqlite::SqlProfile>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningApp {
    /// The address the app listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The "Available Routes" lines `spin up` prints, e.g.
    /// `  health: http://127.0.0.1:3000/health`.
    pub fn available_routes(&self) -> &[String] {
        &self.routes
    }

    /// The largest linear memory, in bytes, that any one component instance
    /// (one request's store) has had since the app started or since
    /// [`Self::reset_peak_guest_memory`]: the sum of the instance's core
    /// memories, including the size they were created with. Measured by a
    /// resource limiter that never refuses anything, so it does not change
    /// what a component may allocate.
    pub fn peak_guest_memory_bytes(&self) -> u64 {
        self.peak_memory.get()
    }

    /// Sets [`Self::peak_guest_memory_bytes`] back to 0 (e.g. after a
    /// warm-up). An instance still running counts again from its current
    /// size on its next memory growth.
    pub fn reset_peak_guest_memory(&self) {
        self.peak_memory.reset();
    }

    /// Makes one later SQL statement of the app fail: the one after the next
    /// `skip` whose text contains `pattern` (see [`sqlite::SqlFaults`]).
    pub fn inject_sql_fault(&self, pattern: &str, skip: u32) {
        self.sql_faults.arm(pattern, skip);
    }

    /// The app's SQL statements since the last call, by shape: how many,
    /// and how long the guests waited for them (see [`sqlite::SqlProfile`]).
    pub fn take_sql_profile(&self) -> std::collections::BTreeMap<String, sqlite::StatementCost> {
        self.sql_profile.take()
    }

    /// Stops accepting, closes open connections and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One routable component, ready to instantiate.
struct ComponentRuntime {
    id: String,
    pre: ProxyPre<HostState>,
    environment: Vec<(String, String)>,
    allowed_outbound_hosts: Vec<String>,
    key_value_stores: Arc<HashSet<String>>,
    sqlite_databases: Arc<HashSet<String>>,
    variables: Arc<std::collections::BTreeMap<String, Template>>,
}

/// A route's target: the raw manifest route and the component.
struct RouteTarget {
    raw_route: String,
    component: Arc<ComponentRuntime>,
}

/// Shared server state.
struct AppState {
    name: String,
    version: String,
    router: Router<RouteTarget>,
    kv_backend: Arc<KvBackend>,
    sqlite_path: Arc<Path>,
    app_variables: Arc<HashMap<String, String>>,
    /// Fed by every store's [`MemoryMeter`]; read through [`RunningApp`].
    peak_memory: PeakMemory,
    sql_faults: Arc<sqlite::SqlFaults>,
    sql_profile: Arc<sqlite::SqlProfile>,
}

pub async fn start(config: HostConfig) -> Result<RunningApp> {
    let HostConfig {
        manifest_path,
        state_dir,
        listen,
        variables: overrides,
    } = config;

    let app = manifest::load(&manifest_path)?;
    let app_variables =
        variables::resolve_app_variables(&app.variables, &overrides, variables::process_env)?;
    check_labels(&app)?;

    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("failed to create state directory {}", state_dir.display()))?;
    let kv_backend = Arc::new(KvBackend::new(state_dir.join(kv::DEFAULT_KV_FILENAME)));
    let sqlite_path: Arc<Path> = state_dir.join(sqlite::DEFAULT_DB_FILENAME).into();

    // Like Spin's loader, every component's source must exist; only the ones
    // a trigger uses are compiled.
    for component in app.components.values() {
        runtime::ensure_built(&component.id, &component.source)?;
    }
    let linker = runtime::linker()?;
    let mut runtimes: HashMap<String, Arc<ComponentRuntime>> = HashMap::new();
    for id in app.triggered_components() {
        let config = &app.components[id];
        let source = config.source.clone();
        let (component, compile_time) =
            tokio::task::spawn_blocking(move || runtime::load_component(&source))
                .await
                .context("compilation task failed")??;
        if !compile_time.is_zero() {
            eprintln!("test-host: compiled component {id:?} in {compile_time:.2?}");
        }
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            anyhow!("component {id:?} imports something this host does not provide: {e}")
        })?;
        let pre = ProxyPre::new(instance_pre).map_err(|e| {
            anyhow!("component {id:?} does not export wasi:http/incoming-handler@0.2.0: {e}")
        })?;
        runtimes.insert(
            id.to_owned(),
            Arc::new(ComponentRuntime {
                id: id.to_owned(),
                pre,
                environment: config
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                allowed_outbound_hosts: config.allowed_outbound_hosts.clone(),
                key_value_stores: Arc::new(config.key_value_stores.iter().cloned().collect()),
                sqlite_databases: Arc::new(config.sqlite_databases.iter().cloned().collect()),
                variables: Arc::new(config.variables.clone()),
            }),
        );
    }

    let router = Router::new(
        app.http_triggers
            .iter()
            .map(|trigger| {
                (
                    trigger.pattern.clone(),
                    RouteTarget {
                        raw_route: trigger.raw_route.clone(),
                        component: runtimes[&trigger.component].clone(),
                    },
                )
            })
            .collect(),
    );

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("Unable to listen on {listen}"))?;
    let addr = listener.local_addr()?;

    let peak_memory = PeakMemory::default();
    let sql_faults = Arc::new(sqlite::SqlFaults::default());
    let sql_profile = Arc::new(sqlite::SqlProfile::default());
    let state = Arc::new(AppState {
        name: app.name.clone(),
        version: app.version.clone(),
        router,
        kv_backend,
        sqlite_path,
        app_variables: Arc::new(app_variables),
        peak_memory: peak_memory.clone(),
        sql_faults: sql_faults.clone(),
        sql_profile: sql_profile.clone(),
    });

    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, state, shutdown_rx));
    Ok(RunningApp {
        addr,
        routes: route_listing(&app, &format!("http://{addr}")),
        peak_memory,
        sql_faults,
        sql_profile,
        shutdown: Some(shutdown_tx),
        task: Some(task),
    })
}

/// Every store/database label a component lists must be backed, or the app
/// does not start (Spin: "unknown key_value_stores label").
fn check_labels(app: &App) -> Result<()> {
    for (label, component) in app.key_value_labels() {
        if !kv::is_configured(label) {
            bail!(
                "component {component:?} uses key-value store {label:?}, which is not configured: \
                 only \"default\" exists without a runtime config"
            );
        }
    }
    for (label, component) in app.sqlite_labels() {
        if !sqlite::is_configured(label) {
            bail!(
                "component {component:?} uses SQLite database {label:?}, which is not configured: \
                 only \"default\" exists without a runtime config"
            );
        }
    }
    Ok(())
}

/// The routes as `spin up` lists them at startup.
fn route_listing(app: &App, base_url: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for trigger in &app.http_triggers {
        lines.push(format!(
            "  {}: {}{}",
            trigger.component,
            base_url,
            trigger.pattern.display()
        ));
        if let Some(component) = app.components.get(&trigger.component)
            && !component.description.is_empty()
        {
            lines.push(format!("    {}", component.description));
        }
    }
    lines
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, client_addr)) => {
                    let state = state.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let state = state.clone();
                            async move { handle(state, request, client_addr).await }
                        });
                        if let Err(err) = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            eprintln!("test-host: error serving HTTP connection: {err:?}");
                        }
                    });
                }
                Err(err) => {
                    eprintln!("test-host: accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn status_response(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Handles one request: Spin's well-known paths, routing, then the component.
/// An `Err` closes the connection without a response (as Spin does when the
/// request has no usable authority).
async fn handle(
    state: Arc<AppState>,
    mut request: Request<Incoming>,
    client_addr: SocketAddr,
) -> Result<Response<HyperOutgoingBody>> {
    let path = request.uri().path().to_owned();

    if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        return Ok(match well_known {
            "health" => Response::new(full_body("OK")),
            "info" => {
                let mut response = Response::new(full_body(app_info_json(&state)));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            _ => status_response(StatusCode::NOT_FOUND),
        });
    }

    let Some((pattern, target)) = state.router.route(&path) else {
        // Spin answers an unmatched path with an empty 404.
        return Ok(status_response(StatusCode::NOT_FOUND));
    };

    set_request_uri(&mut request)?;
    let method = request.method().clone();
    match execute(&state, pattern, target, request, client_addr).await {
        Ok(response) => Ok(response),
        Err(err) => {
            eprintln!(
                "test-host: component {:?} failed on {method} {path}: {err:?}",
                target.component.id
            );
            // Spin answers a failed component with an empty 500.
            Ok(status_response(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// Spin's `set_req_uri`: make the URI absolute from the `Host` header.
fn set_request_uri(request: &mut Request<Incoming>) -> Result<()> {
    let header_authority = request
        .headers()
        .get(http::header::HOST)
        .map(|value| -> Result<Authority> {
            let host = value.to_str().context("'Host' header is not valid UTF-8")?;
            host.parse()
                .context("'Host' header contains an invalid authority")
        })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (header_authority, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (None, Some(a)) | (Some(a), None) => a,
        (Some(a1), Some(a2)) => {
            if a1 != a2 {
                bail!("authority in 'Host' header does not match authority in URI");
            }
            a1
        }
    };
    parts.scheme = Some(UriScheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some("/".parse()?);
    }
    *request.uri_mut() = Uri::from_parts(parts)?;
    Ok(())
}

/// The headers Spin adds for the component (`compute_default_headers`).
fn spin_headers(
    uri: &Uri,
    host: &str,
    pattern: &RoutePattern,
    raw_route: &str,
    client_addr: SocketAddr,
) -> Vec<(&'static str, String)> {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let scheme = uri.scheme_str().unwrap_or("http");
    vec![
        ("spin-path-info", pattern.path_info(uri.path())),
        (
            "spin-full-url",
            format!("{scheme}://{host}{path_and_query}"),
        ),
        ("spin-matched-route", pattern.based_route()),
        ("spin-base-path", "/".to_owned()),
        ("spin-raw-component-route", raw_route.to_owned()),
        (
            "spin-component-route",
            raw_route
                .strip_suffix("/...")
                .unwrap_or(raw_route)
                .to_owned(),
        ),
        ("spin-client-addr", client_addr.to_string()),
    ]
}

/// Runs the component for one request in a fresh store.
async fn execute(
    state: &AppState,
    pattern: &RoutePattern,
    target: &RouteTarget,
    mut request: Request<Incoming>,
    client_addr: SocketAddr,
) -> Result<Response<HyperOutgoingBody>> {
    let component = &target.component;

    // Spin rebuilds the header map: every original header (values must be
    // UTF-8), then its own headers appended.
    for value in request.headers().values() {
        std::str::from_utf8(value.as_bytes()).context("request header is not valid UTF-8")?;
    }
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    for (name, value) in spin_headers(
        request.uri(),
        &host,
        pattern,
        &target.raw_route,
        client_addr,
    ) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            request
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }

    let wasi = WasiCtx::builder()
        .inherit_stdout()
        .inherit_stderr()
        .envs(&component.environment)
        .build();
    let host_state = HostState {
        table: ResourceTable::new(),
        wasi,
        http: WasiHttpCtx::new(),
        outbound: OutboundPolicy::new(component.allowed_outbound_hosts.clone()),
        kv: KvInstance::new(component.key_value_stores.clone(), state.kv_backend.clone()),
        sqlite: SqliteInstance::new(
            component.sqlite_databases.clone(),
            state.sqlite_path.clone(),
        )
        .with_faults(state.sql_faults.clone())
        .with_profile(state.sql_profile.clone()),
        variables: VariablesInstance::new(
            component.id.clone(),
            component.variables.clone(),
            state.app_variables.clone(),
        ),
        memory: MemoryMeter::new(state.peak_memory.clone()),
    };
    let mut store = Store::new(runtime::engine(), host_state);
    // Set before instantiation, so the memories' initial sizes are seen too.
    store.limiter(|state| &mut state.memory);

    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let (response_tx, response_rx) = oneshot::channel();
    let outparam = store.data_mut().http().new_response_outparam(response_tx)?;

    let pre = component.pre.clone();
    let guest = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
    });

    match response_rx.await {
        Ok(response) => {
            // The response goes to hyper as soon as the guest sets it; its
            // body is wasmtime-wasi-http's channel-backed stream, so hyper
            // sends each chunk as the guest writes it (nothing here buffers
            // the whole body): the guest may write up to
            // `p2_outgoing_body_chunk_size` (1 MiB) per call and the channel
            // holds `p2_outgoing_body_buffer_chunks` + 1 (2) chunks before the
            // guest's stream reports no capacity and it must wait for hyper.
            // hyper polls the next chunk only while its write queue is under
            // its `max_buf_size` (~400 KiB) and writes the queue out whenever
            // the body has nothing ready, so a slow writer's chunks leave at
            // once and a fast one is held back by the socket.
            //
            // The guest may still be streaming the body; report a late failure.
            let id = component.id.clone();
            tokio::spawn(async move {
                match guest.await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        eprintln!("test-host: component {id:?} error after response: {err:?}")
                    }
                    Err(err) => eprintln!("test-host: component {id:?} task failed: {err}"),
                }
            });
            response.map_err(|code| anyhow!("guest failed to produce a response: {code:?}"))
        }
        Err(_) => {
            guest
                .await
                .context("guest invocation panicked")?
                .map_err(anyhow::Error::from)
                .context("guest invocation failed")?;
            bail!("guest failed to produce a response prior to returning")
        }
    }
}

/// Spin's `/.well-known/spin/info` body (pretty JSON of name and version).
fn app_info_json(state: &AppState) -> String {
    let mut json = format!("{{\n  \"name\": {}", json_string(&state.name));
    if !state.version.is_empty() {
        json.push_str(&format!(
            ",\n  \"version\": {}",
            json_string(&state.version)
        ));
    }
    json.push_str("\n}");
    json
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
