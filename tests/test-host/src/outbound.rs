//! Outbound networking policy.
//!
//! Spin denies outbound HTTP (and sockets) unless the component's
//! `allowed_outbound_hosts` allows the destination. This host is stricter:
//! a request to a host that is not listed fails with `HTTP-request-denied`
//! (Spin's answer), and a request to a listed host fails too, because this
//! host has no outbound HTTP client (the apps it serves make no outbound
//! calls). WASI sockets are never granted.

use std::collections::BTreeMap;

use anyhow::{Result, bail, ensure};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::manifest::VariableDecl;
use crate::variables::Template;

/// Checks the shape Spin requires of an `allowed_outbound_hosts` entry:
/// `scheme://host[:port]` (with `*` wildcards), optionally using `{{ var }}`
/// templates over declared application variables.
pub fn validate_allowed_host(
    entry: &str,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<()> {
    let template = Template::parse(entry).map_err(|e| anyhow::anyhow!("invalid template: {e}"))?;
    for var in template.referenced() {
        ensure!(
            app_variables.contains_key(var),
            "refers to undeclared application variable {var:?}"
        );
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!("does not have a scheme (expected e.g. \"https://example.com\")");
    };
    ensure!(!scheme.is_empty(), "empty scheme");
    ensure!(!rest.is_empty(), "empty host");
    ensure!(
        !rest.trim_end_matches('/').contains('/'),
        "must not contain a path"
    );
    Ok(())
}

/// Whether `allowed` permits a request to `scheme://host:port`.
fn is_allowed(allowed: &[String], scheme: &str, host: &str, port: u16) -> bool {
    allowed.iter().any(|entry| {
        let Some((entry_scheme, rest)) = entry.split_once("://") else {
            return false;
        };
        let rest = rest.trim_end_matches('/');
        let (entry_host, entry_port) = match rest.rsplit_once(':') {
            Some((h, p))
                if p == "*" || (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
            {
                (h, Some(p))
            }
            _ => (rest, None),
        };
        let scheme_ok = entry_scheme == "*" || entry_scheme.eq_ignore_ascii_case(scheme);
        let host_ok = entry_host == "*"
            || entry_host.eq_ignore_ascii_case(host)
            || entry_host.strip_prefix("*.").is_some_and(|suffix| {
                host.to_ascii_lowercase()
                    .ends_with(&format!(".{}", suffix.to_ascii_lowercase()))
            });
        let port_ok = match entry_port {
            Some("*") => true,
            Some(p) => p.parse::<u16>().ok() == Some(port),
            None => port == default_port(scheme),
        };
        scheme_ok && host_ok && port_ok
    })
}

fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" => 80,
        _ => 443,
    }
}

/// `WasiHttpHooks` that never send anything.
pub struct OutboundPolicy {
    allowed: Vec<String>,
}

impl OutboundPolicy {
    pub fn new(allowed: Vec<String>) -> Self {
        Self { allowed }
    }

    /// The error an outgoing request to `uri` gets.
    pub fn deny(&self, uri: &http::Uri) -> Error {
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or_else(|| default_port(scheme));
        if is_allowed(&self.allowed, scheme, host, port) {
            Error::InternalError(Some(
                "outbound HTTP is not supported by the test host".into(),
            ))
        } else {
            eprintln!(
                "test-host: outbound request to {scheme}://{host}:{port} denied: not in allowed_outbound_hosts"
            );
            Error::HttpRequestDenied
        }
    }
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = std::result::Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = std::result::Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = std::result::Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let error = self.deny(request.uri());
        Box::new(async move { Err(error) })
    }
}
