//! Embeds the built dashboard (`target/dashboard/`, made by
//! `crates/dashboard-web/build.sh`) as a table of `intellimeter_core::
//! static_files::Asset`, each with its gzip copy and an ETag from its
//! SHA-256.

use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::path::PathBuf;

/// (file in target/dashboard, request path, content type)
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "/", "text/html; charset=utf-8"),
    (
        "style.css",
        "/dashboard/style.css",
        "text/css; charset=utf-8",
    ),
    (
        "main.js",
        "/dashboard/main.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "dashboard_web.js",
        "/dashboard/dashboard_web.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "dashboard_web_bg.wasm",
        "/dashboard/dashboard_web_bg.wasm",
        "application/wasm",
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dir = std::env::var_os("DASHBOARD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../target/dashboard"));
    println!("cargo::rerun-if-env-changed=DASHBOARD_DIR");
    let mut table = String::from("&[\n");
    for (file, path, content_type) in FILES {
        let plain = dir.join(file);
        let gzip = dir.join(format!("{file}.gz"));
        println!("cargo::rerun-if-changed={}", plain.display());
        println!("cargo::rerun-if-changed={}", gzip.display());
        let body = std::fs::read(&plain).unwrap_or_else(|error| {
            panic!(
                "{}: {error}. Build the dashboard first: bash crates/dashboard-web/build.sh \
                 (spin build and tests/run do)",
                plain.display()
            )
        });
        assert!(gzip.exists(), "{} is missing", gzip.display());
        let digest = Sha256::digest(&body);
        let mut etag = String::new();
        for byte in &digest[..16] {
            write!(etag, "{byte:02x}").unwrap();
        }
        writeln!(
            table,
            "    Asset {{ path: {path:?}, content_type: {content_type:?}, body: include_bytes!({plain:?}), gzip: include_bytes!({gzip:?}), etag: \"\\\"{etag}\\\"\" }},",
            plain = plain.canonicalize().unwrap(),
            gzip = gzip.canonicalize().unwrap(),
        )
        .unwrap();
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("assets.rs");
    std::fs::write(out, table).unwrap();
}
