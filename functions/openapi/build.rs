//! Embeds `openapi.json` as an `intellimeter_core::http::static_files::Asset`,
//! with a gzip copy and an ETag from its SHA-256, as the dashboard's
//! files are.

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let document = manifest.join("openapi.json");
    println!("cargo::rerun-if-changed={}", document.display());
    let body = std::fs::read(&document).unwrap();

    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&body).unwrap();
    let gzip_path = out.join("openapi.json.gz");
    std::fs::write(&gzip_path, gzip.finish().unwrap()).unwrap();

    let mut etag = String::new();
    for byte in &Sha256::digest(&body)[..16] {
        write!(etag, "{byte:02x}").unwrap();
    }
    let asset = format!(
        "Asset {{ path: \"/openapi.json\", content_type: \"application/json\", body: include_bytes!({document:?}), gzip: include_bytes!({gzip_path:?}), etag: \"\\\"{etag}\\\"\" }}"
    );
    std::fs::write(out.join("asset.rs"), asset).unwrap();
}
