//! A minimal HTTP/1.1 client for tests: one TCP connection per request,
//! hyper's client handshake, the whole body buffered.

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A buffered response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Headers in arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `base_url` (`http://host:port`) and reads the whole
/// response. `path_and_query` starts with `/`. A `host` header is added
/// unless given; `content-length` is set from `body` unless given.
pub async fn request(
    base_url: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Response> {
    let authority = base_url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("base_url must start with http://: {base_url}"))?
        .trim_end_matches('/');
    let stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("failed to connect to {authority}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);

    let mut builder = hyper::Request::builder().method(method).uri(path_and_query);
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        builder = builder.header(hyper::header::HOST, authority);
    }
    if !has("content-length") && !has("transfer-encoding") {
        builder = builder.header(hyper::header::CONTENT_LENGTH, body.len());
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body)))?;

    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.into_body().collect().await?.to_bytes().to_vec();
    drop(sender);
    connection.abort();
    Ok(Response {
        status,
        headers,
        body,
    })
}
