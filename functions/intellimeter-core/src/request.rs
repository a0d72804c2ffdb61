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

    /// The value of cookie `name`, if the client sent it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key == "cookie")
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
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

    /// The client's IP address, from Spin's `spin-client-addr` (`ip:port`).
    pub fn client_ip(&self) -> String {
        let addr = self.header("spin-client-addr").unwrap_or("unknown");
        match addr.rsplit_once(':') {
            Some((ip, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
                ip.trim_matches(|c| c == '[' || c == ']').to_owned()
            }
            _ => addr.to_owned(),
        }
    }

    /// Whether the client reached us over https (Spin's `spin-full-url`, or
    /// a TLS-terminating proxy's `X-Forwarded-Proto`).
    pub fn is_https(&self) -> bool {
        self.header("spin-full-url")
            .is_some_and(|url| url.starts_with("https://"))
            || self
                .header("x-forwarded-proto")
                .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
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
                        serde_json::Value::Number(n) => n.to_string(),
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
            .with_header("Authorization", "Bearer  k-1 ")
            .with_header("spin-client-addr", "[::1]:5000");
        assert_eq!(request.cookie("session"), Some("abc"));
        assert_eq!(request.cookie("missing"), None);
        assert_eq!(request.bearer_token(), Some("k-1"));
        assert_eq!(request.client_ip(), "::1");
        let request = ApiRequest::new("GET", "/").with_header("spin-client-addr", "10.0.0.2:80");
        assert_eq!(request.client_ip(), "10.0.0.2");
        assert!(!request.is_https());
        let request = request.with_header("spin-full-url", "https://api.example.com/session");
        assert!(request.is_https());
    }
}
