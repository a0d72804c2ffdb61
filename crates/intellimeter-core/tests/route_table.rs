//! The route table (`routes::ROUTES`) is the one list of routes; these
//! tests fail when anything else that names routes disagrees with it:
//! `spin.toml` (triggers, components, their least-privilege store and
//! variable lists, sources), the component crates under `functions/`, the
//! workspace members, the `build-components` alias, `openapi.json` (paths
//! and methods), and the core's own list of handlers.

use intellimeter_core::routes::{self, HANDLED, ROUTES, RouteSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn toml_file(path: &str) -> toml::Table {
    let path = repo().join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .parse()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn strings(value: Option<&toml::Value>) -> BTreeSet<String> {
    value
        .and_then(toml::Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The components of the table, each with the routes it serves.
fn components() -> BTreeMap<&'static str, Vec<&'static RouteSpec>> {
    let mut components: BTreeMap<&str, Vec<&RouteSpec>> = BTreeMap::new();
    for spec in ROUTES {
        components.entry(spec.component).or_default().push(spec);
    }
    components
}

#[test]
fn paths_are_unique_and_each_component_has_one_set_of_grants() {
    let paths: BTreeSet<&str> = ROUTES.iter().map(|spec| spec.path).collect();
    assert_eq!(paths.len(), ROUTES.len(), "a path is listed twice");
    for (component, specs) in components() {
        for spec in &specs {
            assert_eq!(
                spec.grants, specs[0].grants,
                "{component}: its routes must share one set of grants"
            );
            assert!(
                spec.is_catch_all() || !spec.methods.is_empty(),
                "{}: no methods",
                spec.path
            );
        }
    }
    assert!(
        ROUTES.last().is_some_and(|spec| spec.is_catch_all()),
        "the catch-all comes last"
    );
}

#[test]
fn spin_toml_triggers_exactly_the_tables_routes() {
    let manifest = toml_file("spin.toml");
    let triggers: BTreeSet<(String, String)> = manifest["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trigger| {
            (
                trigger["route"].as_str().unwrap().to_owned(),
                trigger["component"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|spec| (spec.trigger.to_owned(), spec.component.to_owned()))
        .collect();
    assert_eq!(
        triggers, table,
        "spin.toml's [[trigger.http]] against the table"
    );
}

#[test]
fn spin_toml_grants_each_component_exactly_what_the_table_says() {
    let manifest = toml_file("spin.toml");
    let declared = manifest["component"].as_table().unwrap();
    let components = components();
    let names: BTreeSet<&str> = declared.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        components.keys().copied().collect(),
        "spin.toml's components against the table"
    );
    for (name, specs) in &components {
        let grants = &specs[0].grants;
        let component = declared[*name].as_table().unwrap();
        let default = |wanted: bool| -> BTreeSet<String> {
            if wanted {
                BTreeSet::from(["default".to_owned()])
            } else {
                BTreeSet::new()
            }
        };
        assert_eq!(
            strings(component.get("key_value_stores")),
            default(grants.key_value),
            "{name}: key_value_stores"
        );
        assert_eq!(
            strings(component.get("sqlite_databases")),
            default(grants.sqlite),
            "{name}: sqlite_databases"
        );
        let variables: BTreeSet<String> = component
            .get("variables")
            .and_then(toml::Value::as_table)
            .map(|variables| variables.keys().cloned().collect())
            .unwrap_or_default();
        let granted: BTreeSet<String> = grants.variables.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(variables, granted, "{name}: variables");
        assert_eq!(
            component["source"].as_str().unwrap(),
            format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            "{name}: source"
        );
        assert!(
            component.get("build").is_some(),
            "{name}: no [component.{name}.build], so `spin build` would skip it"
        );
    }
    let application_variables: BTreeSet<String> = manifest["variables"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let used: BTreeSet<String> = ROUTES
        .iter()
        .flat_map(|spec| spec.grants.variables)
        .map(|variable| (*variable).to_owned())
        .collect();
    assert_eq!(
        application_variables, used,
        "[variables] against the grants"
    );
}

#[test]
fn every_component_is_a_crate_of_functions_and_nothing_else_is() {
    let components = components();
    let crates: BTreeSet<String> = std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .map(|dir| dir.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    let wanted: BTreeSet<String> = components.keys().map(|name| (*name).to_owned()).collect();
    assert_eq!(
        crates, wanted,
        "the crates under functions/ against the components"
    );
    for name in components.keys() {
        let manifest = toml_file(&format!("functions/{name}/Cargo.toml"));
        assert_eq!(
            manifest["package"]["name"].as_str(),
            Some(*name),
            "functions/{name}: the crate is named after its component"
        );
        assert_eq!(
            strings(manifest["lib"].get("crate-type")),
            BTreeSet::from(["cdylib".to_owned()]),
            "functions/{name}: a cdylib"
        );
    }
}

#[test]
fn the_workspace_and_the_build_alias_build_every_component() {
    let workspace = toml_file("Cargo.toml");
    let members = strings(workspace["workspace"].get("members"));
    for name in components().keys() {
        let dir = format!("functions/{name}");
        assert!(
            members.contains(&dir) || members.contains("functions/*"),
            "{dir} is not a workspace member"
        );
    }
    // `cargo build-components` builds the workspace for wasm32-wasip2 but
    // what it excludes: the native crates and the dashboard, which its own
    // build script builds after the browser crate.
    let config = toml_file(".cargo/config.toml");
    let alias: Vec<&str> = config["alias"]["build-components"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(alias.contains(&"--workspace"), "{alias:?}");
    let excluded: BTreeSet<&str> = alias
        .windows(2)
        .filter(|pair| pair[0] == "--exclude")
        .map(|pair| pair[1])
        .collect();
    for name in components().keys() {
        if *name == "dashboard" {
            assert!(
                excluded.contains(name),
                "the dashboard is built by its script"
            );
        } else {
            assert!(
                !excluded.contains(name),
                "{name} is excluded from the build"
            );
        }
    }
    let manifest = toml_file("spin.toml");
    for (name, component) in manifest["component"].as_table().unwrap() {
        let command = component["build"]["command"].as_str().unwrap();
        let wanted = if name == "dashboard" {
            "bash crates/dashboard-web/build.sh"
        } else {
            "cargo build-components"
        };
        assert_eq!(command, wanted, "{name}: build command");
    }
}

/// The document's path for a table path (`/dashboard/...` is described as
/// `/dashboard/{file}`).
fn documented_path(spec: &RouteSpec) -> String {
    match spec.path.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/{{file}}"),
        None => spec.path.to_owned(),
    }
}

#[test]
fn openapi_json_describes_exactly_the_tables_routes_and_methods() {
    let path = repo().join("functions/openapi/openapi.json");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let described: BTreeMap<String, BTreeSet<String>> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|key| {
                    [
                        "get", "put", "post", "delete", "patch", "head", "options", "trace",
                    ]
                    .contains(&key.as_str())
                })
                .map(|method| method.to_ascii_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect();
    let table: BTreeMap<String, BTreeSet<String>> = ROUTES
        .iter()
        .filter(|spec| !spec.is_catch_all())
        .map(|spec| {
            let methods = spec.methods.iter().map(|m| (*m).to_owned()).collect();
            (documented_path(spec), methods)
        })
        .collect();
    assert_eq!(
        described, table,
        "openapi.json's paths and methods against the table"
    );
}

#[test]
fn the_core_serves_every_route_of_a_core_component() {
    // openapi and dashboard serve files embedded in their own crates; every
    // other route's handler is in the core and listed once in HANDLED.
    for spec in ROUTES {
        let handled = HANDLED.iter().filter(|route| route.spec == *spec).count();
        let embedded = [
            &routes::OPENAPI,
            &routes::DASHBOARD_PAGE,
            &routes::DASHBOARD_FILES,
        ]
        .contains(spec);
        assert_eq!(
            handled,
            usize::from(!embedded),
            "{}: listed {handled} times in HANDLED",
            spec.path
        );
    }
    assert_eq!(HANDLED.len() + 3, ROUTES.len());
}

#[test]
fn spin_style_path_matching() {
    let session = &routes::session::SPEC;
    for path in ["/session", "/session/", "//session", "/session//"] {
        assert!(session.serves(path), "{path}");
    }
    for path in ["/session/x", "/sessions", "/", "/SESSION"] {
        assert!(!session.serves(path), "{path}");
    }
    let files = &routes::DASHBOARD_FILES;
    assert!(files.serves("/dashboard/app.js") && files.serves("/dashboard"));
    assert!(!files.serves("/dashboards/app.js"));
    assert!(routes::not_found::SPEC.serves("/anything/at/all"));
    assert!(routes::DASHBOARD_PAGE.serves("/") && !routes::DASHBOARD_PAGE.serves("/x"));
}
