//! A minimal HTTP/1.1 client for tests: one TCP connection per request and
//! hyper's client handshake. [`request`] buffers the whole body;
//! [`request_streamed`] reads it frame by frame and keeps only counts, timings
//! and its two ends.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

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
        find_header(&self.headers, name)
    }

    /// Every value of header `name` (case-insensitive), in arrival order.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How much of each end of a body [`StreamedResponse`] keeps.
pub const STREAMED_KEEP_BYTES: usize = 64 * 1024;

/// A response whose body was read as a stream and not kept: its size, its
/// line count, its timing and its first and last [`STREAMED_KEEP_BYTES`].
#[derive(Debug, Clone)]
pub struct StreamedResponse {
    pub status: u16,
    /// Headers in arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Body bytes received (data frames only).
    pub body_bytes: u64,
    /// `\n` bytes in the body.
    pub body_lines: u64,
    /// From sending the request (after connecting) to the first body byte;
    /// equal to `total_time` when the body is empty.
    pub time_to_first_body_byte: Duration,
    /// From sending the request (after connecting) to the end of the body.
    pub total_time: Duration,
    /// The first up to [`STREAMED_KEEP_BYTES`] bytes of the body.
    pub body_prefix: Vec<u8>,
    /// The last up to [`STREAMED_KEEP_BYTES`] bytes of the body (overlaps
    /// `body_prefix` when the body is shorter than twice that).
    pub body_suffix: Vec<u8>,
}

impl StreamedResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
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
    let exchange = send(base_url, method, path_and_query, headers, body).await?;
    let (status, headers) = response_head(&exchange.response);
    let body = exchange
        .response
        .into_body()
        .collect()
        .await?
        .to_bytes()
        .to_vec();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Like [`request`], but reads the response body frame by frame as it
/// arrives without keeping it: counts its bytes and lines, keeps its first and
/// last [`STREAMED_KEEP_BYTES`], and times the first body byte and the end
/// from the moment the request is sent. Memory use is bounded whatever the
/// body's size, so it suits long or endless-looking streams (wrap the call in
/// a timeout for those).
pub async fn request_streamed(
    base_url: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<StreamedResponse> {
    let exchange = send(base_url, method, path_and_query, headers, body).await?;
    let sent_at = exchange.sent_at;
    let (status, headers) = response_head(&exchange.response);

    let mut body = exchange.response.into_body();
    let mut body_bytes = 0u64;
    let mut body_lines = 0u64;
    let mut first_byte_at = None;
    let mut prefix = Vec::new();
    let mut suffix = Tail::new(STREAMED_KEEP_BYTES);
    while let Some(frame) = body.frame().await {
        // Trailers and other non-data frames carry no body bytes.
        let Ok(data) = frame
            .context("failed to read the response body")?
            .into_data()
        else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        first_byte_at.get_or_insert_with(Instant::now);
        body_bytes += data.len() as u64;
        body_lines += data.iter().filter(|&&byte| byte == b'\n').count() as u64;
        let room = STREAMED_KEEP_BYTES - prefix.len();
        prefix.extend_from_slice(&data[..data.len().min(room)]);
        suffix.push(&data);
    }
    let ended_at = Instant::now();

    Ok(StreamedResponse {
        status,
        headers,
        body_bytes,
        body_lines,
        time_to_first_body_byte: first_byte_at.unwrap_or(ended_at) - sent_at,
        total_time: ended_at - sent_at,
        body_prefix: prefix,
        body_suffix: suffix.into_vec(),
    })
}

/// A sent request: the response head with its body still unread, and the
/// connection it arrives on (closed when this is dropped).
struct Exchange {
    response: hyper::Response<Incoming>,
    /// When the request was handed to hyper (after connecting).
    sent_at: Instant,
    _connection: Connection,
}

/// The client side of one connection: hyper's request sender and the task
/// driving the connection, which is aborted on drop.
struct Connection {
    _sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<hyper::Result<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to `base_url`, sends the request and waits for the response
/// head. Shared by [`request`] and [`request_streamed`]; see [`request`] for
/// the header defaults.
async fn send(
    base_url: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Exchange> {
    let authority = base_url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("base_url must start with http://: {base_url}"))?
        .trim_end_matches('/');
    let stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("failed to connect to {authority}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let task = tokio::spawn(connection);

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

    let sent_at = Instant::now();
    let response = sender.send_request(request).await?;
    Ok(Exchange {
        response,
        sent_at,
        _connection: Connection {
            _sender: sender,
            task,
        },
    })
}

/// Status and headers (in arrival order, names lowercase, values lossily
/// decoded) of a response.
fn response_head(response: &hyper::Response<Incoming>) -> (u16, Vec<(String, String)>) {
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
    (response.status().as_u16(), headers)
}

/// The last `keep` bytes of a stream, in amortised O(1) per byte: bytes are
/// appended to a buffer that is cut back to `keep` when it reaches twice
/// that.
struct Tail {
    keep: usize,
    buffer: Vec<u8>,
}

impl Tail {
    fn new(keep: usize) -> Self {
        Self {
            keep,
            buffer: Vec::new(),
        }
    }

    fn push(&mut self, data: &[u8]) {
        // Only the last `keep` bytes of `data` can survive.
        let data = &data[data.len().saturating_sub(self.keep)..];
        if self.buffer.len() + data.len() > 2 * self.keep {
            let cut = self.buffer.len().saturating_sub(self.keep - data.len());
            self.buffer.drain(..cut);
        }
        self.buffer.extend_from_slice(data);
    }

    fn into_vec(mut self) -> Vec<u8> {
        let cut = self.buffer.len().saturating_sub(self.keep);
        self.buffer.drain(..cut);
        self.buffer
    }
}

/// RFC 3339 text of a Unix time in UTC (`2019-10-30T17:15:00Z`), for
/// writing ingest batches in tests and benchmarks: the collector's own form.
pub fn rfc3339_utc(unix_seconds: i64) -> String {
    ingest_wire::format_utc(unix_seconds)
}
