//! The OpenAPI document (`functions/openapi/openapi.json`) against the
//! running app: it is served at `/openapi.json`, and every route of
//! spin.toml takes exactly the methods it documents, as the app's
//! behaviour says (anything but 405 means the route takes the method).
//! Every other end-to-end test checks each response it gets against the
//! document too (`common/openapi.rs`).

mod common;

use common::openapi::{document, documented_methods, path_item};
use common::*;
use std::collections::BTreeSet;
use test_host::client;

/// The methods sent to every route.
const METHODS: &[&str] = &["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];

/// A concrete path for each route of spin.toml but the catch-all: an
/// exact route itself; for a wildcard, every documented path under it,
/// each template parameter given the first value its schema lists.
fn concrete_paths() -> Vec<String> {
    let text = std::fs::read_to_string(manifest()).unwrap();
    let manifest = test_host::manifest::parse(&text, manifest().parent().unwrap()).unwrap();
    let paths = document()["paths"].as_object().unwrap();
    let mut out = Vec::new();
    for trigger in &manifest.http_triggers {
        let route = trigger.raw_route.as_str();
        if route == "/..." {
            continue;
        }
        match route.strip_suffix("/...") {
            None => out.push(route.to_owned()),
            Some(prefix) => {
                let under: Vec<&String> = paths
                    .keys()
                    .filter(|path| path.starts_with(&format!("{prefix}/")))
                    .collect();
                assert!(!under.is_empty(), "no documented path under {route}");
                for template in under {
                    out.push(instantiate(template, &paths[template]));
                }
            }
        }
    }
    out
}

/// `template` with each `{name}` replaced by the first `enum` value of the
/// parameter's schema.
fn instantiate(template: &str, item: &serde_json::Value) -> String {
    template
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                None => part.to_owned(),
                Some(name) => {
                    let parameter = item
                        .as_object()
                        .unwrap()
                        .values()
                        .flat_map(|op| op["parameters"].as_array().cloned().unwrap_or_default())
                        .find(|p| p["in"] == "path" && p["name"] == name)
                        .unwrap_or_else(|| panic!("{template}: no parameter {name}"));
                    parameter["schema"]["enum"][0]
                        .as_str()
                        .unwrap_or_else(|| panic!("{template}: {name} lists no values"))
                        .to_owned()
                }
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_takes_exactly_the_documented_methods() {
    within(async {
        let app = App::start().await;
        let paths = concrete_paths();
        assert!(paths.len() > 14, "{paths:?}");
        let mut mismatches = Vec::new();
        for path in &paths {
            let (template, item) =
                path_item(path).unwrap_or_else(|| panic!("{path} of spin.toml is not documented"));
            let documented = documented_methods(item);
            let mut taken = BTreeSet::new();
            for method in METHODS {
                // Plain requests: this test compares on its own, without
                // the response hook.
                let response = client::request(&app.base_url(), method, path, &[], Vec::new())
                    .await
                    .unwrap();
                if response.status != 405 {
                    taken.insert(method.to_string());
                }
            }
            let sent: BTreeSet<String> = METHODS.iter().map(|m| m.to_string()).collect();
            let documented: BTreeSet<String> = documented.intersection(&sent).cloned().collect();
            if taken != documented {
                mismatches.push(format!(
                    "{path} ({template}): the app takes {taken:?}, the document lists {documented:?}"
                ));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_with_validators() {
    within(async {
        let app = App::start().await;
        let response = app.get("/openapi.json", &Auth::None).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("cache-control"), Some("no-cache"));
        let served: serde_json::Value = parse(&response);
        assert_eq!(&served, document(), "the served document is openapi.json");
        let etag = response.header("etag").expect("an ETag").to_owned();

        let again = app
            .send("GET", "/openapi.json", &[("if-none-match", &etag)], "")
            .await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());

        let gzip = app
            .send("GET", "/openapi.json", &[("accept-encoding", "gzip")], "")
            .await;
        assert_eq!(gzip.status, 200);
        assert_eq!(gzip.header("content-encoding"), Some("gzip"));
        assert_ne!(gzip.header("etag"), Some(etag.as_str()));
        assert!(
            gzip.body.len() * 4 < response.body.len(),
            "gzip saves little"
        );

        // Spin ignores empty segments: the same document.
        let slash = app.get("/openapi.json/", &Auth::None).await;
        assert_eq!(slash.body, response.body);
    })
    .await
}
