//! The API's routes: [`ROUTES`] is the one list of them (path, methods,
//! the Spin component that serves it, the stores and variables it is
//! granted), and one module per route holds its [`Route`] (the handler).
//!
//! Everything else that names routes is generated from [`ROUTES`] or
//! checked against it: the 404 answer and its list, the 405 answer and its
//! `Allow` header ([`crate::http::respond`]), the request harness, the
//! hostile and tenant matrices of the end-to-end tests; `spin.toml`, the
//! workspace members, the component build and `openapi.json` are checked
//! by `tests/route_table.rs`. Adding a route: its module here (with its
//! line in [`ROUTES`]), its component crate under `functions/`, its
//! entries in `spin.toml` (ARCHITECTURE.md, "Adding a route").
//!
//! The list holds no handlers: a component links only its own route's
//! code, and the catch-all's 404 list costs a few strings.

pub mod admin;
pub mod data;
pub mod file;
pub mod graphics;
pub mod health;
pub mod ingest;
pub mod key;
pub mod not_found;
pub mod point;
pub mod series;
pub mod session;
pub mod status;
pub mod usage;
pub mod user;

use crate::http::Route;

/// One route: where it is, what it answers, and what the host grants the
/// component that serves it (spin.toml's least-privilege lists).
#[derive(Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// The path a client calls (`/dashboard/...` for a folder of files).
    pub path: &'static str,
    /// The methods it answers; any other gets 405 with these in `Allow`.
    pub methods: &'static [&'static str],
    /// The `spin.toml` route that reaches its component (`/admin/...`
    /// reaches both admin paths).
    pub trigger: &'static str,
    /// The component's id in `spin.toml`, and its crate `functions/<id>`.
    pub component: &'static str,
    /// What the component may open.
    pub grants: Grants,
}

/// The stores and variables a component is granted; nothing else.
#[derive(Debug, PartialEq, Eq)]
pub struct Grants {
    pub key_value: bool,
    pub sqlite: bool,
    pub variables: &'static [&'static str],
}

impl Grants {
    /// No storage, no variables (files embedded in the component).
    pub const NONE: Grants = Grants {
        key_value: false,
        sqlite: false,
        variables: &[],
    };

    /// Both stores and these variables.
    pub const fn stores(variables: &'static [&'static str]) -> Grants {
        Grants {
            key_value: true,
            sqlite: true,
            variables,
        }
    }
}

impl RouteSpec {
    /// A route whose trigger in spin.toml is its own path.
    pub const fn at(
        path: &'static str,
        methods: &'static [&'static str],
        component: &'static str,
        grants: Grants,
    ) -> RouteSpec {
        RouteSpec {
            path,
            methods,
            trigger: path,
            component,
            grants,
        }
    }

    /// Whether this route serves `path` as Spin routes it: segments
    /// compared one by one, empty ones ignored (`//session/` is
    /// `/session`); `/x/...` serves `/x` and everything below it.
    pub fn serves(&self, path: &str) -> bool {
        let mut asked = path.split('/').filter(|s| !s.is_empty());
        match self.path.strip_suffix("/...") {
            Some(prefix) => prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .all(|segment| asked.next() == Some(segment)),
            None => self.path.split('/').filter(|s| !s.is_empty()).eq(asked),
        }
    }

    /// Whether the catch-all serves it (no route of its own).
    pub fn is_catch_all(&self) -> bool {
        self.path == "/..."
    }
}

/// Every route, in the order the 404 answer lists them; the catch-all
/// last.
pub const ROUTES: &[&RouteSpec] = &[
    &session::SPEC,
    &key::SPEC,
    &user::SPEC,
    &data::DATA_SPEC,
    &data::INTERVAL_SPEC,
    &point::SPEC,
    &file::SPEC,
    &graphics::SPEC,
    &series::SPEC,
    &usage::SPEC,
    &status::SPEC,
    &ingest::SPEC,
    &admin::PROJECTS_SPEC,
    &admin::INGEST_TOKEN_SPEC,
    &health::SPEC,
    &OPENAPI,
    &DASHBOARD_PAGE,
    &DASHBOARD_FILES,
    &not_found::SPEC,
];

/// `GET /openapi.json`: served by its component from the embedded
/// document (`functions/openapi`).
pub const OPENAPI: RouteSpec =
    RouteSpec::at("/openapi.json", &["GET", "HEAD"], "openapi", Grants::NONE);

/// The dashboard's page (`functions/dashboard`).
pub const DASHBOARD_PAGE: RouteSpec =
    RouteSpec::at("/", &["GET", "HEAD"], "dashboard", Grants::NONE);

/// The dashboard's script, WebAssembly and style.
pub const DASHBOARD_FILES: RouteSpec = RouteSpec::at(
    "/dashboard/...",
    &["GET", "HEAD"],
    "dashboard",
    Grants::NONE,
);

/// The core routes with their handlers, for tests that serve them without
/// a host (the request harness, the fuzz targets): one per [`ROUTES`]
/// entry whose component is built on the core, checked by a test.
#[doc(hidden)]
pub const HANDLED: &[&Route] = &[
    &session::ROUTE,
    &key::ROUTE,
    &user::ROUTE,
    &data::DATA_ROUTE,
    &data::INTERVAL_ROUTE,
    &point::ROUTE,
    &file::ROUTE,
    &graphics::ROUTE,
    &series::ROUTE,
    &usage::ROUTE,
    &status::ROUTE,
    &ingest::ROUTE,
    &admin::PROJECTS,
    &admin::INGEST_TOKEN,
    &health::ROUTE,
    &not_found::ROUTE,
];
