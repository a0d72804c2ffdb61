//! HTTP route matching, as Spin's `spin-http` `routes.rs` does it.
//!
//! * A route is made absolute and one trailing `/` is stripped (Spin's
//!   `sanitize`), so `/x/` in a manifest means `/x`.
//! * Paths are compared segment by segment, and empty segments do not count
//!   (Spin's `routefinder`): `/x` matches `/x`, `/x/`, `//x` and `/x//`, but
//!   not `/x/y`; the query is not part of the path. (Tried on Spin 3.6.3.)
//! * `/x/...` is a wildcard: it matches `/x` and every path whose first
//!   segments are `x`; `/...` matches every path.
//! * Most specific wins: an exact match beats any wildcard, a longer wildcard
//!   prefix beats a shorter one.
//!
//! Route parameters (`/users/:id`) and `/*` routes, which Spin 3 also
//! accepts, are refused by this host rather than half-supported.

use anyhow::{Result, bail};

/// Spin answers paths under this prefix itself (`health`, `info`); they never
/// reach a component.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoutePattern {
    /// Matches exactly this path (`""` stands for `/`).
    Exact(String),
    /// Matches this prefix itself and everything below `prefix/`
    /// (`""` matches everything).
    Wildcard(String),
}

impl RoutePattern {
    /// Parses a manifest route.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.contains(':') || raw.contains('*') {
            bail!(
                "route parameters (`:name`) and `*` wildcards are not supported by this host; \
                 use an exact route or a trailing `/...`"
            );
        }
        if raw.contains('?') || raw.contains('#') {
            bail!("a route must not contain a query or fragment");
        }
        // Spin's `sanitize_with_base("/", route)`: absolutize, then strip one
        // trailing slash (base "/" sanitizes to "").
        let absolute = if raw.starts_with('/') {
            raw.to_owned()
        } else {
            format!("/{raw}")
        };
        let based = absolute.strip_suffix('/').unwrap_or(&absolute).to_owned();
        let pattern = match based.strip_suffix("/...") {
            Some(prefix) => Self::Wildcard(prefix.to_owned()),
            None => Self::Exact(based),
        };
        let prefix = match &pattern {
            Self::Exact(p) | Self::Wildcard(p) => p,
        };
        if prefix.contains("...") {
            bail!("`...` is only allowed as the last segment of a route");
        }
        if format!("{prefix}/").starts_with(WELL_KNOWN_PREFIX) {
            bail!("routes under {WELL_KNOWN_PREFIX} are reserved by Spin");
        }
        Ok(pattern)
    }

    /// Whether `path` (a request path, without query) matches this pattern.
    pub fn matches(&self, path: &str) -> bool {
        let path = segments(path);
        match self {
            Self::Exact(route) => segments(route).eq(path),
            Self::Wildcard(prefix) => {
                let mut path = path;
                segments(prefix).all(|segment| path.next() == Some(segment))
            }
        }
    }

    /// The route as Spin reports it in `spin-matched-route` (the based route:
    /// sanitized, with `/...` kept for wildcards).
    pub fn based_route(&self) -> String {
        match self {
            Self::Exact(route) => route.clone(),
            Self::Wildcard(prefix) => format!("{prefix}/..."),
        }
    }

    /// `spin-path-info`: the part of the path after a wildcard's prefix
    /// (`/foo/...` on `/foo/bar/` gives `/bar/`, on `/foo` gives ``); empty for
    /// exact routes.
    pub fn path_info(&self, path: &str) -> String {
        match self {
            Self::Exact(_) => String::new(),
            Self::Wildcard(prefix) => path.strip_prefix(prefix.as_str()).unwrap_or("").to_owned(),
        }
    }

    /// How routes are listed at startup ("/x" or "/x (wildcard)"), like Spin.
    pub fn display(&self) -> String {
        match self {
            Self::Exact(route) => route.clone(),
            Self::Wildcard(prefix) => format!("{prefix} (wildcard)"),
        }
    }
}

/// The non-empty segments of a path.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// A route table: `(pattern, value)` pairs.
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T> Router<T> {
    pub fn new(routes: Vec<(RoutePattern, T)>) -> Self {
        Self { routes }
    }

    /// The most specific route matching `path`: an exact match if there is
    /// one, else the matching wildcard with the longest prefix.
    pub fn route(&self, path: &str) -> Option<(&RoutePattern, &T)> {
        self.routes
            .iter()
            .filter(|(pattern, _)| pattern.matches(path))
            .max_by_key(|(pattern, _)| match pattern {
                RoutePattern::Exact(_) => (1, 0),
                RoutePattern::Wildcard(prefix) => (0, prefix.len()),
            })
            .map(|(pattern, value)| (pattern, value))
    }

    pub fn iter(&self) -> impl Iterator<Item = &(RoutePattern, T)> {
        self.routes.iter()
    }
}

/// Matches `path_and_query`'s path against `routes` (route string, value),
/// ignoring the query: a convenience for tests and callers holding raw routes.
pub fn match_route<'a, T>(router: &'a Router<T>, path_and_query: &str) -> Option<&'a T> {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    router.route(path).map(|(_, value)| value)
}
