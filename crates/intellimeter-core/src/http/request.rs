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

/// The IP address in `raw`: `ip`, `ip:port` or `[ipv6]:port`.
pub(crate) fn ip_address(raw: &str) -> Option<std::net::IpAddr> {
    raw.parse::<std::net::SocketAddr>()
        .map(|socket| socket.ip())
        .or_else(|_| raw.trim_matches(['[', ']']).parse())
        .ok()
}

/// `ip`, `ip:port`, `[ipv6]:port` → the address as counted: IPv4 as is,
/// IPv6 as its /64 network. Anything else is kept (bounded) as text.
fn normalize_address(raw: &str) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip_address(raw) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None if v6.is_loopback() => v6.to_string(),
            None => {
                let s = v6.segments();
                let network = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{network}/64")
            }
        },
        None => raw.chars().take(64).collect(),
    }
}

/// Request parameters from the query string, then the body (form or JSON
/// object); a body value replaces a query value of the same name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// The query's parameters and the body's (urlencoded or a JSON
    /// object). A name given twice (in either or across both) and a name
    /// or value that is not UTF-8 once percent-decoded are refused: the
    /// request is ambiguous or garbled, and guessing would act on
    /// something the client did not mean.
    pub fn parse(request: &ApiRequest) -> Result<Self, ApiError> {
        let mut params = BTreeMap::new();
        decode_pairs(request.query.as_bytes(), &mut params)?;
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
            "application/x-www-form-urlencoded" => decode_pairs(&request.body, &mut params)?,
            "application/json" => {
                let object: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&request.body).map_err(|error| {
                        ApiError::bad_request(format!("the body is not a JSON object: {error}"))
                    })?;
                for (key, value) in object {
                    let text = json_parameter(&key, value)?;
                    insert_once(&mut params, key, text)?;
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

/// Adds `application/x-www-form-urlencoded` pairs to `params`, as
/// `form_urlencoded::parse` splits them (on `&`, then the first `=`; `+` is
/// a space) but strictly: see [`Params::parse`].
fn decode_pairs(input: &[u8], params: &mut BTreeMap<String, String>) -> Result<(), ApiError> {
    for pair in input.split(|byte| *byte == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.iter().position(|byte| *byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let name = decode_component(name, None)?;
        let value = decode_component(value, Some(&name))?;
        insert_once(params, name, value)?;
    }
    Ok(())
}

/// One percent-encoded name or value (of parameter `of`) as text.
fn decode_component(raw: &[u8], of: Option<&str>) -> Result<String, ApiError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|byte| if *byte == b'+' { b' ' } else { *byte })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request(match of {
            Some(name) => format!("parameter {name:?} is not UTF-8 text"),
            None => "a parameter name is not UTF-8 text".to_owned(),
        })
    })
}

fn insert_once(
    params: &mut BTreeMap<String, String>,
    name: String,
    value: String,
) -> Result<(), ApiError> {
    if params.contains_key(&name) {
        return Err(ApiError::bad_request(format!(
            "parameter {name:?} is given more than once"
        )));
    }
    params.insert(name, value);
    Ok(())
}

/// The JSON type a parameter takes in a JSON body; form and query values
/// are text whatever the parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    String,
    Number,
    Boolean,
}

impl JsonType {
    /// The one type of a parameter name across the API (`id` is always a
    /// point's id, `xml` always a flag); any other name is text.
    fn of(name: &str) -> Self {
        match name {
            "id" | "project" | "width" | "height" => JsonType::Number,
            "xml" | "everywhere" => JsonType::Boolean,
            _ => JsonType::String,
        }
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::String => "a JSON string",
            JsonType::Number => "a JSON number",
            JsonType::Boolean => "true or false",
        }
    }
}

/// A JSON body's value of parameter `name` as parameter text, when it has
/// the parameter's JSON type ([`JsonType::of`]): `{"username": false}` or
/// `{"id": "7"}` is a 400 naming the field, not a user named "false".
fn json_parameter(name: &str, value: serde_json::Value) -> Result<String, ApiError> {
    let wanted = JsonType::of(name);
    match (wanted, value) {
        (JsonType::String, serde_json::Value::String(text)) => Ok(text),
        (JsonType::Number, serde_json::Value::Number(n)) => Ok(number_text(&n)),
        (JsonType::Boolean, serde_json::Value::Bool(flag)) => Ok(flag.to_string()),
        (wanted, other) => Err(ApiError::bad_request(format!(
            "parameter {name:?} must be {}, not {}",
            wanted.name(),
            json_type_name(&other)
        ))),
    }
}

fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
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

/// The format an answer takes: the one the request asks for explicitly,
/// else the caller's stored preference (known once authenticated), else
/// JSON.
pub fn answer_format(explicit: Option<Format>, prefers_xml: Option<bool>) -> Format {
    explicit.unwrap_or(match prefers_xml {
        Some(true) => Format::Xml,
        _ => Format::Json,
    })
}

/// The format of a refusal made before any handler runs (no route for
/// the path, a body too large): the one the request asks for explicitly,
/// else JSON (an account's stored preference is not known yet).
pub fn format_before_handler(request: &ApiRequest) -> Format {
    requested_format(request)
        .ok()
        .flatten()
        .unwrap_or(Format::Json)
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
        ApiRequest::new("PUT", "/session?x=1")
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
            .with_body(r#"{"username": "a", "id": 7, "xml": true}"#);
        let params = Params::parse(&request).unwrap();
        assert_eq!(params.get("username"), Some("a"));
        assert_eq!(params.get("id"), Some("7"));
        assert_eq!(params.get("xml"), Some("true"));

        // JSON counts 7.0 as the integer 7: it reads as one.
        let request = ApiRequest::new("POST", "/point")
            .with_header("content-type", "application/json")
            .with_body(r#"{"id": 7.0, "project": -138637.0, "width": 7.5, "height": 1e300}"#);
        let params = Params::parse(&request).unwrap();
        assert_eq!(params.get("id"), Some("7"));
        assert_eq!(params.get("project"), Some("-138637"));
        assert_eq!(params.get("width"), Some("7.5"));
        assert_eq!(params.get("height"), Some("1e+300"));
    }

    #[test]
    fn a_json_field_of_the_wrong_type_is_refused_by_name() {
        for (body, says) in [
            (
                r#"{"username": false}"#,
                r#"parameter "username" must be a JSON string, not a boolean"#,
            ),
            (
                r#"{"username": 7}"#,
                r#"parameter "username" must be a JSON string, not a number"#,
            ),
            (
                r#"{"password": null}"#,
                r#"parameter "password" must be a JSON string, not null"#,
            ),
            (
                r#"{"id": "7"}"#,
                r#"parameter "id" must be a JSON number, not a string"#,
            ),
            (
                r#"{"project": true}"#,
                r#"parameter "project" must be a JSON number, not a boolean"#,
            ),
            (
                r#"{"xml": "true"}"#,
                r#"parameter "xml" must be true or false, not a string"#,
            ),
            (
                r#"{"everywhere": 1}"#,
                r#"parameter "everywhere" must be true or false, not a number"#,
            ),
            (
                r#"{"name": ["a"]}"#,
                r#"parameter "name" must be a JSON string, not an array"#,
            ),
            (
                r#"{"new": {"a": 1}}"#,
                r#"parameter "new" must be a JSON string, not an object"#,
            ),
        ] {
            let request = ApiRequest::new("POST", "/user")
                .with_header("content-type", "application/json")
                .with_body(body);
            let error = Params::parse(&request).unwrap_err();
            assert_eq!(
                (error.status(), error.message.as_str()),
                (400, says),
                "{body}"
            );
        }
        // Form and query values stay text, whatever the parameter.
        let params = Params::parse(&form("id=7&xml=true&username=false")).unwrap();
        assert_eq!(params.get("username"), Some("false"));
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
    fn a_parameter_given_twice_is_refused() {
        let twice = |request: ApiRequest| {
            let error = Params::parse(&request).unwrap_err();
            assert_eq!(error.status(), 400);
            assert!(
                error.to_string().contains("given more than once"),
                "{error}"
            );
        };
        twice(ApiRequest::new(
            "GET",
            "/file?start=2019-01-01&start=2019-01-02",
        ));
        twice(ApiRequest::new("GET", "/file?meter=&meter="));
        // In the query and the body: which one was meant?
        twice(form("username=a").clone().with_body("x=2"));
        twice(
            ApiRequest::new("POST", "/point?name=a")
                .with_header("content-type", "application/json")
                .with_body(r#"{"name": "b"}"#),
        );
        // Percent-encoding does not make another name.
        twice(ApiRequest::new("GET", "/data?format=json&%66ormat=xml"));
        // Different names, and empty pairs, are fine.
        let params = Params::parse(&ApiRequest::new("GET", "/x?a=1&&b=&c")).unwrap();
        assert_eq!(
            (params.get("a"), params.get("b"), params.get("c")),
            (Some("1"), Some(""), Some(""))
        );
    }

    #[test]
    fn parameters_must_be_utf8_once_decoded() {
        for query in ["name=%FF", "name=a%C3", "%FE%FF=1", "name=%ED%A0%80"] {
            let error =
                Params::parse(&ApiRequest::new("GET", &format!("/point?{query}"))).unwrap_err();
            assert_eq!(error.status(), 400, "{query}");
            assert!(error.to_string().contains("UTF-8"), "{query}: {error}");
        }
        let body = ApiRequest::new("POST", "/point")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(b"name=a&new=\xff\xfe".to_vec());
        assert_eq!(Params::parse(&body).unwrap_err().status(), 400);
        // Real text in any script, encoded or not, and literal U+FFFD.
        let params = Params::parse(&ApiRequest::new(
            "GET",
            "/point?name=Z%C3%A4hler+%E2%82%AC&x=%EF%BF%BD",
        ))
        .unwrap();
        assert_eq!(params.get("name"), Some("Zähler €"));
        assert_eq!(params.get("x"), Some("\u{FFFD}"));
        // A malformed escape is kept as it is, as browsers and form_urlencoded do.
        let params = Params::parse(&ApiRequest::new("GET", "/point?name=100%&y=%zz")).unwrap();
        assert_eq!(
            (params.get("name"), params.get("y")),
            (Some("100%"), Some("%zz"))
        );
    }

    #[test]
    fn required_params() {
        let params = Params::parse(&form("password=&username=q")).unwrap();
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

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    /// Text made of what matters to these parsers, any text, and long text.
    fn parser_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "([a-z]|=|&|;|\\+| |%[0-9a-fA-FzZ]{0,2}){0,24}",
            any::<String>(),
            Just("x".repeat(10_000)),
            Just("%ff%fe=%c3&%=%%".to_owned()),
        ]
    }

    fn content_type() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("Application/JSON; charset=utf-8".to_owned()),
            any::<String>(),
        ])
    }

    fn request(query: &str, content_type: Option<&str>, body: &[u8]) -> ApiRequest {
        let mut request = ApiRequest::new("POST", "/x");
        request.query = query.to_owned();
        if let Some(content_type) = content_type {
            request = request.with_header("content-type", content_type);
        }
        request.with_body(body)
    }

    fn form(pairs: &[(String, String)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    proptest! {
        #![proptest_config(test_support::proptest_config(512))]

        #[test]
        fn parameters_are_parsed_or_refused_with_400_or_415(
            query in parser_text(),
            content_type in content_type(),
            body in prop_oneof![vec(any::<u8>(), 0..64), parser_text().prop_map(String::into_bytes)],
        ) {
            let request = request(&query, content_type.as_deref(), &body);
            if let Err(error) = Params::parse(&request) {
                prop_assert!(matches!(error.status(), 400 | 415), "{error:?}");
                prop_assert!(!error.message.is_empty());
            }
            if let Err(error) = requested_format(&request) {
                prop_assert_eq!(error.status(), 400);
            }
        }

        #[test]
        fn form_parameters_round_trip_or_a_repeated_name_is_refused(
            query in vec(("[a-z%&=+ é]{0,4}", any::<String>()), 0..6),
            body in vec(("[a-z%&=+ é]{0,4}", any::<String>()), 0..6),
        ) {
            let mut expected = BTreeMap::new();
            let mut repeated = false;
            for (name, value) in query.iter().chain(&body) {
                repeated |= expected.insert(name.clone(), value.clone()).is_some();
            }
            let request = request(
                &form(&query),
                Some("application/x-www-form-urlencoded"),
                form(&body).as_bytes(),
            );
            match Params::parse(&request) {
                Ok(params) => {
                    prop_assert!(!repeated, "a repeated name was accepted");
                    prop_assert_eq!(params, Params(expected));
                }
                Err(error) => {
                    prop_assert!(repeated, "{error:?}");
                    prop_assert_eq!(error.status(), 400);
                    prop_assert!(error.message.contains("more than once"), "{error:?}");
                }
            }
        }

        #[test]
        fn json_parameters_have_their_fields_type(
            object in btree_map(
                prop_oneof!["[a-z]{0,3}", Just("id".to_owned()), Just("width".to_owned()), Just("xml".to_owned())],
                prop_oneof![
                    any::<String>().prop_map(serde_json::Value::from),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<bool>().prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!([1])),
                    Just(serde_json::json!({"a": 1})),
                ],
                1..5,
            ),
        ) {
            let body = serde_json::to_vec(&object).unwrap();
            let parsed = Params::parse(&request("", Some("application/json"), &body));
            let fits = |name: &str, value: &serde_json::Value| match JsonType::of(name) {
                JsonType::String => value.is_string(),
                JsonType::Number => value.is_number(),
                JsonType::Boolean => value.is_boolean(),
            };
            let all_fit = object.iter().all(|(name, value)| fits(name, value));
            match parsed {
                Err(error) => {
                    prop_assert!(!all_fit && error.status() == 400, "{error:?}");
                    prop_assert!(error.message.starts_with("parameter "), "{error:?}");
                }
                Ok(params) => {
                    prop_assert!(all_fit);
                    for (name, value) in &object {
                        let expected = match value {
                            serde_json::Value::String(text) => text.clone(),
                            other => other.to_string(),
                        };
                        prop_assert_eq!(params.get(name), Some(expected.as_str()));
                    }
                }
            }
        }

        #[test]
        fn format_parameter_decides_before_accept(
            value in prop_oneof![Just("json"), Just("XML"), Just("xMl"), Just(""), Just("yaml"), Just("%ff")],
            accept in prop::option::of(any::<String>()),
        ) {
            let mut request = ApiRequest::new("GET", &format!("/x?a=1&format={value}&format=json"));
            if let Some(accept) = &accept {
                request = request.with_header("accept", accept);
            }
            let format = requested_format(&request);
            match value.to_ascii_lowercase().as_str() {
                "json" => prop_assert_eq!(format, Ok(Some(Format::Json))),
                "xml" => prop_assert_eq!(format, Ok(Some(Format::Xml))),
                _ => prop_assert_eq!(format.unwrap_err().status(), 400),
            }
        }

        #[test]
        fn xml_only_when_accept_ranks_it_above_json(
            xml in 0u16..=1000,
            json in 0u16..=1000,
            xml_first in any::<bool>(),
            text_xml in any::<bool>(),
        ) {
            let xml_range = format!(
                "{};q={}",
                if text_xml { "text/xml" } else { "application/xml" },
                f32::from(xml) / 1000.0
            );
            let json_range = format!("application/json;q={}", f32::from(json) / 1000.0);
            let accept = if xml_first {
                format!("{xml_range}, image/png, {json_range}")
            } else {
                format!("{json_range},{xml_range}")
            };
            let expected = if xml > json {
                Some(Format::Xml)
            } else if json > 0 {
                Some(Format::Json)
            } else {
                None
            };
            prop_assert_eq!(format_from_accept(&accept), expected, "{}", accept);
        }

        #[test]
        fn cookies_come_back_in_order(
            pairs in vec(("[a-z_-]{1,6}", "[a-zA-Z0-9=]{0,8}"), 0..8),
            split_headers in any::<bool>(),
        ) {
            let mut request = ApiRequest::new("GET", "/");
            if split_headers {
                for (name, value) in &pairs {
                    request = request.with_header("Cookie", &format!("{name}={value}"));
                }
            } else {
                let header: Vec<String> = pairs.iter().map(|(n, v)| format!(" {n}={v}")).collect();
                request = request.with_header("cookie", &header.join(";"));
            }
            for (name, _) in &pairs {
                let expected: Vec<&str> = pairs
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                prop_assert_eq!(request.cookies(name).collect::<Vec<_>>(), expected);
            }
        }

        #[test]
        fn any_cookie_and_authorization_header_is_read_without_panic(
            cookie in parser_text(),
            authorization in parser_text(),
        ) {
            let request = ApiRequest::new("GET", "/")
                .with_header("cookie", &cookie)
                .with_header("authorization", &authorization);
            let _ = request.cookies("session").count();
            if let Some(token) = request.bearer_token() {
                prop_assert_eq!(token, token.trim());
            }
        }

        #[test]
        fn client_addresses_are_short_whatever_is_sent(
            peer in parser_text(),
            forwarded in parser_text(),
            trusted in prop::option::of(prop_oneof![Just("x-forwarded-for"), Just(""), Just("x-real-ip")]),
        ) {
            let request = ApiRequest::new("PUT", "/session")
                .with_header("x-forwarded-for", &forwarded)
                .with_header("spin-client-addr", &peer);
            let address = request.client_address(trusted);
            prop_assert!(address.chars().count() <= 64, "{}", address);
        }
    }
}
