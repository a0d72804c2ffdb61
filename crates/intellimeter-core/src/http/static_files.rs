//! Files embedded in a component (the browser dashboard), served with
//! HTTP caching: a strong `ETag` per representation (computed when the
//! component is built), `If-None-Match` answered with 304, `Cache-Control:
//! no-cache` (the browser revalidates every time, and gets a small 304 when
//! nothing changed), and the gzip copy made at build time when the client
//! accepts gzip (`Vary: Accept-Encoding`).

use crate::error::ApiError;
use crate::http::encoding::accepts_gzip;
use crate::http::request::ApiRequest;
use crate::http::{Reply, method_not_allowed};

/// One embedded file.
pub struct Asset {
    /// The request path that serves it (`/`, `/dashboard/style.css`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// `body` gzipped.
    pub gzip: &'static [u8],
    /// The strong validator of `body` (quoted); the gzip copy's is this
    /// with `-gz` before the closing quote.
    pub etag: &'static str,
}

/// Security headers of every file: the page runs only its own scripts
/// (and compiles its own WebAssembly) and its own stylesheet, submits no
/// form by navigation (its forms are sent by script; without script a
/// login form must not put a password in a URL), is never framed, and no
/// type is sniffed. The dashboard measures text on its canvas, not with
/// plotters' styled `<span>`, so no inline style is needed.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// Answers `request` from `assets` (GET and HEAD); an unknown path is a
/// 404 in the negotiated format.
pub fn reply(assets: &[Asset], request: &ApiRequest) -> Result<Reply, ApiError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(method_not_allowed(request, &["GET", "HEAD"]));
    }
    let path = match request.path.as_str() {
        "" | "/index.html" => "/",
        path => path,
    };
    let asset = assets
        .iter()
        .find(|asset| asset.path == path)
        .ok_or_else(|| ApiError::not_found(format!("no file {}", request.path)))?;
    let gzip = accepts_gzip(request.header("accept-encoding").unwrap_or(""));
    let (body, etag) = if gzip {
        let quoted = asset.etag.trim_end_matches('"');
        (asset.gzip, format!("{quoted}-gz\""))
    } else {
        (asset.body, asset.etag.to_owned())
    };
    let unchanged = request
        .header("if-none-match")
        .is_some_and(|tags| matches_etag(tags, &etag));
    let mut reply = if unchanged {
        Reply::raw(304, Vec::new())
    } else if request.method == "HEAD" {
        Reply::raw(200, Vec::new())
    } else {
        Reply::raw(200, body.to_vec())
    };
    if !unchanged {
        reply = reply.with_header("content-type", asset.content_type);
        if gzip {
            reply = reply.with_header("content-encoding", "gzip");
        }
    }
    reply = reply
        .with_header("etag", etag)
        .with_header("cache-control", "no-cache")
        .with_header("vary", "Accept-Encoding");
    for (name, value) in SECURITY_HEADERS {
        reply = reply.with_header(name, *value);
    }
    Ok(reply)
}

/// `If-None-Match` by weak comparison (RFC 9110 §13.1.2): `*`, or any
/// listed tag equal to `etag` ignoring a `W/` prefix.
fn matches_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSETS: &[Asset] = &[
        Asset {
            path: "/",
            content_type: "text/html; charset=utf-8",
            body: b"<!doctype html>",
            gzip: b"gz",
            etag: "\"abc\"",
        },
        Asset {
            path: "/dashboard/app.wasm",
            content_type: "application/wasm",
            body: b"\0asm",
            gzip: b"gzwasm",
            etag: "\"def\"",
        },
    ];

    fn get(path: &str, headers: &[(&str, &str)]) -> Result<Reply, ApiError> {
        let mut request = ApiRequest::new("GET", path);
        for (name, value) in headers {
            request
                .headers
                .push(((*name).to_owned(), (*value).to_owned()));
        }
        reply(ASSETS, &request)
    }

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply
            .headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn body(reply: &Reply) -> &[u8] {
        match &reply.payload {
            crate::http::Payload::Raw(body) => body,
            _ => panic!("not a raw body"),
        }
    }

    #[test]
    fn serves_each_file_with_its_type_and_validator() {
        for path in ["/", "/index.html"] {
            let page = get(path, &[]).unwrap();
            assert_eq!(page.status, 200);
            assert_eq!(body(&page), b"<!doctype html>");
            assert_eq!(
                header(&page, "content-type"),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(header(&page, "etag"), Some("\"abc\""));
            assert_eq!(header(&page, "cache-control"), Some("no-cache"));
            assert_eq!(header(&page, "vary"), Some("Accept-Encoding"));
            assert_eq!(header(&page, "content-encoding"), None);
        }
        let wasm = get("/dashboard/app.wasm", &[]).unwrap();
        assert_eq!(header(&wasm, "content-type"), Some("application/wasm"));
        assert_eq!(get("/dashboard/nothing", &[]).err().unwrap().status(), 404);
        let post = reply(ASSETS, &ApiRequest::new("POST", "/")).err().unwrap();
        assert_eq!(post.status(), 405);
        let head = reply(ASSETS, &ApiRequest::new("HEAD", "/")).unwrap();
        assert_eq!((head.status, body(&head).len()), (200, 0));
    }

    #[test]
    fn gzip_only_when_accepted() {
        for (accept, gzip) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, gzip;q=0.5", true),
            ("GZIP", true),
            ("*", true),
            ("gzip;q=0", false),
            ("*, gzip;q=0", false),
            ("br", false),
            ("identity", false),
            ("", false),
        ] {
            let page = get("/", &[("accept-encoding", accept)]).unwrap();
            assert_eq!(
                header(&page, "content-encoding").is_some(),
                gzip,
                "{accept}"
            );
            let expected: &[u8] = if gzip { b"gz" } else { b"<!doctype html>" };
            assert_eq!(body(&page), expected, "{accept}");
            let etag = if gzip { "\"abc-gz\"" } else { "\"abc\"" };
            assert_eq!(header(&page, "etag"), Some(etag), "{accept}");
        }
    }

    #[test]
    fn if_none_match_answers_304_without_a_body() {
        for (accept, tags, status) in [
            ("", "\"abc\"", 304),
            ("", "W/\"abc\"", 304),
            ("", "\"x\", \"abc\"", 304),
            ("", "*", 304),
            ("", "\"abc-gz\"", 200),
            ("gzip", "\"abc-gz\"", 304),
            ("gzip", "\"abc\"", 200),
        ] {
            let page = get("/", &[("accept-encoding", accept), ("if-none-match", tags)]).unwrap();
            assert_eq!(page.status, status, "{accept} {tags}");
            if status == 304 {
                assert!(body(&page).is_empty());
                assert!(header(&page, "etag").is_some());
                assert_eq!(header(&page, "content-type"), None);
            }
        }
    }
}
