//! Compressed answers: `Content-Encoding: gzip` when the request's
//! `Accept-Encoding` allows it, for every answer in a text format (JSON,
//! XML, CSV, YAML) of at least [`MIN_COMPRESSED_BYTES`], and for every
//! streamed export. A stream is compressed page by page, each page flushed
//! (a sync flush) before the next is read, so the first bytes still leave
//! at once, memory stays flat, and a page that fails still aborts the
//! transfer. Without gzip in `Accept-Encoding` (or with only `identity`)
//! the body is the same bytes as ever. Every answer in a text format says
//! `Vary: Accept-Encoding`, so that caches keep the two apart.
//!
//! gzip only: it is what every client decodes (curl `--compressed`,
//! Python's `requests`, browsers), and its encoder (flate2 over zlib-rs,
//! pure Rust) is small in a component. Brotli's encoder is several times
//! larger in wasm for some 15 % smaller text; zstd has no pure-Rust
//! encoder that builds for wasm32-wasip2 (ARCHITECTURE.md, dependencies).

use crate::error::ApiError;
use crate::http::ApiResponse;
use crate::http::reply::ChunkStream;
use crate::storage::Sql;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;

/// Smaller answers are sent as they are: gzip's 18-byte frame and the
/// client's work would save nothing worth having.
pub const MIN_COMPRESSED_BYTES: usize = 1024;

/// Level 2: on a year's export on Spin it shrinks CSV sevenfold and JSON,
/// XML or YAML thirteen- to twentyfold, at 0.54 to 0.71 of the
/// uncompressed rows/s (README, "Benchmarks"); zlib-rs' level 1 (its
/// "quick" strategy) shrank CSV only 4.9-fold.
fn level() -> Compression {
    Compression::new(2)
}

/// Whether an `Accept-Encoding` value allows gzip: named (or `*`) with a
/// q-value above 0, and not refused by name.
pub fn accepts_gzip(header: &str) -> bool {
    let mut named = None;
    let mut any = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|param| {
                let (name, value) = param.split_once('=')?;
                (name.trim().eq_ignore_ascii_case("q")).then(|| value.trim().parse::<f64>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => named = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    named.or(any).unwrap_or(false)
}

/// Whether answers of `content_type` are text worth compressing.
fn is_text(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "application/json" | "application/xml" | "text/csv" | "application/yaml"
    )
}

/// Compresses `response` when `accept_encoding` allows it (see the module
/// documentation); leaves alone what is already encoded (the dashboard's
/// files carry their own gzip copies), has no body (`HEAD`, 304) or is not
/// text.
pub fn negotiate(method: &str, accept_encoding: Option<&str>, response: &mut ApiResponse) {
    if method == "HEAD"
        || response.status == 304
        || response.header("content-encoding").is_some()
        || !response.header("content-type").is_some_and(is_text)
    {
        return;
    }
    add_vary(response);
    if !accept_encoding.is_some_and(accepts_gzip) {
        return;
    }
    if let Some(stream) = response.stream.take() {
        let body = std::mem::take(&mut response.body);
        response.stream = Some(Box::new(GzipStream::new(body, stream)));
    } else if response.body.len() >= MIN_COMPRESSED_BYTES {
        response.body = gzip(&response.body);
    } else {
        return;
    }
    response
        .headers
        .push(("content-encoding".to_owned(), "gzip".to_owned()));
}

/// `Vary: Accept-Encoding`, added to a `Vary` the answer has unless it
/// names it already (the dashboard's files and `/openapi.json` do).
fn add_vary(response: &mut ApiResponse) {
    match response
        .headers
        .iter_mut()
        .find(|(name, _)| name.eq_ignore_ascii_case("vary"))
    {
        Some((_, value))
            if value
                .split(',')
                .any(|field| field.trim().eq_ignore_ascii_case("accept-encoding")) => {}
        Some((_, value)) => value.push_str(", Accept-Encoding"),
        None => response
            .headers
            .push(("vary".to_owned(), "Accept-Encoding".to_owned())),
    }
}

/// `bytes` as one gzip member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4 + 64), level());
    // Writing into a Vec<u8> cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// A streamed body, gzipped page by page: each page is compressed and
/// flushed (sync flush: the client can decode all of it at once) before
/// the next is read; the end of the stream ends the gzip member. A page
/// that fails fails here too, so the host still aborts the transfer.
struct GzipStream {
    /// Bytes sent before the stream (usually none).
    head: Option<Vec<u8>>,
    pages: Box<dyn ChunkStream>,
    /// `None` once the member is finished.
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl GzipStream {
    fn new(head: Vec<u8>, pages: Box<dyn ChunkStream>) -> Self {
        GzipStream {
            head: Some(head),
            pages,
            encoder: Some(GzEncoder::new(Vec::new(), level())),
        }
    }

    /// Compresses `bytes` and flushes; returns what the encoder has out.
    fn compress(encoder: &mut GzEncoder<Vec<u8>>, bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
        encoder
            .write_all(bytes)
            .and_then(|()| encoder.flush())
            .map_err(|error| ApiError::internal(format!("gzip: {error}")))?;
        Ok(std::mem::take(encoder.get_mut()))
    }
}

impl ChunkStream for GzipStream {
    fn next_chunk(&mut self, db: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(None);
        };
        let page = match self.head.take() {
            Some(head) if !head.is_empty() => Some(head),
            _ => self.pages.next_chunk(db)?,
        };
        match page {
            Some(page) => Self::compress(encoder, &page).map(Some),
            None => {
                let encoder = self.encoder.take().expect("checked above");
                let tail = encoder
                    .finish()
                    .map_err(|error| ApiError::internal(format!("gzip: {error}")))?;
                Ok(Some(tail))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Rows, SqlValue, StorageError};
    use flate2::read::GzDecoder;
    use std::io::Read;

    struct NoSql;

    impl Sql for NoSql {
        fn execute(&self, _: &str, _: &[SqlValue]) -> Result<Rows, StorageError> {
            Ok(Rows::default())
        }
    }

    /// Pages of text, then the end; or a failure after `fail_after` pages.
    struct Pages {
        left: Vec<Vec<u8>>,
        fail_after: Option<usize>,
        sent: usize,
    }

    impl ChunkStream for Pages {
        fn next_chunk(&mut self, _: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError> {
            if self.fail_after == Some(self.sent) {
                return Err(ApiError::internal("page failed"));
            }
            self.sent += 1;
            Ok((!self.left.is_empty()).then(|| self.left.remove(0)))
        }
    }

    fn pages(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|page| {
                (0..500)
                    .map(|row| {
                        format!(
                            "meter{},2019-10-30 00:{:02}:00,{}.5\n",
                            row % 7,
                            row % 60,
                            page * 500 + row
                        )
                    })
                    .collect::<String>()
                    .into_bytes()
            })
            .collect()
    }

    fn response(content_type: &str, body: Vec<u8>) -> ApiResponse {
        ApiResponse {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
            stream: None,
        }
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        for yes in [
            "gzip",
            "GZIP",
            "deflate, gzip;q=0.5",
            "x-gzip",
            "*",
            "br;q=1, *;q=0.1",
            "gzip;q=1.0",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "br",
            "gzip;q=0",
            "*;q=0",
            "*, gzip;q=0",
            "deflate",
            "gzipx",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }

    #[test]
    fn text_answers_are_gzipped_when_asked_and_large_enough() {
        let big = pages(1).remove(0);
        for content_type in [
            "application/json",
            "application/xml; charset=utf-8",
            "text/csv; charset=utf-8",
            "application/yaml",
        ] {
            let mut answer = response(content_type, big.clone());
            negotiate("GET", Some("gzip, deflate"), &mut answer);
            assert_eq!(
                answer.header("content-encoding"),
                Some("gzip"),
                "{content_type}"
            );
            assert_eq!(answer.header("vary"), Some("Accept-Encoding"));
            assert!(
                answer.body.len() * 3 < big.len(),
                "{} of {}",
                answer.body.len(),
                big.len()
            );
            assert_eq!(gunzip(&answer.body), big);
        }
        // Not asked, or only identity: the same bytes, still Vary.
        for accept in [None, Some("identity"), Some("gzip;q=0")] {
            let mut answer = response("application/json", big.clone());
            negotiate("GET", accept, &mut answer);
            assert_eq!(
                (answer.header("content-encoding"), &answer.body),
                (None, &big)
            );
            assert_eq!(answer.header("vary"), Some("Accept-Encoding"));
        }
        // Small, not text, already encoded, or without a body: left alone.
        let mut small = response("application/json", b"{\"uuid\": 1}".to_vec());
        negotiate("GET", Some("gzip"), &mut small);
        assert_eq!(
            (small.header("content-encoding"), small.body.as_slice()),
            (None, &b"{\"uuid\": 1}"[..])
        );
        let mut png = response("image/png", big.clone());
        negotiate("GET", Some("gzip"), &mut png);
        assert_eq!(
            (png.header("content-encoding"), png.header("vary")),
            (None, None)
        );
        let mut head = response("application/json", Vec::new());
        negotiate("HEAD", Some("gzip"), &mut head);
        assert_eq!(head.header("content-encoding"), None);
        // Embedded files name Accept-Encoding themselves: named once.
        let mut document = response("application/json", big.clone());
        document
            .headers
            .push(("vary".to_owned(), "Accept-Encoding".to_owned()));
        negotiate("GET", None, &mut document);
        assert_eq!(document.header("vary"), Some("Accept-Encoding"));
        // A Vary the answer has is kept.
        let mut figure = response("application/json", big.clone());
        figure
            .headers
            .push(("vary".to_owned(), "Authorization, Cookie".to_owned()));
        negotiate("GET", Some("gzip"), &mut figure);
        assert_eq!(
            figure.header("vary"),
            Some("Authorization, Cookie, Accept-Encoding")
        );
    }

    #[test]
    fn a_stream_is_gzipped_page_by_page_and_each_page_decodes_at_once() {
        let text = pages(4);
        let mut answer = response("text/csv; charset=utf-8", Vec::new());
        answer.stream = Some(Box::new(Pages {
            left: text.clone(),
            fail_after: None,
            sent: 0,
        }));
        negotiate("GET", Some("gzip"), &mut answer);
        assert_eq!(answer.header("content-encoding"), Some("gzip"));
        let mut stream = answer.stream.take().unwrap();
        let mut sent = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.next_chunk(&NoSql).unwrap() {
            chunks += 1;
            sent.extend_from_slice(&chunk);
            if chunks <= text.len() {
                // Everything of the pages so far decodes from what was sent
                // so far (a sync flush), before the member ends.
                let mut decoder = flate2::write::GzDecoder::new(Vec::new());
                decoder.write_all(&sent).unwrap();
                decoder.flush().unwrap();
                assert_eq!(
                    decoder.get_ref().as_slice(),
                    text[..chunks].concat().as_slice()
                );
            }
        }
        assert_eq!(
            chunks,
            text.len() + 1,
            "a chunk per page, then the end of the member"
        );
        assert_eq!(gunzip(&sent), text.concat());
        assert!(sent.len() * 3 < text.concat().len());
    }

    #[test]
    fn a_failing_page_fails_the_gzipped_stream_too() {
        let mut answer = response("application/json", Vec::new());
        answer.stream = Some(Box::new(Pages {
            left: pages(3),
            fail_after: Some(1),
            sent: 0,
        }));
        negotiate("GET", Some("gzip"), &mut answer);
        let mut stream = answer.stream.take().unwrap();
        assert!(stream.next_chunk(&NoSql).unwrap().is_some());
        assert!(
            stream.next_chunk(&NoSql).is_err(),
            "the failure reaches the host"
        );
    }
}
