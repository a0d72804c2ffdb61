#!/usr/bin/env bash
# Builds the browser dashboard into target/dashboard/ for the `dashboard`
# component to embed: the crate for wasm32-unknown-unknown (release), then
# wasm-bindgen's web glue, the hand-written page, and a gzip copy of each
# file (precompressed once here, not per request).
#
# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate
# in Cargo.lock (their ABI changes between versions): when `wasm-bindgen`
# on PATH or in target/tools is not that version, this installs it into
# target/tools with cargo (about 10 minutes on 2 cores, once per target dir).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=target/dashboard
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
[ -n "$version" ] || { echo "build.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true

bindgen=
for candidate in "$(command -v wasm-bindgen || true)" target/tools/bin/wasm-bindgen; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
        [ "$("$candidate" --version | awk '{print $2}')" = "$version" ]; then
        bindgen=$candidate
        break
    fi
done
if [ -z "$bindgen" ]; then
    echo "build.sh: installing wasm-bindgen-cli $version into target/tools (once)" >&2
    # Not --locked: the CLI's own lockfile names crate versions our registry
    # mirror may lack; the version that must match (the CLI's) is pinned.
    cargo install --quiet --root target/tools --version "=$version" wasm-bindgen-cli
    bindgen=target/tools/bin/wasm-bindgen
fi

# strip = true (the release profile of the components) would drop the
# target_features section wasm-bindgen reads; the debug info is dropped
# anyway (debug = false), so this costs no size.
CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --target wasm32-unknown-unknown -p dashboard-web
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
"$bindgen" --target web --no-typescript --out-dir "$out.tmp" \
    target/wasm32-unknown-unknown/release/dashboard_web.wasm
cp crates/dashboard-web/static/index.html crates/dashboard-web/static/style.css \
    crates/dashboard-web/static/main.js "$out.tmp/"
for file in "$out.tmp"/*; do
    gzip -9 -n -k "$file"
done
# Replace only when changed, so the component is rebuilt only then.
if ! diff -r "$out.tmp" "$out" >/dev/null 2>&1; then
    rm -rf "$out"
    mv "$out.tmp" "$out"
else
    rm -rf "$out.tmp"
fi
ls -l "$out" >&2

# The component that embeds it (not in the build-components alias: every
# other component's build would then need target/dashboard first).
cargo build --target wasm32-wasip2 --release -p dashboard
