//! Tests of the test host itself: manifest validation, route matching, the
//! storage/variables layers, and one end-to-end run of the `health`
//! component.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use test_host::bindings::fermyon::spin::key_value::Error as KvError;
use test_host::bindings::fermyon::spin::sqlite::{Error as SqlError, Value};
use test_host::bindings::fermyon::spin::variables::Error as VarError;
use test_host::kv::{KvBackend, KvInstance};
use test_host::manifest::VariableDecl;
use test_host::routes::{RoutePattern, Router, match_route};
use test_host::sqlite::SqliteInstance;
use test_host::variables::{Template, VariablesInstance, resolve_app_variables};
use test_host::{HostConfig, client, serve};

/// Runs `future` with a deadline, so a hung test fails instead of blocking CI.
async fn within<T>(seconds: u64, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .expect("test timed out")
}

// ---------------------------------------------------------------------------
// Manifest validation (through `serve`, as the lead's tests see it).

/// Writes `manifest` into a fresh temp dir (with an empty `app.wasm` next to
/// it) and tries to serve it; returns the error text.
async fn serve_error(manifest: &str) -> String {
    serve_error_with(manifest, BTreeMap::new()).await
}

async fn serve_error_with(manifest: &str, variables: BTreeMap<String, String>) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"").unwrap();
    let result = serve(HostConfig {
        manifest_path: dir.path().join("spin.toml"),
        state_dir: dir.path().join("state"),
        listen: "127.0.0.1:0".parse().unwrap(),
        variables,
    })
    .await;
    match result {
        Ok(_) => panic!("manifest was accepted:\n{manifest}"),
        Err(err) => format!("{err:#}"),
    }
}

const HEADER: &str = r#"
spin_manifest_version = 2

[application]
name = "t"
version = "0.1.0"
"#;

fn manifest(rest: &str) -> String {
    format!("{HEADER}\n{rest}")
}

const ONE_COMPONENT: &str = r#"
[[trigger.http]]
route = "/a"
component = "a"

[component.a]
source = "app.wasm"
"#;

#[tokio::test]
async fn unknown_field_is_rejected() {
    within(10, async {
        let err = serve_error(&manifest(&format!("{ONE_COMPONENT}\nsurprise = true\n"))).await;
        assert!(err.contains("unknown field"), "{err}");

        let err = serve_error(&manifest(
            "[[trigger.http]]\nroute = \"/a\"\ncomponent = \"a\"\nmethod = \"GET\"\n\
             [component.a]\nsource = \"app.wasm\"\n",
        ))
        .await;
        assert!(err.contains("unknown field"), "{err}");

        let err = serve_error(&format!("{HEADER}\nauthor = \"x\"\n{ONE_COMPONENT}")).await;
        assert!(err.contains("unknown field"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn wrong_manifest_version_is_rejected() {
    within(10, async {
        let text = manifest(ONE_COMPONENT)
            .replace("spin_manifest_version = 2", "spin_manifest_version = \"1\"");
        let err = serve_error(&text).await;
        assert!(err.contains("spin_manifest_version"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn trigger_for_unknown_component_is_rejected() {
    within(10, async {
        let err = serve_error(&manifest(
            "[[trigger.http]]\nroute = \"/a\"\ncomponent = \"nope\"\n\
             [component.a]\nsource = \"app.wasm\"\n",
        ))
        .await;
        assert!(err.contains("unknown component \"nope\""), "{err}");
    })
    .await;
}

#[tokio::test]
async fn duplicate_route_is_rejected() {
    within(10, async {
        // `/a/` sanitizes to `/a`, as in Spin, so it is the same route.
        let err = serve_error(&manifest(
            "[[trigger.http]]\nroute = \"/a\"\ncomponent = \"a\"\n\
             [[trigger.http]]\nroute = \"/a/\"\ncomponent = \"b\"\n\
             [component.a]\nsource = \"app.wasm\"\n\
             [component.b]\nsource = \"app.wasm\"\n",
        ))
        .await;
        assert!(err.contains("duplicate route"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn template_with_undeclared_variable_is_rejected() {
    within(10, async {
        let err = serve_error(&manifest(&format!(
            "[variables]\nknown = {{ default = \"x\" }}\n{ONE_COMPONENT}\
             [component.a.variables]\ntoken = \"Bearer {{{{ unknown }}}}\"\n"
        )))
        .await;
        assert!(
            err.contains("undeclared application variable \"unknown\""),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn invalid_variable_names_are_rejected() {
    within(10, async {
        let err = serve_error(&manifest(&format!(
            "[variables]\nAdmin = {{ default = \"x\" }}\n{ONE_COMPONENT}"
        )))
        .await;
        assert!(err.contains("invalid variable name"), "{err}");

        let err = serve_error(&manifest(&format!(
            "[variables]\nadmin_token = {{ default = \"x\", required = true }}\n{ONE_COMPONENT}"
        )))
        .await;
        assert!(
            err.contains("one of `required = true` or `default`"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn missing_required_variable_is_rejected() {
    within(10, async {
        let text = manifest(&format!(
            "[variables]\ntest_host_never_set_xyz = {{ required = true, secret = true }}\n{ONE_COMPONENT}\
             [component.a.variables]\nv = \"{{{{ test_host_never_set_xyz }}}}\"\n"
        ));
        let err = serve_error(&text).await;
        assert!(err.contains("required variable"), "{err}");
        assert!(err.contains("test_host_never_set_xyz"), "{err}");

        // An override satisfies it; the next failure is the empty .wasm.
        let overrides = BTreeMap::from([("test_host_never_set_xyz".to_owned(), "v".to_owned())]);
        let err = serve_error_with(&text, overrides).await;
        assert!(!err.contains("required variable"), "{err}");

        // An override for an undeclared variable is an error.
        let overrides = BTreeMap::from([("typo".to_owned(), "v".to_owned())]);
        let err = serve_error_with(&text, overrides).await;
        assert!(err.contains("\"typo\" is not declared"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn unconfigured_store_labels_are_rejected() {
    within(10, async {
        let err = serve_error(&manifest(&format!(
            "{ONE_COMPONENT}key_value_stores = [\"default\", \"cache\"]\n"
        )))
        .await;
        assert!(err.contains("key-value store \"cache\""), "{err}");

        let err = serve_error(&manifest(&format!(
            "{ONE_COMPONENT}sqlite_databases = [\"analytics\"]\n"
        )))
        .await;
        assert!(err.contains("SQLite database \"analytics\""), "{err}");
    })
    .await;
}

#[tokio::test]
async fn unsupported_features_are_refused() {
    within(10, async {
        let err = serve_error(&manifest(&format!(
            "{ONE_COMPONENT}files = [\"static/*\"]\n"
        )))
        .await;
        assert!(err.contains("files"), "{err}");

        let err = serve_error(&manifest(
            "[[trigger.http]]\nroute = \"/users/:id\"\ncomponent = \"a\"\n\
             [component.a]\nsource = \"app.wasm\"\n",
        ))
        .await;
        assert!(err.contains("route parameters"), "{err}");

        let err = serve_error(&manifest(&format!(
            "{ONE_COMPONENT}allowed_outbound_hosts = [\"example.com\"]\n"
        )))
        .await;
        assert!(err.contains("scheme"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn missing_wasm_says_to_build() {
    within(10, async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spin.toml"), manifest(ONE_COMPONENT)).unwrap();
        let err = serve(HostConfig {
            manifest_path: dir.path().join("spin.toml"),
            state_dir: dir.path().join("state"),
            listen: "127.0.0.1:0".parse().unwrap(),
            variables: BTreeMap::new(),
        })
        .await
        .err()
        .expect("missing wasm accepted");
        let err = format!("{err:#}");
        assert!(
            err.contains("cargo build --target wasm32-wasip2 --release"),
            "{err}"
        );
    })
    .await;
}

#[test]
fn valid_manifest_parses() {
    let text = manifest(
        r#"
[variables]
admin_token = { required = true, secret = true }
greeting = { default = "hi" }

[[trigger.http]]
route = "/api/..."
component = "api"
executor = { type = "spin" }

[[trigger.http]]
route = { private = true }
component = "api"

[component.api]
source = "target/api.wasm"
description = "The API"
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = []
environment = { RUST_LOG = "info" }
[component.api.variables]
token = "{{ admin_token }}"
message = "{{greeting}}, world"
[component.api.build]
command = "cargo build --target wasm32-wasip2 --release -p api"
workdir = "."
watch = ["src/**/*.rs"]
"#,
    );
    let app = test_host::manifest::parse(&text, Path::new("/app")).unwrap();
    assert_eq!(app.name, "t");
    assert_eq!(app.http_triggers.len(), 1, "private routes are not routed");
    let api = &app.components["api"];
    assert_eq!(api.source, PathBuf::from("/app/target/api.wasm"));
    assert_eq!(api.environment["RUST_LOG"], "info");
    assert!(app.variables["admin_token"].required);
}

// ---------------------------------------------------------------------------
// Route matching.

fn router(routes: &[&'static str]) -> Router<&'static str> {
    Router::new(
        routes
            .iter()
            .map(|r| (RoutePattern::parse(r).unwrap(), *r))
            .collect(),
    )
}

#[test]
fn exact_route_matches_only_its_path() {
    let r = router(&["/session"]);
    assert_eq!(match_route(&r, "/session"), Some(&"/session"));
    assert_eq!(match_route(&r, "/session?x=1"), Some(&"/session"));
    // Spin 3.6.3 (routefinder) ignores empty segments; tried with curl
    // --path-as-is against `spin up`.
    for lenient in ["/session/", "/session//", "//session"] {
        assert_eq!(match_route(&r, lenient), Some(&"/session"), "{lenient}");
    }
    assert_eq!(match_route(&r, "/session/x"), None);
    assert_eq!(match_route(&r, "/session%00"), None);
    assert_eq!(match_route(&r, "/sessions"), None);
    assert_eq!(match_route(&r, "/"), None);
}

#[test]
fn root_routes() {
    let r = router(&["/"]);
    assert_eq!(match_route(&r, "/"), Some(&"/"));
    assert_eq!(match_route(&r, "/x"), None);

    let r = router(&["/..."]);
    for path in ["/", "/x", "/x/y/", "/x?q=1"] {
        assert_eq!(match_route(&r, path), Some(&"/..."), "{path}");
    }
}

#[test]
fn wildcard_matches_prefix_and_below() {
    let r = router(&["/api/..."]);
    assert_eq!(match_route(&r, "/api"), Some(&"/api/..."));
    assert_eq!(match_route(&r, "/api/"), Some(&"/api/..."));
    assert_eq!(match_route(&r, "/api/users/1"), Some(&"/api/..."));
    assert_eq!(match_route(&r, "/apix"), None);
    assert_eq!(match_route(&r, "//api//x"), Some(&"/api/..."));
    assert_eq!(match_route(&r, "/"), None);
}

#[test]
fn most_specific_route_wins() {
    let r = router(&["/...", "/api/...", "/api/users/...", "/api/users"]);
    assert_eq!(
        match_route(&r, "/api/users"),
        Some(&"/api/users"),
        "exact beats wildcard"
    );
    assert_eq!(match_route(&r, "/api/users/7"), Some(&"/api/users/..."));
    assert_eq!(match_route(&r, "/api/keys"), Some(&"/api/..."));
    assert_eq!(match_route(&r, "/other"), Some(&"/..."));

    // Order in the manifest does not matter.
    let r = router(&["/api/users/...", "/api/...", "/..."]);
    assert_eq!(match_route(&r, "/api/users/7"), Some(&"/api/users/..."));
}

#[test]
fn spin_route_headers_values() {
    let wildcard = RoutePattern::parse("/static/...").unwrap();
    assert_eq!(wildcard.based_route(), "/static/...");
    assert_eq!(wildcard.path_info("/static/img/a.png"), "/img/a.png");
    assert_eq!(wildcard.path_info("/static"), "");
    assert_eq!(wildcard.path_info("/static/"), "/");
    assert_eq!(wildcard.display(), "/static (wildcard)");

    let exact = RoutePattern::parse("/health").unwrap();
    assert_eq!(exact.path_info("/health"), "");
    assert_eq!(exact.based_route(), "/health");

    assert!(RoutePattern::parse("/.well-known/spin/x").is_err());
    assert!(RoutePattern::parse("/a/*").is_err());
    assert_eq!(
        RoutePattern::parse("/a/").unwrap(),
        RoutePattern::parse("/a").unwrap()
    );
}

// ---------------------------------------------------------------------------
// Key-value.

fn labels(labels: &[&str]) -> Arc<HashSet<String>> {
    Arc::new(labels.iter().map(|s| s.to_string()).collect())
}

#[tokio::test]
async fn kv_access_is_limited_to_listed_labels() {
    within(10, async {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(KvBackend::new(dir.path().join("kv.db")));
        let mut kv = KvInstance::new(labels(&["default"]), backend.clone());
        assert_eq!(kv.open_store("other").await, Err(KvError::AccessDenied));
        let mut none = KvInstance::new(labels(&[]), backend.clone());
        assert_eq!(none.open_store("default").await, Err(KvError::AccessDenied));
        // Listed but not configured (startup refuses such apps; defensive).
        let mut listed = KvInstance::new(labels(&["cache"]), backend);
        assert_eq!(listed.open_store("cache").await, Err(KvError::NoSuchStore));
        assert!(kv.open_store("default").await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn kv_semantics() {
    within(10, async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sqlite_key_value.db");
        let backend = Arc::new(KvBackend::new(&path));
        let mut kv = KvInstance::new(labels(&["default"]), backend.clone());
        let store = kv.open_store("default").await.unwrap();

        assert_eq!(kv.get_value(store, "k").await.unwrap(), Ok(None));
        assert_eq!(kv.exists_value(store, "k").await.unwrap(), Ok(false));
        assert_eq!(
            kv.delete_value(store, "k").await.unwrap(),
            Ok(()),
            "delete of missing key"
        );
        kv.set_value(store, "k", b"v1".to_vec())
            .await
            .unwrap()
            .unwrap();
        kv.set_value(store, "k", b"v2".to_vec())
            .await
            .unwrap()
            .unwrap();
        kv.set_value(store, "j", Vec::new()).await.unwrap().unwrap();
        assert_eq!(
            kv.get_value(store, "k").await.unwrap(),
            Ok(Some(b"v2".to_vec()))
        );
        assert_eq!(
            kv.get_value(store, "j").await.unwrap(),
            Ok(Some(Vec::new()))
        );
        assert_eq!(kv.exists_value(store, "k").await.unwrap(), Ok(true));
        let mut keys = kv.get_keys(store).await.unwrap().unwrap();
        keys.sort();
        assert_eq!(keys, ["j", "k"]);
        kv.delete_value(store, "k").await.unwrap().unwrap();
        assert_eq!(kv.get_value(store, "k").await.unwrap(), Ok(None));

        // A second instance (another request) shares the data.
        let mut other = KvInstance::new(labels(&["default"]), backend);
        let store2 = other.open_store("default").await.unwrap();
        assert_eq!(
            other.get_value(store2, "j").await.unwrap(),
            Ok(Some(Vec::new()))
        );

        // Spin's on-disk layout.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let (label, key): (String, String) = conn
            .query_row("SELECT store, key FROM spin_key_value", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((label.as_str(), key.as_str()), ("default", "j"));

        // Closed or bogus handles trap.
        kv.close(store);
        assert!(kv.get_value(store, "j").await.is_err());
        assert!(kv.get_value(9999, "j").await.is_err());
    })
    .await;
}

#[tokio::test]
async fn kv_store_table_is_bounded() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(KvBackend::new(dir.path().join("kv.db")));
        let mut kv = KvInstance::new(labels(&["default"]), backend);
        for _ in 0..256 {
            kv.open_store("default").await.unwrap();
        }
        assert_eq!(kv.open_store("default").await, Err(KvError::StoreTableFull));
    })
    .await;
}

// ---------------------------------------------------------------------------
// SQLite.

fn sqlite_instance(dir: &Path) -> SqliteInstance {
    SqliteInstance::new(labels(&["default"]), dir.join("sqlite_db.db").into())
}

#[tokio::test]
async fn sqlite_access_is_limited_to_listed_labels() {
    within(10, async {
        let dir = tempfile::tempdir().unwrap();
        let mut db = sqlite_instance(dir.path());
        assert_eq!(db.open_connection("other"), Err(SqlError::AccessDenied));
        let mut none = SqliteInstance::new(labels(&[]), dir.path().join("x.db").into());
        assert_eq!(none.open_connection("default"), Err(SqlError::AccessDenied));
        let conn = db.open_connection("default").unwrap();
        assert_eq!(
            db.execute_statement(conn + 1000, "SELECT 1", vec![]).await,
            Err(SqlError::InvalidConnection)
        );
    })
    .await;
}

#[tokio::test]
async fn sqlite_execute_semantics() {
    within(10, async {
        let dir = tempfile::tempdir().unwrap();
        let mut db = sqlite_instance(dir.path());
        let c = db.open_connection("default").unwrap();

        let created = db
            .execute_statement(
                c,
                "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)",
                vec![],
            )
            .await
            .unwrap();
        assert!(created.rows.is_empty());

        db.execute_statement(
            c,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("héllo".into()),
                Value::Blob(vec![0, 255]),
                Value::Null,
            ],
        )
        .await
        .unwrap();
        let result = db
            .execute_statement(
                c,
                "SELECT i, r, s, b, n FROM t WHERE i = ?1",
                vec![Value::Integer(-7)],
            )
            .await
            .unwrap();
        assert_eq!(result.columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(
            result.rows[0].values,
            [
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("héllo".into()),
                Value::Blob(vec![0, 255]),
                Value::Null,
            ]
        );

        // Several statements in one execute are an error (rusqlite, as Spin).
        let err = db
            .execute_statement(c, "SELECT 1; SELECT 2", vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, SqlError::Io(_)), "{err:?}");

        // SQL errors are io(message).
        match db.execute_statement(c, "SELEC 1", vec![]).await {
            Err(SqlError::Io(message)) => assert!(message.contains("syntax error"), "{message}"),
            other => panic!("{other:?}"),
        }
        match db
            .execute_statement(c, "SELECT * FROM missing", vec![])
            .await
        {
            Err(SqlError::Io(message)) => assert!(message.contains("no such table"), "{message}"),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn sqlite_transactions_span_executes_on_one_connection() {
    within(20, async {
        let dir = tempfile::tempdir().unwrap();
        let mut db = sqlite_instance(dir.path());
        let a = db.open_connection("default").unwrap();
        let b = db.open_connection("default").unwrap();
        db.execute_statement(a, "CREATE TABLE t (x INTEGER)", vec![])
            .await
            .unwrap();

        db.execute_statement(a, "BEGIN", vec![]).await.unwrap();
        db.execute_statement(a, "INSERT INTO t VALUES (1)", vec![])
            .await
            .unwrap();
        let count = |result: test_host::bindings::fermyon::spin::sqlite::QueryResult| {
            result.rows[0].values[0].clone()
        };
        // Inside the transaction `a` sees its write; `b` does not yet.
        let seen = db
            .execute_statement(a, "SELECT COUNT(*) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(seen), Value::Integer(1));
        let seen = db
            .execute_statement(b, "SELECT COUNT(*) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(seen), Value::Integer(0));
        db.execute_statement(a, "COMMIT", vec![]).await.unwrap();
        let seen = db
            .execute_statement(b, "SELECT COUNT(*) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(seen), Value::Integer(1));

        // A rolled-back transaction leaves nothing behind.
        db.execute_statement(a, "BEGIN", vec![]).await.unwrap();
        db.execute_statement(a, "INSERT INTO t VALUES (2)", vec![])
            .await
            .unwrap();
        db.execute_statement(a, "ROLLBACK", vec![]).await.unwrap();

        // Another instance (another request) is another connection.
        let mut other = sqlite_instance(dir.path());
        let c = other.open_connection("default").unwrap();
        let seen = other
            .execute_statement(c, "SELECT COUNT(*) FROM t", vec![])
            .await
            .unwrap();
        assert_eq!(count(seen), Value::Integer(1));
    })
    .await;
}

#[tokio::test]
async fn sqlite_result_size_is_limited() {
    within(10, async {
        let dir = tempfile::tempdir().unwrap();
        let mut db = sqlite_instance(dir.path()).with_max_result_bytes(1000);
        let c = db.open_connection("default").unwrap();
        let ok = db
            .execute_statement(c, "SELECT ?", vec![Value::Text("x".repeat(100))])
            .await;
        assert!(ok.is_ok(), "{ok:?}");
        let err = db
            .execute_statement(c, "SELECT ?", vec![Value::Blob(vec![0; 2000])])
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SqlError::Io("query result exceeds limit of 1000 bytes".into())
        );
        assert_eq!(test_host::sqlite::MAX_HOST_BUFFERED_BYTES, 128 << 20);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Variables.

fn decl(default: Option<&str>) -> VariableDecl {
    VariableDecl {
        default: default.map(str::to_owned),
        required: default.is_none(),
        secret: false,
    }
}

#[test]
fn variable_resolution_order() {
    let declared = BTreeMap::from([
        ("a".to_owned(), decl(Some("default-a"))),
        ("b".to_owned(), decl(Some("default-b"))),
        ("c".to_owned(), decl(Some("default-c"))),
        ("d".to_owned(), decl(None)),
    ]);
    let overrides = BTreeMap::from([
        ("a".to_owned(), "override-a".to_owned()),
        ("d".to_owned(), "override-d".to_owned()),
    ]);
    let env = |key: &str| {
        Ok(match key {
            "SPIN_VARIABLE_A" => Some("env-a".to_owned()),
            "SPIN_VARIABLE_B" => Some("env-b".to_owned()),
            _ => None,
        })
    };
    let values = resolve_app_variables(&declared, &overrides, env).unwrap();
    assert_eq!(values["a"], "override-a", "override beats env and default");
    assert_eq!(values["b"], "env-b", "env beats default");
    assert_eq!(values["c"], "default-c");
    assert_eq!(values["d"], "override-d");

    let err = resolve_app_variables(&declared, &BTreeMap::new(), env).unwrap_err();
    assert!(err.to_string().contains("\"d\""), "{err}");
}

#[test]
fn component_variables() {
    let templates = BTreeMap::from([
        (
            "auth".to_owned(),
            Template::parse("Bearer {{ admin_token }}").unwrap(),
        ),
        ("plain".to_owned(), Template::parse("literal").unwrap()),
    ]);
    let values = HashMap::from([("admin_token".to_owned(), "s3cret".to_owned())]);
    let vars = VariablesInstance::new("api", Arc::new(templates), Arc::new(values));
    assert_eq!(vars.get_value("auth"), Ok("Bearer s3cret".to_owned()));
    assert_eq!(vars.get_value("plain"), Ok("literal".to_owned()));
    // App variables are not visible to components directly.
    assert!(matches!(
        vars.get_value("admin_token"),
        Err(VarError::Undefined(_))
    ));
    for bad in ["", "Auth", "1a", "a__b", "a_", "a-b"] {
        assert!(
            matches!(vars.get_value(bad), Err(VarError::InvalidName(_))),
            "{bad:?}"
        );
    }
    assert!(Template::parse("{{ open").is_err());
}

// ---------------------------------------------------------------------------
// End to end: the real `health` component from the repository's spin.toml.

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's `spin.toml`, as `spin up` would serve it (every
/// component it lists must have been built).
#[tokio::test]
async fn serves_health_from_repository_manifest() {
    within(300, async {
        let state = tempfile::tempdir().unwrap();
        let app = serve(HostConfig {
            manifest_path: repo_root().join("spin.toml"),
            state_dir: state.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            variables: BTreeMap::new(),
        })
        .await
        .unwrap();
        let base = app.base_url();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(
            app.available_routes()
                .iter()
                .any(|line| line == &format!("  health: {base}/health")),
            "{:?}",
            app.available_routes()
        );

        let res = client::request(&base, "GET", "/health", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 200);
        assert_eq!(res.text(), "{\"status\": \"ok\"}");
        assert_eq!(res.header("Content-Type"), Some("application/json"));

        let res = client::request(&base, "GET", "/nope", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 404);
        app.shutdown().await;
    })
    .await;
}

/// A manifest of our own around the real `health.wasm`, to check the
/// host's own answers (empty 404, trailing slash, well-known paths) and the
/// component cache.
#[tokio::test]
async fn serves_health_component() {
    within(300, async {
        let wasm = repo_root().join("target/wasm32-wasip2/release/health.wasm");
        assert!(
            wasm.is_file(),
            "{} is missing: run `cargo build --target wasm32-wasip2 --release -p health` first",
            wasm.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let manifest_path = dir.path().join("spin.toml");
        std::fs::write(
            &manifest_path,
            format!(
                "spin_manifest_version = 2\n\
                 [application]\nname = \"health-only\"\nversion = \"1.2.3\"\n\
                 [[trigger.http]]\nroute = \"/health\"\ncomponent = \"health\"\n\
                 [[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"health\"\n\
                 [component.health]\nsource = {:?}\ndescription = \"Liveness\"\n",
                wasm.canonicalize().unwrap().display().to_string()
            ),
        )
        .unwrap();
        let config = HostConfig {
            manifest_path,
            state_dir: dir.path().join("state"),
            listen: "127.0.0.1:0".parse().unwrap(),
            variables: BTreeMap::new(),
        };
        let app = serve(config.clone()).await.unwrap();
        let base = app.base_url();
        assert_eq!(
            app.available_routes(),
            [
                format!("  health: {base}/health"),
                "    Liveness".to_owned(),
                format!("  health: {base}/probe (wildcard)"),
                "    Liveness".to_owned(),
            ]
        );

        for path in ["/health", "/health?probe=1"] {
            let res = client::request(&base, "GET", path, &[], b"body".to_vec())
                .await
                .unwrap();
            assert_eq!(res.status, 200, "GET {path}");
            assert_eq!(res.text(), "{\"status\": \"ok\"}", "GET {path}");
        }
        // Every method reaches the component, which refuses all but GET and
        // HEAD itself (the host's own 404 has no body).
        let res = client::request(&base, "POST", "/health", &[], b"body".to_vec())
            .await
            .unwrap();
        assert_eq!(res.status, 405);
        assert_eq!(res.header("allow"), Some("GET, HEAD"));
        assert!(res.text().contains("not allowed"));
        // The wildcard reaches the component too, which serves only its own
        // path (the core's route table) and says so in its own 404.
        for (method, path) in [("GET", "/probe/deep/path"), ("DELETE", "/probe")] {
            let res = client::request(&base, method, path, &[], b"body".to_vec())
                .await
                .unwrap();
            assert_eq!(res.status, 404, "{method} {path}");
            assert!(
                res.text().contains("the health routes are /health"),
                "{method} {path}: {}",
                res.text()
            );
        }

        let res = client::request(&base, "GET", "/health/", &[], vec![])
            .await
            .unwrap();
        assert_eq!(
            res.status, 200,
            "Spin serves /health/ with /health's component"
        );
        for path in ["/nope", "/health/x", "/healthz", "/prob"] {
            let res = client::request(&base, "GET", path, &[], vec![])
                .await
                .unwrap();
            assert_eq!(res.status, 404, "{path}");
            assert!(res.body.is_empty(), "{path}: Spin's 404 has no body");
        }

        let res = client::request(&base, "GET", "/.well-known/spin/health", &[], vec![])
            .await
            .unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "OK"));
        let res = client::request(&base, "GET", "/.well-known/spin/info", &[], vec![])
            .await
            .unwrap();
        assert_eq!(
            res.text(),
            "{\n  \"name\": \"health-only\",\n  \"version\": \"1.2.3\"\n}"
        );
        let res = client::request(&base, "GET", "/.well-known/spin/other", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 404);

        // A second app in the same process reuses the compiled component.
        let second = serve(HostConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        })
        .await
        .unwrap();
        let res = client::request(&second.base_url(), "GET", "/health", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 200);

        app.shutdown().await;
        drop(second);
        assert!(
            client::request(&base, "GET", "/health", &[], vec![])
                .await
                .is_err(),
            "still serving after shutdown"
        );
    })
    .await;
}

/// A manifest serving only the real `health.wasm` at `/health`, in `dir`.
fn health_only_config(dir: &Path) -> HostConfig {
    let wasm = repo_root().join("target/wasm32-wasip2/release/health.wasm");
    assert!(
        wasm.is_file(),
        "{} is missing: run `bash functions/build-components` first",
        wasm.display()
    );
    let manifest_path = dir.join("spin.toml");
    std::fs::write(
        &manifest_path,
        format!(
            "spin_manifest_version = 2\n\
             [application]\nname = \"health-only\"\n\
             [[trigger.http]]\nroute = \"/health\"\ncomponent = \"health\"\n\
             [component.health]\nsource = {:?}\n",
            wasm.canonicalize().unwrap().display().to_string()
        ),
    )
    .unwrap();
    HostConfig {
        manifest_path,
        state_dir: dir.join("state"),
        listen: "127.0.0.1:0".parse().unwrap(),
        variables: BTreeMap::new(),
    }
}

#[tokio::test]
async fn peak_guest_memory_is_measured_and_resettable() {
    within(300, async {
        let dir = tempfile::tempdir().unwrap();
        let app = serve(health_only_config(dir.path())).await.unwrap();
        // Components are instantiated per request: nothing has run yet.
        assert_eq!(app.peak_guest_memory_bytes(), 0);

        let res = client::request(&app.base_url(), "GET", "/health", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 200);
        let peak = app.peak_guest_memory_bytes();
        assert!(
            peak > 0 && peak < 64 << 20,
            "peak guest memory {peak} bytes is not in (0, 64 MiB)"
        );
        // Linear memories come in 64 KiB wasm pages.
        assert_eq!(peak % (64 << 10), 0, "{peak}");

        app.reset_peak_guest_memory();
        assert_eq!(app.peak_guest_memory_bytes(), 0);

        // Another request (a fresh instance) measures again.
        let res = client::request(&app.base_url(), "GET", "/health", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 200);
        let again = app.peak_guest_memory_bytes();
        assert!(again > 0 && again < 64 << 20, "{again}");
        app.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn streamed_request_to_health_component() {
    within(300, async {
        let dir = tempfile::tempdir().unwrap();
        let app = serve(health_only_config(dir.path())).await.unwrap();
        let res = client::request_streamed(&app.base_url(), "GET", "/health", &[], vec![])
            .await
            .unwrap();
        let body = b"{\"status\": \"ok\"}";
        assert_eq!(res.status, 200);
        assert_eq!(res.header("Content-Type"), Some("application/json"));
        assert_eq!(res.body_bytes, 16);
        assert_eq!(res.body_lines, 0);
        assert_eq!(res.body_prefix, body);
        assert_eq!(res.body_suffix, body);
        assert!(res.time_to_first_body_byte <= res.total_time, "{res:?}");

        // An empty body: the first-byte time is the end time.
        let res = client::request_streamed(&app.base_url(), "GET", "/nope", &[], vec![])
            .await
            .unwrap();
        assert_eq!((res.status, res.body_bytes), (404, 0));
        assert!(res.body_prefix.is_empty() && res.body_suffix.is_empty());
        assert_eq!(res.time_to_first_body_byte, res.total_time);
        app.shutdown().await;
    })
    .await;
}

/// A response body fed chunk by chunk from a channel, for a plain hyper
/// server in the streaming client's test.
struct ChannelBody(tokio::sync::mpsc::Receiver<hyper::body::Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = hyper::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(hyper::body::Frame::data(chunk))))
    }
}

/// The streaming client against a plain hyper server (no component): a body
/// of several hundred KiB in odd-sized chunks, the last one after a pause.
/// Checks the counts, both ends, and that the first byte is timed when it
/// arrives, not when the body ends.
#[tokio::test]
async fn streamed_request_reads_a_long_body_as_it_arrives() {
    within(60, async {
        const PAUSE: Duration = Duration::from_millis(500);
        let body: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let lines = body.iter().filter(|&&b| b == b'\n').count() as u64;
        let last_chunk = body.len() - 3;
        let boundaries = [0, 1, 8, 65_536, 65_537, 170_000, last_chunk, body.len()];

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server_body = body.clone();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |_request| {
                let body = server_body.clone();
                async move {
                    let (tx, rx) = tokio::sync::mpsc::channel(1);
                    tokio::spawn(async move {
                        for pair in boundaries.windows(2) {
                            if pair[0] == last_chunk {
                                tokio::time::sleep(PAUSE).await;
                            }
                            let chunk =
                                hyper::body::Bytes::copy_from_slice(&body[pair[0]..pair[1]]);
                            tx.send(chunk).await.unwrap();
                        }
                    });
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(ChannelBody(rx)))
                }
            });
            hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
                .unwrap();
        });

        let res = client::request_streamed(&base, "GET", "/stream", &[], vec![])
            .await
            .unwrap();
        assert_eq!(res.status, 200);
        assert_eq!(res.header("transfer-encoding"), Some("chunked"));
        assert_eq!(res.body_bytes, body.len() as u64);
        assert_eq!(res.body_lines, lines);
        assert_eq!(res.body_prefix, body[..64 << 10]);
        assert_eq!(res.body_suffix, body[body.len() - (64 << 10)..]);
        assert!(
            res.total_time - res.time_to_first_body_byte >= PAUSE / 2,
            "first byte not timed on arrival: {:?} of {:?}",
            res.time_to_first_body_byte,
            res.total_time
        );
        server.await.unwrap();
    })
    .await;
}
