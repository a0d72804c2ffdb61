//! A host-neutral HTTP request, its parameters and the response format it
//! negotiated.

use crate::error::{ApiError, ErrorKind};
use crate::format::Format;
use std::collections::BTreeMap;

/// Largest body accepted by the account routes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path without the query, e.g. `/session`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// Splits `path?query`.
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        ApiRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.to_owned(),
            ..ApiRequest::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The last value of header `name`. Spin appends the headers it sets
    /// (`spin-client-addr`, `spin-full-url`, …) after the client's own
    /// headers, so a client that sends its own copy never gets the last word.
    pub fn last_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value the client sent for cookie `name`, in order. A browser
    /// sends several when other sites of the domain planted their own.
    pub fn cookies<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(|(key, _)| key == "cookie")
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(move |(key, _)| *key == name)
            .map(|(_, value)| value.trim())
    }

    /// The token of an `Authorization: Bearer …` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }

    /// Whether the method may change state (anything but GET, HEAD, OPTIONS).
    pub fn is_unsafe_method(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    /// `host[:port]` the request was sent to, from the URL Spin reports
    /// (`spin-full-url`, built from the `Host` header).
    pub fn authority(&self) -> Option<&str> {
        let url = self.last_header("spin-full-url")?;
        let (_, rest) = url.split_once("://")?;
        Some(rest.split(['/', '?']).next().unwrap_or(rest))
    }

    /// The client's address as the login throttle counts it.
    ///
    /// Without a proxy it is the peer address Spin saw (the *last*
    /// `spin-client-addr`: a client-sent copy comes first). Behind a reverse
    /// proxy, `trusted_header` names the header that proxy sets (for example
    /// `x-forwarded-for`, of which the last entry is the address the proxy
    /// saw); no other header is ever believed. IPv6 addresses count per /64,
    /// the block one subscriber usually has, so an attacker cannot rotate
    /// through addresses of their own network.
    pub fn client_address(&self, trusted_header: Option<&str>) -> String {
        let from_proxy = trusted_header
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .and_then(|name| self.last_header(name))
            .and_then(|value| value.rsplit(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty());
        let raw = from_proxy
            .or_else(|| self.last_header("spin-client-addr"))
            .unwrap_or("unknown");
        normalize_address(raw)
    }
}

/// `ip`, `ip:port`, `[ipv6]:port` → the address as counted: IPv4 as is,
/// IPv6 as its /64 network. Anything else is kept (bounded) as text.
fn normalize_address(raw: &str) -> String {
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    let ip = raw
        .parse::<SocketAddr>()
        .map(|socket| socket.ip())
        .or_else(|_| raw.trim_matches(['[', ']']).parse::<IpAddr>());
    match ip {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None if v6.is_loopback() => v6.to_string(),
            None => {
                let s = v6.segments();
                let network = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{network}/64")
            }
        },
        Err(_) => raw.chars().take(64).collect(),
    }
}

/// Request parameters from the query string, then the body (form or JSON
/// object); a body value replaces a query value of the same name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(request: &ApiRequest) -> Result<Self, ApiError> {
        let mut params = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(request.query.as_bytes()) {
            params.insert(key.into_owned(), value.into_owned());
        }
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params(params));
        }
        let content_type = request
            .header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match content_type.as_str() {
            "application/x-www-form-urlencoded" => {
                for (key, value) in form_urlencoded::parse(&request.body) {
                    params.insert(key.into_owned(), value.into_owned());
                }
            }
            "application/json" => {
                let object: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&request.body).map_err(|error| {
                        ApiError::bad_request(format!("the body is not a JSON object: {error}"))
                    })?;
                for (key, value) in object {
                    let text = match value {
                        serde_json::Value::String(text) => text,
                        serde_json::Value::Number(n) => number_text(&n),
                        serde_json::Value::Bool(flag) => flag.to_string(),
                        serde_json::Value::Null => continue,
                        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                            return Err(ApiError::bad_request(format!(
                                "parameter {key:?} must be a string, number or boolean"
                            )));
                        }
                    };
                    params.insert(key, text);
                }
            }
            other => {
                let shown = if other.is_empty() { "none" } else { other };
                return Err(ApiError::new(
                    ErrorKind::UnsupportedMediaType,
                    format!(
                        "unsupported Content-Type {shown}; send application/x-www-form-urlencoded or application/json"
                    ),
                ));
            }
        }
        Ok(Params(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that must be present and not empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            Some(_) => Err(ApiError::bad_request(format!(
                "parameter {name:?} must not be empty"
            ))),
            None => Err(ApiError::bad_request(format!("missing parameter {name:?}"))),
        }
    }
}

/// A JSON number as parameter text: as written, except that an integral
/// float (`7.0`, which JSON counts as the integer 7) is written as that
/// integer, so that it reads back as one.
fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 => {
            (x as i64).to_string()
        }
        _ => n.to_string(),
    }
}

/// The format the request asks for explicitly, before any stored account
/// preference: `?format=` first, then the `Accept` header. `Ok(None)` means
/// the client did not say.
pub fn requested_format(request: &ApiRequest) -> Result<Option<Format>, ApiError> {
    let format_param = form_urlencoded::parse(request.query.as_bytes())
        .find(|(key, _)| key == "format")
        .map(|(_, value)| value.into_owned());
    if let Some(value) = format_param {
        return match value.to_ascii_lowercase().as_str() {
            "json" => Ok(Some(Format::Json)),
            "xml" => Ok(Some(Format::Xml)),
            _ => Err(ApiError::bad_request(format!(
                "format must be json or xml, not {value:?}"
            ))),
        };
    }
    Ok(request.header("accept").and_then(format_from_accept))
}

/// XML when the Accept header ranks an XML type above JSON.
fn format_from_accept(accept: &str) -> Option<Format> {
    let mut best_xml = 0.0f32;
    let mut best_json = 0.0f32;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/xml" | "text/xml" => best_xml = best_xml.max(quality),
            "application/json" => best_json = best_json.max(quality),
            _ => {}
        }
    }
    if best_xml > 0.0 && best_xml > best_json {
        Some(Format::Xml)
    } else if best_json > 0.0 {
        Some(Format::Json)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> ApiRequest {
        ApiRequest::new("PUT", "/session?username=q&x=1")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_body(body)
    }

    #[test]
    fn params_from_query_form_and_json() {
        let params = Params::parse(&form("username=body+name&password=p%26w")).unwrap();
        assert_eq!(params.get("username"), Some("body name"));
        assert_eq!(params.get("password"), Some("p&w"));
        assert_eq!(params.get("x"), Some("1"));

        let request = ApiRequest::new("POST", "/user")
            .with_header("content-type", "application/json; charset=utf-8")
            .with_body(r#"{"username": "a", "id": 7, "xml": true, "skip": null}"#);
        let params = Params::parse(&request).unwrap();
        assert_eq!(params.get("username"), Some("a"));
        assert_eq!(params.get("id"), Some("7"));
        assert_eq!(params.get("xml"), Some("true"));
        assert_eq!(params.get("skip"), None);

        // JSON counts 7.0 as the integer 7: it reads as one.
        let request = ApiRequest::new("POST", "/point")
            .with_header("content-type", "application/json")
            .with_body(r#"{"id": 7.0, "project": -138637.0, "width": 7.5, "big": 1e300}"#);
        let params = Params::parse(&request).unwrap();
        assert_eq!(params.get("id"), Some("7"));
        assert_eq!(params.get("project"), Some("-138637"));
        assert_eq!(params.get("width"), Some("7.5"));
        assert_eq!(params.get("big"), Some("1e+300"));
    }

    #[test]
    fn bad_bodies_are_refused() {
        let request = ApiRequest::new("POST", "/user")
            .with_header("content-type", "application/json")
            .with_body("[1]");
        assert_eq!(Params::parse(&request).unwrap_err().status(), 400);
        let request = ApiRequest::new("POST", "/user")
            .with_header("content-type", "application/json")
            .with_body(r#"{"a": [1]}"#);
        assert_eq!(Params::parse(&request).unwrap_err().status(), 400);
        let request = ApiRequest::new("POST", "/user")
            .with_header("content-type", "text/plain")
            .with_body("hello");
        assert_eq!(Params::parse(&request).unwrap_err().status(), 415);
        let request = ApiRequest::new("POST", "/user").with_body("hello");
        assert_eq!(Params::parse(&request).unwrap_err().status(), 415);
    }

    #[test]
    fn required_params() {
        let params = Params::parse(&form("password=")).unwrap();
        assert!(params.required("username").is_ok());
        assert!(
            params
                .required("password")
                .unwrap_err()
                .message
                .contains("empty")
        );
        assert!(
            params
                .required("email")
                .unwrap_err()
                .message
                .contains("missing")
        );
    }

    #[test]
    fn format_negotiation() {
        let get = |pq: &str, accept: Option<&str>| {
            let mut request = ApiRequest::new("GET", pq);
            if let Some(accept) = accept {
                request = request.with_header("Accept", accept);
            }
            requested_format(&request)
        };
        assert_eq!(get("/x", None).unwrap(), None);
        assert_eq!(get("/x?format=xml", None).unwrap(), Some(Format::Xml));
        assert_eq!(
            get("/x?format=JSON", Some("application/xml")).unwrap(),
            Some(Format::Json)
        );
        assert_eq!(get("/x?format=yaml", None).unwrap_err().status(), 400);
        assert_eq!(
            get("/x", Some("application/xml")).unwrap(),
            Some(Format::Xml)
        );
        assert_eq!(
            get("/x", Some("text/xml;q=0.9, */*;q=0.1")).unwrap(),
            Some(Format::Xml)
        );
        assert_eq!(
            get("/x", Some("application/json, application/xml;q=0.5")).unwrap(),
            Some(Format::Json)
        );
        assert_eq!(get("/x", Some("*/*")).unwrap(), None);
    }

    #[test]
    fn cookies_bearer_and_client() {
        let request = ApiRequest::new("GET", "/session")
            .with_header("Cookie", "a=1; session=abc ; b=2")
            .with_header("Cookie", "session=def")
            .with_header("Authorization", "Bearer  k-1 ")
            .with_header("spin-client-addr", "[::1]:5000");
        assert_eq!(
            request.cookies("session").collect::<Vec<_>>(),
            ["abc", "def"]
        );
        assert_eq!(request.cookies("missing").count(), 0);
        assert_eq!(request.bearer_token(), Some("k-1"));
        assert_eq!(request.client_address(None), "::1");
        let request = ApiRequest::new("GET", "/").with_header("spin-client-addr", "10.0.0.2:80");
        assert_eq!(request.client_address(None), "10.0.0.2");
        assert_eq!(request.authority(), None);
        let request =
            request.with_header("spin-full-url", "https://api.example.com:8443/session?x=1");
        assert_eq!(request.authority(), Some("api.example.com:8443"));
    }

    #[test]
    fn the_client_cannot_choose_its_address() {
        // Spin appends its own headers after the client's.
        let request = ApiRequest::new("PUT", "/session")
            .with_header("spin-client-addr", "203.0.113.9:1")
            .with_header("x-forwarded-for", "198.51.100.1")
            .with_header("spin-full-url", "http://evil.example/")
            .with_header("spin-client-addr", "192.0.2.7:4000")
            .with_header("spin-full-url", "http://127.0.0.1:3000/session");
        assert_eq!(request.client_address(None), "192.0.2.7");
        assert_eq!(request.client_address(Some("")), "192.0.2.7");
        assert_eq!(request.authority(), Some("127.0.0.1:3000"));
        // Behind a trusted proxy: the last entry of the header it appends to.
        let proxied = request.with_header("X-Forwarded-For", "203.0.113.9, 198.51.100.23");
        assert_eq!(
            proxied.client_address(Some("x-forwarded-for")),
            "198.51.100.23"
        );
        // A configured header that is missing: the peer address.
        assert_eq!(proxied.client_address(Some("x-real-ip")), "192.0.2.7");
    }

    #[test]
    fn ipv6_clients_count_per_network() {
        let at = |addr: &str| {
            ApiRequest::new("GET", "/")
                .with_header("spin-client-addr", addr)
                .client_address(None)
        };
        assert_eq!(at("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
        assert_eq!(at("[2001:db8:1:2:ffff::1]:1"), "2001:db8:1:2::/64");
        assert_eq!(at("[::ffff:192.0.2.1]:80"), "192.0.2.1");
        assert_eq!(at("[::1]:80"), "::1");
        assert_eq!(at("not an address"), "not an address");
    }
}
