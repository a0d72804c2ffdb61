//! Same-origin requests to the API. A request starts when it is made
//! ([`send`]) and is read when awaited ([`Pending::read`]), so a page that
//! needs several answers sends them all before waiting for the first.

use serde_json::Value as Json;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// A request on its way.
pub struct Pending(Result<JsFuture, String>);

/// Sends `method url` (with a `(content type, body)`), asking for JSON.
pub fn send(method: &str, url: &str, body: Option<(&str, String)>) -> Pending {
    Pending(start(method, url, body))
}

fn start(method: &str, url: &str, body: Option<(&str, String)>) -> Result<JsFuture, String> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some((_, body)) = &body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(describe)?;
    request
        .headers()
        .set("Accept", "application/json")
        .map_err(describe)?;
    if let Some((content_type, _)) = &body {
        request
            .headers()
            .set("Content-Type", content_type)
            .map_err(describe)?;
    }
    let window = web_sys::window().ok_or("no window")?;
    Ok(JsFuture::from(window.fetch_with_request(&request)))
}

impl Pending {
    /// The status and body.
    pub async fn read(self) -> Result<(u16, String), String> {
        let response: Response = self
            .0?
            .await
            .map_err(describe)?
            .dyn_into()
            .map_err(describe)?;
        let text = JsFuture::from(response.text().map_err(describe)?)
            .await
            .map_err(describe)?
            .as_string()
            .unwrap_or_default();
        Ok((response.status(), text))
    }

    /// The body of a 200 as `T`; otherwise what went wrong, for people.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, String> {
        match self.read().await? {
            (200, body) => serde_json::from_str(&body).map_err(|error| error.to_string()),
            (status, body) => Err(refusal(status, &body)),
        }
    }
}

pub async fn fetch(
    method: &str,
    url: &str,
    body: Option<(&str, String)>,
) -> Result<(u16, String), String> {
    send(method, url, body).read().await
}

fn describe(error: JsValue) -> String {
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

/// What a refused request of the logged-in page says; a 401 means the
/// session ended (logged out elsewhere, expired): the page goes back to
/// the login form.
pub fn refusal(status: u16, body: &str) -> String {
    if status == 401 {
        crate::session_ended();
    }
    error_text(status, body)
}

/// The `error` of an API error body, or the status.
pub fn error_text(status: u16, body: &str) -> String {
    serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|json| json["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("the server answered {status}"))
}

/// `pairs` urlencoded, as a body.
pub fn form(pairs: &[(&str, &str)]) -> (&'static str, String) {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    ("application/x-www-form-urlencoded", encoded.join("&"))
}

/// A query string value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}
