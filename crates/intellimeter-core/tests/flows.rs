//! Account flows through the core's handlers over a real SQLite (rusqlite)
//! and an in-memory key-value store, with a clock the tests control. The
//! end-to-end tests in tests/test-host run the same flows through the real
//! wasm components; these add what only a controllable clock can show.

mod common;

use common::{MemoryKv, Sqlite, Xorshift};
use intellimeter_core::env::Env;
use intellimeter_core::routes;
use intellimeter_core::storage::migrations;
use intellimeter_core::storage::{Rows, Sql, SqlValue, StorageError};
use intellimeter_core::{ApiRequest, ApiResponse, Route, Services, respond};
use std::cell::{Cell, RefCell};

struct World {
    db: Sqlite,
    kv: MemoryKv,
    now: Cell<i64>,
    random: Xorshift,
    admin_token: String,
    /// The address Spin reports for the next requests (`spin-client-addr`).
    client: RefCell<String>,
    /// Spin variables besides the admin token.
    variables: RefCell<Vec<(&'static str, String)>>,
    /// Whether a COMMIT fails (as a lost connection to sqld would).
    commits_fail: Cell<bool>,
}

impl Sql for World {
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        if statement == "COMMIT" && self.commits_fail.get() {
            return Err(StorageError::other("the connection was lost at COMMIT"));
        }
        self.db.execute(statement, params)
    }
}

impl Env for World {
    fn now(&self) -> i64 {
        self.now.get()
    }
    fn fill_random(&self, buf: &mut [u8]) {
        self.random.fill(buf);
    }
    fn variable(&self, name: &str) -> Option<String> {
        if name == "admin_token" {
            return Some(self.admin_token.clone());
        }
        let variables = self.variables.borrow();
        variables
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value.clone())
    }
    fn log(&self, _line: &str) {}
}

impl World {
    fn new() -> Self {
        World {
            db: Sqlite::in_memory(),
            kv: MemoryKv::default(),
            now: Cell::new(1_572_379_637),
            random: Xorshift::default(),
            admin_token: "admin-secret-0123456789abcdef0123456789".to_owned(),
            client: RefCell::new("192.0.2.7:4000".to_owned()),
            variables: RefCell::new(Vec::new()),
            commits_fail: Cell::new(false),
        }
    }

    fn call(&self, route: &Route, request: ApiRequest) -> ApiResponse {
        let request = request.with_header("spin-client-addr", &self.client.borrow());
        respond(
            route,
            &request,
            Services {
                db: self,
                kv: &self.kv,
                env: self,
            },
        )
    }

    fn json(&self, route: &Route, request: ApiRequest) -> (u16, serde_json::Value) {
        let response = self.call(route, request);
        let body = serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null);
        (response.status, body)
    }

    fn provision(&self, username: &str) -> serde_json::Value {
        let body = format!(
            r#"{{"name": "site", "timezone": "America/Toronto", "username": "{username}", "password": "password1", "email": "a@example.com"}}"#
        );
        let (status, body) = self.json(
            &routes::admin::PROJECTS,
            json_request("POST", "/admin/projects", &body).with_header(
                "authorization",
                "Bearer admin-secret-0123456789abcdef0123456789",
            ),
        );
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The current API key of the user logged in with `cookie`.
    fn api_key(&self, cookie: &str) -> String {
        let (status, body) = self.json(
            &routes::key::ROUTE,
            ApiRequest::new("GET", "/key").with_header("cookie", cookie),
        );
        assert_eq!(status, 200, "{body}");
        body["key"].as_str().unwrap().to_owned()
    }

    /// One ingest batch of one reading at `ts` (RFC 3339) from each of the
    /// meters `m<n>`, `n` in `meters`; the status and body.
    fn ingest_meters(
        &self,
        token: &str,
        meters: std::ops::Range<usize>,
        ts: &str,
    ) -> (u16, serde_json::Value) {
        let readings: Vec<String> = meters
            .map(|n| format!(r#"{{"MeterId": "m{n}", "TimeStamping": "{ts}", "value": 1}}"#))
            .collect();
        self.json(
            &routes::ingest::ROUTE,
            json_request(
                "POST",
                "/ingest",
                &format!(r#"{{"readings": [{}]}}"#, readings.join(",")),
            )
            .with_header("authorization", &format!("Bearer {token}")),
        )
    }
}

fn json_request(method: &str, path: &str, body: &str) -> ApiRequest {
    ApiRequest::new(method, path)
        .with_header("content-type", "application/json")
        .with_body(body)
}

fn session_cookie(response: &ApiResponse) -> String {
    let cookie = response.header("set-cookie").expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn migrations_apply_once_to_an_empty_database() {
    let world = World::new();
    assert_eq!(migrations::current_version(&world).unwrap(), 0);
    migrations::apply(&world).unwrap();
    assert_eq!(
        migrations::current_version(&world).unwrap(),
        migrations::latest_version()
    );
    migrations::apply(&world).unwrap();
    let tables = world
        .execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            &[],
        )
        .unwrap();
    let names: Vec<_> = tables.iter().map(|row| row.text(0).unwrap()).collect();
    assert_eq!(
        names,
        [
            "collectors",
            "interval_rollups",
            "login_failures",
            "pending_work",
            "points",
            "projects",
            "readings",
            "sqlite_sequence",
            "usage_buckets",
            "users"
        ]
    );
}

/// The schema as of migration `version`, with project 1 in it.
fn an_old_schema_with_a_project(world: &World, version: i64) {
    migrations::apply_up_to(world, version).unwrap();
    world
        .execute(
            "INSERT INTO projects (id, name, timezone, ingest_token_hash, created_at) \
             VALUES (1, 'p', 'UTC', 'h', 0)",
            &[],
        )
        .unwrap();
}

#[test]
fn user_ids_survive_the_move_to_autoincrement_and_are_never_reused() {
    let world = World::new();
    an_old_schema_with_a_project(&world, 2);
    for (id, name) in [(1, "a"), (2, "b"), (7, "c")] {
        world
            .execute(
                "INSERT INTO users (id, project_id, username, email, password_hash, joined_at, \
                 api_key_hash, api_key_sealed) VALUES (?, 1, ?, 'e@x', 'h', 0, ?, x'00')",
                &[SqlValue::Integer(id), name.into(), format!("k{id}").into()],
            )
            .unwrap();
    }
    migrations::apply(&world).unwrap();
    let users = world
        .execute(
            "SELECT id, username, session_stamp FROM users ORDER BY id",
            &[],
        )
        .unwrap();
    let kept: Vec<(i64, String)> = users
        .iter()
        .map(|row| (row.int(0).unwrap(), row.text(1).unwrap()))
        .collect();
    assert_eq!(kept, [(1, "a".into()), (2, "b".into()), (7, "c".into())]);
    let stamps: std::collections::HashSet<String> =
        users.iter().map(|row| row.text(2).unwrap()).collect();
    assert_eq!(stamps.len(), 3, "every user has a stamp of its own");
    assert!(stamps.iter().all(|stamp| stamp.len() == 32));
    // The highest id deleted is not handed out again.
    world
        .execute("DELETE FROM users WHERE id = 7", &[])
        .unwrap();
    let next = world
        .execute(
            "INSERT INTO users (project_id, username, email, password_hash, joined_at, \
             api_key_hash, api_key_sealed, session_stamp) \
             VALUES (1, 'd', 'e@x', 'h', 0, 'k8', x'00', 's') RETURNING id",
            &[],
        )
        .unwrap();
    assert_eq!(next.first().unwrap().int(0).unwrap(), 8);
}

#[test]
fn a_newer_schema_is_refused() {
    let world = World::new();
    world.execute("PRAGMA user_version = 99", &[]).unwrap();
    assert!(migrations::apply(&world).is_err());
}

#[test]
fn login_throttle_blocks_then_lets_the_user_back_in() {
    let world = World::new();
    world.provision("alice");
    let login = world.call(
        &routes::session::ROUTE,
        json_request(
            "PUT",
            "/session",
            r#"{"username": "alice", "password": "password1"}"#,
        ),
    );
    let key = world.api_key(&session_cookie(&login));
    let attempt = |password: &str| {
        world.call(
            &routes::session::ROUTE,
            json_request(
                "PUT",
                "/session",
                &format!(r#"{{"username": "alice", "password": "{password}"}}"#),
            ),
        )
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong-password").status, 401);
    }
    let blocked = attempt("password1");
    assert_eq!(
        blocked.status, 429,
        "the right password is refused too while throttled"
    );
    let retry_after: i64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after));

    // The real user can still log in with their API key meanwhile.
    let by_key = world.call(
        &routes::session::ROUTE,
        json_request("PUT", "/session", &format!(r#"{{"key": "{key}"}}"#)),
    );
    assert_eq!(by_key.status, 200);

    world.now.set(world.now.get() + 901);
    assert_eq!(attempt("password1").status, 200, "the window ended");
    // A success clears the account's count.
    for _ in 0..4 {
        assert_eq!(attempt("wrong-password").status, 401);
    }
    assert_eq!(attempt("password1").status, 200);
}

#[test]
fn sessions_expire_after_a_day() {
    let world = World::new();
    world.provision("bob");
    let login = world.call(
        &routes::session::ROUTE,
        json_request(
            "PUT",
            "/session",
            r#"{"username": "bob", "password": "password1"}"#,
        ),
    );
    assert_eq!(login.status, 200);
    let cookie = session_cookie(&login);
    let get = || {
        world
            .call(
                &routes::session::ROUTE,
                ApiRequest::new("GET", "/session").with_header("cookie", &cookie),
            )
            .status
    };
    assert_eq!(get(), 200);
    world.now.set(world.now.get() + 24 * 3600 - 1);
    assert_eq!(get(), 200);
    world.now.set(world.now.get() + 2);
    assert_eq!(get(), 401);
}

#[test]
fn secrets_are_not_stored_in_plain_text() {
    let world = World::new();
    let provisioned = world.provision("carol");
    let login = world.call(
        &routes::session::ROUTE,
        json_request(
            "PUT",
            "/session",
            r#"{"username": "carol", "password": "password1"}"#,
        ),
    );
    let cookie = session_cookie(&login);
    let (name, token) = cookie.split_once('=').unwrap();
    assert_eq!(name, "__Host-session");
    let token = token.to_owned();
    let key = world.api_key(&cookie);
    let ingest = provisioned["ingest_token"].as_str().unwrap().to_owned();

    let dump: String = world
        .db
        .0
        .prepare("SELECT quote(password_hash) || quote(api_key_hash) || quote(api_key_sealed) FROM users UNION ALL SELECT quote(ingest_token_hash) FROM projects")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let kv_dump: String = world
        .kv
        .borrow()
        .iter()
        .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
        .collect();
    for secret in [&key, &token, &ingest, &"password1".to_owned()] {
        assert!(!dump.contains(secret.as_str()), "{secret} in the database");
        assert!(
            !kv_dump.contains(secret.as_str()),
            "{secret} in the key-value store"
        );
    }
}

impl World {
    fn password_login(&self, username: &str, password: &str) -> ApiResponse {
        self.call(
            &routes::session::ROUTE,
            json_request(
                "PUT",
                "/session",
                &format!(r#"{{"username": "{username}", "password": "{password}"}}"#),
            ),
        )
    }

    fn from(&self, address: &str) -> &Self {
        *self.client.borrow_mut() = address.to_owned();
        self
    }
}

#[test]
fn an_attacker_locks_only_their_own_address_out_of_a_username() {
    let world = World::new();
    world.provision("owner");
    for _ in 0..5 {
        let response = world
            .from("203.0.113.66:1")
            .password_login("owner", "guess-guess");
        assert_eq!(response.status, 401);
    }
    let locked = world
        .from("203.0.113.66:2")
        .password_login("owner", "password1");
    assert_eq!(
        locked.status, 429,
        "that address is locked out of that username"
    );
    // The owner, elsewhere, is not.
    let owner = world
        .from("198.51.100.1:5000")
        .password_login("owner", "password1");
    assert_eq!(owner.status, 200);
    // The window ends for the attacker's address too.
    world.now.set(world.now.get() + 901);
    let later = world
        .from("203.0.113.66:3")
        .password_login("owner", "password1");
    assert_eq!(later.status, 200);
}

#[test]
fn a_username_under_a_spray_is_slowed_down_not_locked() {
    let world = World::new();
    world.provision("owner");
    // Ten addresses, one guess each: no address reaches its own limit.
    for n in 0..10 {
        let response = world
            .from(&format!("203.0.113.{n}:1"))
            .password_login("owner", "guess-guess");
        assert_eq!(response.status, 401, "guess {n}");
    }
    // Now one attempt per 2 seconds for the username, from anywhere.
    let too_soon = world
        .from("203.0.113.77:1")
        .password_login("owner", "guess-guess");
    assert_eq!(too_soon.status, 429);
    let retry_after: i64 = too_soon.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let owner_too_soon = world
        .from("198.51.100.1:1")
        .password_login("owner", "password1");
    assert_eq!(owner_too_soon.status, 429, "the owner waits seconds too");
    world.now.set(world.now.get() + retry_after);
    let owner = world
        .from("198.51.100.1:1")
        .password_login("owner", "password1");
    assert_eq!(owner.status, 200, "and then gets in");
    // The spacing holds for the attacker: one guess, then wait again.
    world.now.set(world.now.get() + 2);
    assert_eq!(
        world
            .from("203.0.113.78:1")
            .password_login("owner", "x-guess-1")
            .status,
        401
    );
    assert_eq!(
        world
            .from("203.0.113.79:1")
            .password_login("owner", "x-guess-2")
            .status,
        429
    );
}

#[test]
fn one_address_is_limited_across_usernames_but_key_logins_ignore_usernames() {
    let world = World::new();
    world.provision("owner");
    let login = world.password_login("owner", "password1");
    let key = world.api_key(&session_cookie(&login));
    // Five wrong passwords lock this address out of "owner" …
    for _ in 0..5 {
        assert_eq!(world.password_login("owner", "guess-guess").status, 401);
    }
    // … but the API key still logs in from here.
    let by_key = world.call(
        &routes::session::ROUTE,
        json_request("PUT", "/session", &format!(r#"{{"key": "{key}"}}"#)),
    );
    assert_eq!(by_key.status, 200);
    // Twenty failures from one address, whatever the usernames, block it.
    for n in 0..15 {
        let response = world.password_login(&format!("nobody{n}"), "guess-guess");
        assert_eq!(response.status, 401, "attempt {n}");
    }
    assert_eq!(world.password_login("nobody99", "guess-guess").status, 429);
    let by_key = world.call(
        &routes::session::ROUTE,
        json_request("PUT", "/session", &format!(r#"{{"key": "{key}"}}"#)),
    );
    assert_eq!(by_key.status, 429, "the address itself is blocked now");
    assert_eq!(
        world
            .from("198.51.100.9:1")
            .password_login("nobody99", "guess-guess")
            .status,
        401,
        "other addresses are not"
    );
}

#[test]
fn a_project_has_a_bounded_number_of_points() {
    let world = World::new();
    let provisioned = world.provision("owner");
    let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
    let ingest = |first: usize, count: usize| {
        world.ingest_meters(&token, first..first + count, "2019-10-30T17:15:00Z")
    };
    let (status, body) = ingest(0, 1001);
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("at most 1000 new"));
    for batch in 0..10 {
        let (status, body) = ingest(batch * 1000, 1000);
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = ingest(10_000, 1);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit of 10000"));
    let count = world
        .execute("SELECT COUNT(*) FROM points", &[])
        .unwrap()
        .first()
        .unwrap()
        .int(0)
        .unwrap();
    assert_eq!(count, 10_000, "the refused batches created nothing");
}

#[test]
fn read_models_answer_what_a_rebuild_from_sql_answers() {
    let world = World::new();
    let provisioned = world.provision("owner");
    let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
    let login = world.password_login("owner", "password1");
    let cookie = session_cookie(&login);
    let ingest = |body: &str| {
        let (status, body) = world.json(
            &routes::ingest::ROUTE,
            json_request("POST", "/ingest", body)
                .with_header("authorization", &format!("Bearer {token}")),
        );
        assert_eq!(status, 200, "{body}");
    };
    // In order, then a backfill between the last two readings, a counter
    // drop, a rename and a new point.
    ingest(
        r#"{"points": [{"MeterId": "a", "ModbusId": 3}], "readings": [
        {"MeterId": "a", "TimeStamping": "2019-10-30T17:00:00Z", "value": 10},
        {"MeterId": "a", "TimeStamping": "2019-10-30T17:10:00Z", "value": 20},
        {"MeterId": "b", "TimeStamping": "2019-10-30T17:10:00Z", "value": 5}]}"#,
    );
    ingest(
        r#"{"readings": [{"MeterId": "a", "TimeStamping": "2019-10-30T17:05:00Z", "value": 12},
        {"MeterId": "b", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}]}"#,
    );
    let (status, _) = world.json(
        &routes::point::ROUTE,
        json_request("POST", "/point", r#"{"name": "a", "new": "Main"}"#)
            .with_header("cookie", &cookie),
    );
    assert_eq!(status, 200);
    ingest(
        r#"{"readings": [{"MeterId": "c", "TimeStamping": "2019-10-30T17:15:00Z", "value": 7}]}"#,
    );
    // Readings only, after the rename: the listing takes the names the
    // ingest read under its lock.
    ingest(
        r#"{"readings": [{"MeterId": "a", "TimeStamping": "2019-10-30T17:20:00Z", "value": 21}]}"#,
    );

    let answers = || -> Vec<String> {
        [
            "/data",
            "/interval",
            "/point",
            "/point?id=1",
            "/session",
            "/status",
        ]
        .iter()
        .map(|path| {
            let route = match *path {
                "/data" => &routes::data::DATA_ROUTE,
                "/interval" => &routes::data::INTERVAL_ROUTE,
                "/session" => &routes::session::ROUTE,
                "/status" => &routes::status::ROUTE,
                _ => &routes::point::ROUTE,
            };
            let response = world.call(
                route,
                ApiRequest::new("GET", path).with_header("cookie", &cookie),
            );
            assert_eq!(response.status, 200);
            String::from_utf8(response.body).unwrap()
        })
        .collect()
    };
    let from_read_models = answers();
    assert!(
        from_read_models[0].contains(r#""MeterParam": "Main""#),
        "{}",
        from_read_models[0]
    );
    assert!(
        from_read_models[1].contains(
            r#"{"MeterParam": "Main", "TimeStamping": "2019-10-30 13:20:00", "value": 1.0}"#
        ),
        "a: 21 - 20: {}",
        from_read_models[1]
    );
    world
        .kv
        .borrow_mut()
        .retain(|key, _| !key.starts_with("rm"));
    assert_eq!(answers(), from_read_models, "rebuilt from SQL");
    assert!(
        world
            .kv
            .borrow()
            .keys()
            .any(|key| key.starts_with("rm3:latest:")),
        "and stored again"
    );
}

/// Logs in with a password; the session cookie (`name=token`).
fn logged_in(world: &World, username: &str, password: &str) -> String {
    let response = world.call(
        &routes::session::ROUTE,
        json_request(
            "PUT",
            "/session",
            &serde_json::json!({"username": username, "password": password}).to_string(),
        ),
    );
    assert_eq!(response.status, 200, "{username} logs in");
    session_cookie(&response)
}

/// Logs in; the status and the user id it answers with.
fn log_in(world: &World, username: &str, password: &str) -> (u16, serde_json::Value) {
    world.json(
        &routes::session::ROUTE,
        json_request(
            "PUT",
            "/session",
            &serde_json::json!({"username": username, "password": password}).to_string(),
        ),
    )
}

#[test]
fn look_alike_usernames_are_one_user() {
    let world = World::new();
    world.provision("test");
    let cookie = logged_in(&world, "test", "password1");
    // Full width, upper case, mixed: the same user, for login…
    for same in ["ｔｅｓｔ", "TEST", "ＴＥＳＴ", "Test"] {
        let (status, body) = log_in(&world, same, "password1");
        assert_eq!(
            (status, &body["uuid"]),
            (200, &serde_json::json!(1)),
            "{same}: {body}"
        );
    }
    // …and for uniqueness, in a new user as in a rename.
    for taken in ["ｔｅｓｔ", "TEST"] {
        let (status, body) = world.json(
            &routes::user::ROUTE,
            json_request(
                "PUT",
                "/user",
                &serde_json::json!({"username": taken, "email": "b@example.com", "password": "password2"})
                    .to_string(),
            )
            .with_header("cookie", &cookie),
        );
        assert_eq!(status, 409, "{taken}: {body}");
    }
    let (status, _) = world.json(
        &routes::user::ROUTE,
        json_request(
            "PUT",
            "/user",
            r#"{"username": "bob", "email": "b@example.com", "password": "password2"}"#,
        )
        .with_header("cookie", &cookie),
    );
    assert_eq!(status, 200);
    let bob = logged_in(&world, "bob", "password2");
    let (status, body) = world.json(
        &routes::user::ROUTE,
        json_request("POST", "/user", r#"{"username": "Ｔｅｓｔ"}"#).with_header("cookie", &bob),
    );
    assert_eq!(status, 409, "{body}");
    // What the user typed is what is shown.
    let (status, body) = world.json(
        &routes::user::ROUTE,
        json_request("POST", "/user", r#"{"username": "Ｂｏｂ"}"#).with_header("cookie", &bob),
    );
    assert_eq!((status, body["username"].as_str()), (200, Some("Ｂｏｂ")));
    assert_eq!(log_in(&world, "bob", "password2").0, 200);
}

#[test]
fn users_made_before_keys_are_keyed_oldest_first_and_old_look_alikes_keep_working() {
    let world = World::new();
    an_old_schema_with_a_project(&world, 4);
    let hash = intellimeter_core::security::secrets::hash_password(&world, "password1").unwrap();
    // Two users that were distinct before keys: the older keeps the key.
    for (name, key) in [("test", "k-a"), ("ｔｅｓｔ", "k-b")] {
        world
            .execute(
                "INSERT INTO users (project_id, username, email, password_hash, joined_at, \
                 api_key_hash, api_key_sealed, session_stamp) VALUES (1, ?, 'e@x', ?, 0, ?, x'00', 's')",
                &[name.into(), hash.clone().into(), key.into()],
            )
            .unwrap();
    }
    migrations::apply(&world).unwrap();
    let keys = || -> Vec<(String, Option<String>)> {
        world
            .execute("SELECT username, username_key FROM users ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|row| (row.text(0).unwrap(), row.text(1).ok()))
            .collect()
    };
    assert!(
        keys().iter().all(|(_, key)| key.is_none()),
        "SQL alone cannot key them"
    );
    // The first login keys them, oldest first, once.
    assert_eq!(log_in(&world, "TEST", "password1").1["uuid"], 1);
    assert_eq!(
        keys(),
        [
            ("test".to_owned(), Some("test".to_owned())),
            ("ｔｅｓｔ".to_owned(), None),
        ]
    );
    assert!(
        world
            .execute("SELECT 1 FROM pending_work", &[])
            .unwrap()
            .rows
            .is_empty(),
        "done once"
    );
    // Each still logs in: the older by any form, the younger by its name.
    assert_eq!(log_in(&world, "TEST", "password1").1["uuid"], 1);
    assert_eq!(log_in(&world, "ｔｅｓｔ", "password1").1["uuid"], 2);
}

#[test]
fn a_user_has_a_bounded_number_of_live_sessions_the_oldest_goes_first() {
    use intellimeter_core::security::auth::MAX_SESSIONS_PER_USER;
    let world = World::new();
    world.provision("alice");
    let logins = MAX_SESSIONS_PER_USER + 3;
    let cookies: Vec<String> = (0..logins)
        .map(|_| logged_in(&world, "alice", "password1"))
        .collect();
    let live: Vec<bool> = cookies
        .iter()
        .map(|cookie| {
            world
                .call(
                    &routes::session::ROUTE,
                    ApiRequest::new("GET", "/session").with_header("cookie", cookie),
                )
                .status
                == 200
        })
        .collect();
    let expected: Vec<bool> = (0..logins).map(|n| n >= 3).collect();
    assert_eq!(
        live, expected,
        "the three oldest ended, the newest {MAX_SESSIONS_PER_USER} live"
    );
    let sessions = world
        .kv
        .0
        .borrow()
        .keys()
        .filter(|key| key.starts_with("session:"))
        .count();
    assert_eq!(
        sessions, MAX_SESSIONS_PER_USER,
        "ended sessions leave nothing behind"
    );
}

#[test]
fn a_plain_cookie_only_for_plain_http_from_this_machine() {
    let world = World::new();
    world.provision("alice");
    // (client address, spin-full-url, extra header, client_ip_header) → plain?
    type Header = Option<(&'static str, &'static str)>;
    let cases: &[(&str, &str, Header, Option<&str>, bool)] = &[
        (
            "127.0.0.1:50000",
            "http://127.0.0.1:3000/session",
            None,
            None,
            true,
        ),
        (
            "127.0.0.1:50000",
            "http://localhost:3000/session",
            None,
            None,
            true,
        ),
        ("[::1]:50000", "http://[::1]:3000/session", None, None, true),
        (
            "127.0.0.1:50000",
            "https://127.0.0.1:3000/session",
            None,
            None,
            false,
        ),
        (
            "127.0.0.1:50000",
            "http://meters.example.com/session",
            None,
            None,
            false,
        ),
        (
            "192.0.2.7:4000",
            "http://127.0.0.1:3000/session",
            None,
            None,
            false,
        ),
        // A reverse proxy on this machine connects from loopback too.
        (
            "127.0.0.1:50000",
            "http://127.0.0.1:3000/session",
            Some(("x-forwarded-for", "203.0.113.9")),
            None,
            false,
        ),
        (
            "127.0.0.1:50000",
            "http://127.0.0.1:3000/session",
            Some(("forwarded", "for=203.0.113.9;proto=https")),
            None,
            false,
        ),
        (
            "127.0.0.1:50000",
            "http://127.0.0.1:3000/session",
            Some(("x-forwarded-proto", "https")),
            None,
            false,
        ),
        (
            "127.0.0.1:50000",
            "http://127.0.0.1:3000/session",
            None,
            Some("x-forwarded-for"),
            false,
        ),
        // A client's own spin-full-url comes before Spin's, which wins.
        (
            "127.0.0.1:50000",
            "https://meters.example.com/session",
            Some(("spin-full-url", "http://127.0.0.1/")),
            None,
            false,
        ),
    ];
    for &(client, url, extra, proxy, plain) in cases {
        *world.client.borrow_mut() = client.to_owned();
        *world.variables.borrow_mut() = proxy
            .map(|header| vec![("client_ip_header", header.to_owned())])
            .unwrap_or_default();
        let mut request = json_request(
            "PUT",
            "/session",
            r#"{"username": "alice", "password": "password1"}"#,
        );
        if let Some((name, value)) = extra {
            request = request.with_header(name, value);
        }
        let request = request.with_header("spin-full-url", url);
        let response = world.call(&routes::session::ROUTE, request);
        assert_eq!(response.status, 200, "{client} {url}");
        let cookie = response.header("set-cookie").unwrap();
        let label = format!("{client} {url} {extra:?} {proxy:?}: {cookie}");
        if plain {
            assert!(
                cookie.starts_with("session=") && !cookie.contains("Secure"),
                "{label}"
            );
        } else {
            assert!(
                cookie.starts_with("__Host-session=") && cookie.contains("; Secure"),
                "{label}"
            );
        }
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{label}"
        );
        // Either way the cookie opens the session.
        let name_value = cookie.split(';').next().unwrap();
        let info = world.call(
            &routes::session::ROUTE,
            ApiRequest::new("GET", "/session").with_header("cookie", name_value),
        );
        assert_eq!(info.status, 200, "{label}");
    }
}

/// A write whose COMMIT fails takes back every read model it wrote, the
/// entries of a key that SQL never stored included: a rotation that failed
/// at COMMIT leaves the old key working and no entry, no key view, of a
/// key no user has.
#[test]
fn a_failed_commit_leaves_no_read_model_of_what_it_wrote() {
    let world = World::new();
    migrations::apply(&world).unwrap();
    world.provision("owner");
    let cookie = logged_in(&world, "owner", "password1");
    let bearer = format!("Bearer {}", world.api_key(&cookie));
    let read_data = || {
        world.call(
            &routes::data::DATA_ROUTE,
            ApiRequest::new("GET", "/data").with_header("authorization", &bearer),
        )
    };
    assert_eq!(read_data().status, 200);
    let entries_before = world.kv.borrow().len();

    world.commits_fail.set(true);
    let rotation = world.call(
        &routes::key::ROUTE,
        ApiRequest::new("POST", "/key").with_header("cookie", &cookie),
    );
    world.commits_fail.set(false);
    assert_eq!(
        rotation.status,
        500,
        "{:?}",
        String::from_utf8_lossy(&rotation.body)
    );

    let current_digests: Vec<String> = world
        .execute("SELECT api_key_hash FROM users", &[])
        .unwrap()
        .iter()
        .map(|row| row.text(0).unwrap())
        .collect();
    for stored in world.kv.borrow().keys() {
        // `rm1:key:<digest>`, `rm4:key-<answer>:<digest>`
        let digest = stored.strip_prefix("rm1:key:").or_else(|| {
            stored
                .strip_prefix("rm4:key-")?
                .split_once(':')
                .map(|(_, d)| d)
        });
        if let Some(digest) = digest {
            assert!(
                current_digests.iter().any(|current| current == digest),
                "{stored} names a key no user has"
            );
        }
    }
    assert!(world.kv.borrow().len() <= entries_before);
    assert_eq!(read_data().status, 200, "the old key still opens /data");
    let views = world
        .kv
        .borrow()
        .keys()
        .filter(|key| key.starts_with("rm4:key-data:"))
        .count();
    assert_eq!(views, 1, "the old key's view is rebuilt by its next read");
}

/// An answer rendered in one format only (`Rendered::only`, a key's view
/// of `/point` or `/status`) is never sent in the other: if the formats
/// ever disagreed, a 500, not an empty 200.
#[test]
fn an_answer_rendered_in_one_format_is_not_sent_in_the_other() {
    use intellimeter_core::format::{Format, Rendered};
    use intellimeter_core::http::Reply;
    use intellimeter_core::routes::{Grants, RouteSpec};
    const SPEC: RouteSpec =
        RouteSpec::at("/one-format", &["GET"], "one-format", Grants::stores(&[]));
    fn handle(
        _: &intellimeter_core::Ctx,
        _: &ApiRequest,
    ) -> Result<Reply, intellimeter_core::ApiError> {
        Ok(Reply::rendered(Rendered::only(
            Format::Json,
            b"[]".to_vec(),
        )))
    }
    let route = Route::new(&SPEC, handle);
    let world = World::new();
    let json = world.call(&route, ApiRequest::new("GET", "/one-format?format=json"));
    assert_eq!((json.status, json.body.as_slice()), (200, &b"[]"[..]));
    let xml = world.call(&route, ApiRequest::new("GET", "/one-format?format=xml"));
    assert_eq!(xml.status, 500, "{}", String::from_utf8_lossy(&xml.body));
}

/// Keys' views copy a project's listings only up to
/// `KEY_VIEW_MAX_ENTRY_BYTES`: past it (about 450 points) they hold the
/// account alone, rewritten by the very write that grew the listing (no
/// copy of an older listing is left behind), and reads by key still
/// answer what SQL holds.
#[test]
fn the_key_views_of_a_large_project_hold_the_account_alone() {
    use intellimeter_core::readmodel::KEY_VIEW_MAX_ENTRY_BYTES;
    let world = World::new();
    let provisioned = world.provision("owner");
    let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
    let cookie = logged_in(&world, "owner", "password1");
    let bearer = format!("Bearer {}", world.api_key(&cookie));
    let ingest = |points: usize, ts: &str| {
        let (status, body) = world.ingest_meters(&token, 0..points, ts);
        assert_eq!(status, 200, "{body}");
    };
    let stored_len = |prefix: &str| -> usize {
        world
            .kv
            .borrow()
            .iter()
            .find(|(key, _)| key.starts_with(prefix))
            .map(|(_, value)| value.len())
            .unwrap_or_else(|| panic!("no {prefix} entry"))
    };
    let data_rows = || {
        let (status, body) = world.json(
            &routes::data::DATA_ROUTE,
            ApiRequest::new("GET", "/data").with_header("authorization", &bearer),
        );
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().len()
    };

    ingest(10, "2019-10-30T17:15:00Z");
    assert_eq!(data_rows(), 10);
    let small = stored_len("rm4:key-data:");
    assert!(
        small > 1_000,
        "a small project's view holds /data: {small} bytes"
    );

    ingest(1_000, "2019-10-30T17:20:00Z");
    assert!(stored_len("rm3:latest:") > KEY_VIEW_MAX_ENTRY_BYTES);
    let large = stored_len("rm4:key-data:");
    assert!(
        large < 1_000,
        "a large project's view holds the account alone: {large} bytes"
    );
    assert_eq!(data_rows(), 1_000, "and /data by key reads the listing");
}
