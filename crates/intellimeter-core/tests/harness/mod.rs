//! Whole requests made from a grammar, sent to every route handler against
//! a provisioned site (real SQLite behind the core's `Sql`, an in-memory
//! key-value store), and the properties every answer must have:
//!
//! - never a panic, never a 5xx (a streamed export is read to its end too);
//! - a refusal is a 4xx whose body is `{"error": "…"}` in the format the
//!   request negotiated (JSON unless it asked for XML);
//! - a refusal changes nothing: every SQL table and every key-value entry
//!   is as before, except the read models (`rm1:`, `rm3:`, `rm4:`, a
//!   cache a read may rebuild) and, on a 401 or 403, the failure counts of the throttle
//!   (a count at 0, left by a credential that passed, counts as none).
//!
//! Shared by the property test `tests/requests.rs` (proptest) and the
//! libFuzzer target `tests/fuzz/fuzz_targets/requests.rs`: both hand in
//! bytes, read here as a sequence of choices ([`Choices`]), so the same
//! grammar serves both, and a shrunk input is a few simple choices. Choice
//! 0 is always the plainest option, and input that runs out reads as 0s.

use crate::common::{MemoryKv, Sqlite, Xorshift};
use intellimeter_core::env::Env;
use intellimeter_core::format::Format;
use intellimeter_core::http::request::requested_format;
use intellimeter_core::http::respond_among;
use intellimeter_core::routes;
use intellimeter_core::storage::{Rows, Sql, SqlValue, StorageError};
use intellimeter_core::{ApiRequest, ApiResponse, Route, Services};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

pub const ADMIN_TOKEN: &str = "admin-secret-0123456789abcdef0123456789";
/// The site's clock: 2019-10-30 20:00:00 UTC.
pub const NOW: i64 = 1_572_465_600;
const OWN_ORIGIN: &str = "http://127.0.0.1:3000";

/// Byte strings read as choices.
pub struct Choices<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data, position: 0 }
    }

    fn byte(&mut self) -> u8 {
        let byte = self.data.get(self.position).copied().unwrap_or(0);
        self.position += 1;
        byte
    }

    /// A number below `n` (`n` ≥ 1).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            (usize::from(self.byte()) << 8 | usize::from(self.byte())) % n
        }
    }

    /// True one time in `n`, false for input that ran out.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == n - 1
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let length = self.below(max + 1);
        (0..length).map(|_| self.byte()).collect()
    }

    pub fn i64(&mut self) -> i64 {
        i64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    /// Text from characters that matter to parsers (separators, escapes,
    /// controls, multi-byte and invisible characters), or any character.
    pub fn text(&mut self, max: usize) -> String {
        const PALETTE: &[char] = &[
            'a', 'Z', '0', '9', ' ', '%', '&', '=', ';', '+', '-', '_', '.', ',', '/', ':', '?',
            '#', '"', '\'', '\\', '<', '>', '[', ']', '{', '}', '\n', '\r', '\t', '\0', '\u{7f}',
            'é', '€', '😀', '\u{202e}', '\u{feff}', 'T', 'Z', '@',
        ];
        let length = self.below(max + 1);
        (0..length)
            .map(|_| {
                if self.one_in(8) {
                    let code = u32::from_le_bytes([self.byte(), self.byte(), self.byte() % 17, 0]);
                    char::from_u32(code).unwrap_or('\u{fffd}')
                } else {
                    self.pick(PALETTE)
                }
            })
            .collect()
    }
}

/// The credentials of the provisioned site, for requests to use.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub api_key: String,
    pub session: String,
    pub ingest_token: String,
    pub other_api_key: String,
    pub other_ingest_token: String,
}

/// The routes the core serves ([`routes::HANDLED`], which a test keeps in
/// step with the route table), each with a path to call it by and the
/// methods it answers (the catch-all: any path, GET).
pub static ROUTES: std::sync::LazyLock<
    Vec<(&'static str, &'static Route, &'static [&'static str])>,
> = std::sync::LazyLock::new(|| {
    routes::HANDLED
        .iter()
        .map(|route| {
            let spec = route.spec;
            if spec.is_catch_all() {
                ("/nowhere", *route, &["GET"][..])
            } else {
                (spec.path, *route, spec.methods)
            }
        })
        .collect()
});

const PARAMETERS: &[&str] = &[
    "format",
    "id",
    "name",
    "new",
    "start",
    "end",
    "type",
    "meter",
    "width",
    "height",
    "everywhere",
    "username",
    "password",
    "current_password",
    "email",
    "xml",
    "key",
    "project",
    "timezone",
];

/// Values that mean something to some parameter, valid or nearly.
const VALUES: &[&str] = &[
    "2019-10-30",
    "2019-10-29",
    "2019-10-01",
    "1970-01-01",
    "9999-12-31",
    "2009-10-30",
    "1969-12-31",
    "2019-02-29",
    "2019-10-30T00:00",
    "0001-01-01",
    "csv",
    "json",
    "xml",
    "yaml",
    "XML",
    "pie",
    "bar",
    "line",
    "m1",
    "Main panel",
    "é",
    "renamed",
    " padded ",
    "1",
    "2",
    "0",
    "-1",
    "16",
    "40",
    "40.0001",
    "1.99",
    "7.5",
    "1e308",
    "NaN",
    "inf",
    "-0",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "true",
    "false",
    "yes",
    "maybe",
    "owner",
    "stranger",
    "newuser",
    "password1",
    "password2",
    "short",
    "a@example.com",
    "no-at-sign",
    "America/Toronto",
    "UTC",
    "Asia/Kolkata",
    "Pacific/Apia",
    "Mars/Olympus",
    "0123456789-abcdef0123-0123456789-abcdef0123",
];

/// A parameter value.
fn value(c: &mut Choices, credentials: &Credentials) -> String {
    match c.below(8) {
        0..=2 => c.pick(VALUES).to_owned(),
        3 => String::new(),
        4 => c.text(24),
        5 => match c.below(4) {
            0 => credentials.api_key.clone(),
            1 => "x".repeat(10_000),
            2 => "é".repeat(65),
            _ => c.i64().to_string(),
        },
        6 => c
            .pick(&[
                "%ff", "%", "%zz", "%00", "%C3%A9", "%F0%9F", "%2", "+%2B", "a%FEb",
            ])
            .to_owned(),
        _ => format!("{}{}", c.pick(VALUES), c.text(4)),
    }
}

fn name(c: &mut Choices) -> String {
    if c.one_in(10) {
        c.text(12)
    } else {
        c.pick(PARAMETERS).to_owned()
    }
}

/// `name=value&…`, each part percent-encoded or written as is (so that raw
/// `%ff`, `&` and `=` reach the parser).
fn form(c: &mut Choices, pairs: &[(String, String)]) -> String {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let mut out = String::new();
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push_str(c.pick(&["&", "&", "&&", ";"]));
        }
        let raw = c.one_in(3);
        out.push_str(&if raw { name.clone() } else { encode(name) });
        if !c.one_in(12) {
            out.push('=');
            out.push_str(&if raw { value.clone() } else { encode(value) });
        }
    }
    out
}

fn pairs(c: &mut Choices, credentials: &Credentials) -> Vec<(String, String)> {
    let count = c.below(6);
    (0..count)
        .map(|_| (name(c), value(c, credentials)))
        .collect()
}

fn json_value(c: &mut Choices, text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    match c.below(8) {
        0..=3 => J::String(text.to_owned()),
        4 => text
            .parse::<i64>()
            .map(J::from)
            .or_else(|_| text.parse::<f64>().map(J::from))
            .unwrap_or_else(|_| J::from(c.i64())),
        5 => J::Bool(c.one_in(2)),
        6 => J::Null,
        _ => match c.below(2) {
            0 => J::Array(vec![J::String(text.to_owned())]),
            _ => serde_json::json!({ "nested": text }),
        },
    }
}

/// A batch for `POST /ingest`, mostly well formed.
fn batch(c: &mut Choices) -> Vec<u8> {
    use serde_json::{Map, Value as J};
    let meter = |c: &mut Choices| -> J {
        match c.below(10) {
            0..=2 => J::from("m1"),
            3 => J::from("Main panel"),
            4 => J::from(format!("new{}", c.below(3))),
            5 => J::from(""),
            6 => J::from(" m1"),
            7 => J::from("x".repeat(65)),
            8 => J::from(c.text(10)),
            _ => J::from(c.i64()),
        }
    };
    let time = |c: &mut Choices| -> J {
        match c.below(10) {
            0..=3 => J::from(ingest_wire::format_utc(NOW - 300 * c.below(1000) as i64)),
            4 => J::from(ingest_wire::format_utc(NOW + 2 * 86_400)),
            5 => J::from("2019-10-30T13:15:00-04:00"),
            6 => J::from("1969-12-31T23:59:59Z"),
            7 => J::from("2019-10-30"),
            8 => J::from(c.text(24)),
            _ => J::from(c.i64()),
        }
    };
    let number = |c: &mut Choices| -> J {
        match c.below(8) {
            0..=3 => J::from(1000.0 + c.below(1000) as f64 / 8.0),
            4 => J::from(1e16),
            5 => J::from(-5),
            6 => J::from("12"),
            _ => J::Null,
        }
    };
    let mut body = Map::new();
    if !c.one_in(5) {
        let readings = (0..c.below(5))
            .map(|_| {
                let mut reading = Map::new();
                if !c.one_in(12) {
                    reading.insert("MeterId".into(), meter(c));
                }
                if !c.one_in(12) {
                    reading.insert("TimeStamping".into(), time(c));
                }
                if !c.one_in(12) {
                    reading.insert("value".into(), number(c));
                }
                if c.one_in(12) {
                    reading.insert(c.text(6), J::from(1));
                }
                J::Object(reading)
            })
            .collect();
        body.insert("readings".into(), J::Array(readings));
    }
    if c.one_in(3) {
        let points = (0..c.below(3))
            .map(|_| {
                let mut point = Map::new();
                point.insert("MeterId".into(), meter(c));
                for field in ["ModbusId", "SaveEvery", "startAddress"] {
                    if c.one_in(3) {
                        point.insert(field.into(), J::from(c.i64()));
                    }
                }
                for field in ["Port", "NoPhases", "MeterType", "ModbusMap"] {
                    if c.one_in(3) {
                        point.insert(field.into(), J::from(c.text(70)));
                    }
                }
                J::Object(point)
            })
            .collect();
        body.insert("points".into(), J::Array(points));
    }
    let mut bytes = serde_json::to_vec(&body).expect("a JSON body");
    if c.one_in(8) {
        // Cut short or with noise inside.
        let at = c.below(bytes.len() + 1);
        bytes.truncate(at);
        bytes.extend(c.bytes(8));
    }
    bytes
}

/// Variables of the environment a request may be served with.
#[derive(Clone, Debug, Default)]
pub struct Variables {
    pub plain_http: Option<String>,
    pub client_ip_header: Option<String>,
}

/// One generated request: which route serves it, the request, and the
/// variables of the environment.
pub struct Generated {
    pub route: &'static Route,
    pub request: ApiRequest,
    pub variables: Variables,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("method", &self.request.method)
            .field("path", &self.request.path)
            .field("query", &self.request.query)
            .field("headers", &self.request.headers)
            .field("body", &String::from_utf8_lossy(&self.request.body))
            .field("variables", &self.variables)
            .finish()
    }
}

/// A request from the grammar: mostly well-formed HTTP aimed at a route
/// with its parameters, valid or nearly, and the site's credentials.
pub fn request(c: &mut Choices, credentials: &Credentials) -> Generated {
    let (route_path, route, methods) = &ROUTES[c.below(ROUTES.len())];
    let method = match c.below(8) {
        0..=5 => c.pick(methods),
        6 => c.pick(&["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        _ => "BREW",
    };
    let path = match c.below(8) {
        0..=5 => (*route_path).to_owned(),
        6 => format!("/{}//", route_path.trim_start_matches('/')),
        _ => format!("{route_path}/{}", c.text(6)),
    };
    let query_pairs = pairs(c, credentials);
    let query = form(c, &query_pairs);
    let mut request = ApiRequest::new(method, &path);
    request.query = query;

    // The body and its type.
    let body_pairs = pairs(c, credentials);
    let (body, matching_type): (Vec<u8>, &str) = match c.below(7) {
        0 => (Vec::new(), ""),
        1 => (
            form(c, &body_pairs).into_bytes(),
            "application/x-www-form-urlencoded",
        ),
        2 => {
            let object: serde_json::Map<String, serde_json::Value> = body_pairs
                .iter()
                .map(|(name, text)| (name.clone(), json_value(c, text)))
                .collect();
            (
                serde_json::to_vec(&object).expect("a JSON body"),
                "application/json",
            )
        }
        3 => (batch(c), "application/json"),
        4 => (c.bytes(64), "application/json"),
        5 => (b" \n\t".to_vec(), "application/json"),
        _ => (
            c.pick(&[
                &b"[1, 2]"[..],
                b"\"text\"",
                b"null",
                b"{\"a\": {\"b\": 1}}",
                b"{",
            ])
            .to_vec(),
            "application/json",
        ),
    };
    let content_type = match c.below(8) {
        0..=4 => matching_type.to_owned(),
        5 => c
            .pick(&[
                "application/json; charset=utf-8",
                "APPLICATION/JSON",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded;charset=latin1",
            ])
            .to_owned(),
        6 => String::new(),
        _ => c.text(16),
    };
    request.body = body;
    if !content_type.is_empty() {
        request = request.with_header("content-type", &content_type);
    }

    // Credentials.
    // Mostly the credential the route takes.
    let own = match *route_path {
        "/ingest" => credentials.ingest_token.as_str(),
        "/admin/projects" | "/admin/ingest-token" => ADMIN_TOKEN,
        _ => credentials.api_key.as_str(),
    };
    let authorization = match c.below(12) {
        0 | 1 => None,
        2..=5 => Some(format!("Bearer {own}")),
        6 => Some(format!(
            "Bearer {}",
            c.pick(&[
                credentials.api_key.as_str(),
                credentials.ingest_token.as_str()
            ])
        )),
        7 => Some(format!("Bearer {ADMIN_TOKEN}")),
        8 => Some(format!(
            "bearer  {}",
            c.pick(&[
                credentials.other_api_key.as_str(),
                credentials.other_ingest_token.as_str()
            ])
        )),
        9 => Some(
            c.pick(&[
                "Bearer",
                "Basic b3duZXI6cGFzc3dvcmQx",
                "Bearer 0123456789-abcdef0123-0123456789-abcdef0123",
            ])
            .to_owned(),
        ),
        _ => Some(format!("Bearer {}", c.text(20))),
    };
    if let Some(value) = authorization {
        request = request.with_header("authorization", &value);
    }
    let cookie = match c.below(9) {
        0 | 1 => None,
        2 | 3 => Some(format!("__Host-session={}", credentials.session)),
        4 => Some(format!("session={}", credentials.session)),
        5 => Some(format!(
            "__Host-session={0}; other=1; __Host-session={0}",
            credentials.session
        )),
        6 => Some(format!("__Host-session={}", "ab".repeat(32))),
        7 => Some("__Host-session=; session=".to_owned()),
        _ => Some(c.text(30)),
    };
    if let Some(value) = cookie {
        request = request.with_header("cookie", &value);
        if c.one_in(3) {
            // Browsers send a second Cookie header rarely; servers must cope.
            request = request.with_header("cookie", &format!("session={}", c.text(8)));
        }
    }
    let accept = match c.below(8) {
        0..=2 => None,
        3 => Some("application/json".to_owned()),
        4 => Some("application/xml".to_owned()),
        5 => Some("text/xml;q=0.9, application/json;q=0.5".to_owned()),
        6 => Some(
            c.pick(&[
                "*/*",
                "application/json;q=NaN, application/xml;q=inf",
                "application/xml;q=0",
                ";;,,q=",
            ])
            .to_owned(),
        ),
        _ => Some(c.text(24)),
    };
    if let Some(value) = accept {
        request = request.with_header("accept", &value);
    }
    match c.below(6) {
        0..=2 => {}
        3 => {
            request = request.with_header(
                "sec-fetch-site",
                c.pick(&["same-origin", "cross-site", "none", "same-site"]),
            )
        }
        4 => request = request.with_header("origin", OWN_ORIGIN),
        _ => {
            request = request.with_header(
                "origin",
                c.pick(&[
                    "https://evil.example",
                    "null",
                    "http://127.0.0.1:3000/x",
                    "",
                ]),
            )
        }
    }
    if c.one_in(4) {
        request = request.with_header("x-forwarded-for", &c.text(20));
    }
    // As Spin appends them, after the client's headers.
    request = request.with_header("spin-full-url", &format!("{OWN_ORIGIN}{path}"));

    let variables = Variables {
        plain_http: c
            .one_in(5)
            .then(|| c.pick(&["true", "false", " TRUE ", "1", "x"]).to_owned()),
        client_ip_header: c
            .one_in(5)
            .then(|| c.pick(&["x-forwarded-for", "", "x-real-ip"]).to_owned()),
    };
    Generated {
        route,
        request,
        variables,
    }
}

/// Noise: any method, path, query, headers and body, to any route.
pub fn noise(c: &mut Choices) -> Generated {
    let (_, route, _) = &ROUTES[c.below(ROUTES.len())];
    let mut request = ApiRequest::new(&c.text(8), &c.text(16));
    request.query = c.text(48);
    for _ in 0..c.below(5) {
        let name = c.pick(&[
            "content-type",
            "accept",
            "cookie",
            "authorization",
            "origin",
            "sec-fetch-site",
            "spin-full-url",
            "spin-client-addr",
        ]);
        request = request.with_header(name, &c.text(32));
    }
    request.body = c.bytes(96);
    Generated {
        route,
        request,
        variables: Variables::default(),
    }
}

/// A request from `input`: mostly the grammar, one in eight noise.
pub fn generate(input: &[u8], credentials: &Credentials) -> Generated {
    let mut c = Choices::new(input);
    if c.one_in(8) {
        noise(&mut c)
    } else {
        request(&mut c, credentials)
    }
}

/// A site: real SQLite, an in-memory key-value store, a fixed clock,
/// repeatable randomness and the variables of a deployment.
pub struct World {
    pub db: Sqlite,
    pub kv: MemoryKv,
    pub random: Xorshift,
    pub variables: RefCell<Variables>,
}

impl Sql for World {
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        self.db.execute(statement, params)
    }
}

impl Env for World {
    fn now(&self) -> i64 {
        NOW
    }
    fn fill_random(&self, buf: &mut [u8]) {
        self.random.fill(buf);
    }
    fn variable(&self, name: &str) -> Option<String> {
        let variables = self.variables.borrow();
        match name {
            "admin_token" => Some(ADMIN_TOKEN.to_owned()),
            "plain_http" => variables.plain_http.clone(),
            "client_ip_header" => variables.client_ip_header.clone(),
            _ => None,
        }
    }
    fn log(&self, _line: &str) {}
}

impl World {
    fn new() -> Self {
        World {
            db: Sqlite::in_memory(),
            kv: MemoryKv::default(),
            random: Xorshift::default(),
            variables: RefCell::new(Variables::default()),
        }
    }

    pub fn call(&self, route: &Route, request: &ApiRequest) -> ApiResponse {
        let request = request
            .clone()
            .with_header("spin-client-addr", "192.0.2.7:4000");
        // As a host does: the component (all routes that share it) finds
        // the route that serves the path.
        let component: Vec<&Route> = std::iter::once(route)
            .chain(routes::HANDLED.iter().copied().filter(|other| {
                other.spec.component == route.spec.component && other.spec != route.spec
            }))
            .collect();
        respond_among(
            &component,
            &request,
            Services {
                db: self,
                kv: &self.kv,
                env: self,
            },
        )
    }

    fn json(&self, route: &Route, request: ApiRequest) -> serde_json::Value {
        let response = self.call(route, &request);
        let body = serde_json::from_slice(&response.body).unwrap_or_default();
        assert!(
            (200..300).contains(&response.status),
            "{} {}: {} {body}",
            request.method,
            request.path,
            response.status
        );
        body
    }

    /// Every SQL table's rows (sorted) and the schema version, and every
    /// key-value entry.
    pub fn snapshot(&self) -> Snapshot {
        let mut tables = BTreeMap::new();
        let names = self
            .execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                &[],
            )
            .expect("the table names");
        for row in names.iter() {
            let name = row.text(0).expect("a name");
            // A throttle row at 0 failures decides nothing (a success gave
            // its reservation back): it counts as no row.
            let filter = if name == "login_failures" {
                " WHERE failures > 0"
            } else {
                ""
            };
            let rows = self
                .execute(&format!("SELECT * FROM \"{name}\"{filter}"), &[])
                .expect("the rows");
            let mut rows: Vec<String> = rows.rows.iter().map(|row| format!("{row:?}")).collect();
            rows.sort();
            tables.insert(name, rows);
        }
        let version = self
            .execute("PRAGMA user_version", &[])
            .expect("the version");
        tables.insert(
            "PRAGMA user_version".to_owned(),
            vec![format!("{:?}", version.rows)],
        );
        Snapshot {
            tables,
            kv: self.kv.borrow().clone().into_iter().collect(),
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub tables: BTreeMap<String, Vec<String>>,
    pub kv: BTreeMap<String, Vec<u8>>,
}

fn json_request(method: &str, path: &str, body: &str) -> ApiRequest {
    ApiRequest::new(method, path)
        .with_header("content-type", "application/json")
        .with_body(body)
}

fn route(path: &str) -> &'static Route {
    ROUTES
        .iter()
        .find(|(p, _, _)| *p == path)
        .expect("a route")
        .1
}

/// A provisioned site to copy for each request: two projects (the second
/// one's credentials must open nothing of the first), a logged-in user,
/// points and a few days of readings.
pub struct Template {
    world: World,
    pub credentials: Credentials,
    /// What every copy starts as.
    snapshot: Snapshot,
}

impl Template {
    pub fn new() -> Self {
        let world = World::new();
        let provision = |name: &str, timezone: &str, username: &str| {
            world.json(
                route("/admin/projects"),
                json_request(
                    "POST",
                    "/admin/projects",
                    &format!(
                        r#"{{"name": "{name}", "timezone": "{timezone}", "username": "{username}", "password": "password1", "email": "a@example.com"}}"#
                    ),
                )
                .with_header("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            )
        };
        let site = provision("site", "America/Toronto", "owner");
        let other = provision("other", "Asia/Kolkata", "stranger");
        let login = world.call(
            route("/session"),
            &json_request(
                "PUT",
                "/session",
                r#"{"username": "owner", "password": "password1"}"#,
            ),
        );
        assert_eq!(login.status, 200);
        let cookie = login.header("set-cookie").expect("a cookie");
        let session = cookie
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('='))
            .expect("name=token")
            .1
            .to_owned();
        let key_of = |cookie: &str| {
            world.json(
                route("/key"),
                ApiRequest::new("GET", "/key").with_header("cookie", cookie),
            )["key"]
                .as_str()
                .expect("a key")
                .to_owned()
        };
        let api_key = key_of(&format!("__Host-session={session}"));
        let stranger = world.call(
            route("/session"),
            &json_request(
                "PUT",
                "/session",
                r#"{"username": "stranger", "password": "password1"}"#,
            ),
        );
        let stranger_cookie = stranger
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("a cookie")
            .to_owned();
        let other_api_key = key_of(&stranger_cookie);
        let token =
            |body: &serde_json::Value| body["ingest_token"].as_str().expect("a token").to_owned();
        let credentials = Credentials {
            api_key,
            session,
            ingest_token: token(&site),
            other_api_key,
            other_ingest_token: token(&other),
        };
        // Three days of 5-minute readings of two points, and one of the
        // other project.
        for (token, meters) in [
            (&credentials.ingest_token, &["m1", "Main panel"][..]),
            (&credentials.other_ingest_token, &["m1"][..]),
        ] {
            let readings: Vec<ingest_wire::Reading> = (0..3 * 288)
                .flat_map(|step| {
                    meters.iter().enumerate().map(move |(n, meter)| {
                        ingest_wire::Reading::at(
                            *meter,
                            NOW - 3 * 86_400 + step * 300,
                            1000.0 * (n + 1) as f64 + step as f64 / 4.0,
                        )
                    })
                })
                .collect();
            let body = serde_json::to_string(&ingest_wire::Batch {
                readings,
                ..Default::default()
            })
            .expect("a batch");
            world.json(
                route("/ingest"),
                json_request("POST", "/ingest", &body)
                    .with_header("authorization", &format!("Bearer {token}")),
            );
        }
        let snapshot = world.snapshot();
        Template {
            world,
            credentials,
            snapshot,
        }
    }

    /// A copy of the site for one request.
    pub fn fork(&self) -> World {
        let mut db = Sqlite::in_memory();
        rusqlite::backup::Backup::new(&self.world.db.0, &mut db.0)
            .and_then(|backup| backup.run_to_completion(i32::MAX, std::time::Duration::ZERO, None))
            .expect("a copy of the database");
        World {
            db,
            kv: MemoryKv(RefCell::new(self.world.kv.borrow().clone())),
            random: Xorshift(Cell::new(self.world.random.0.get())),
            variables: RefCell::new(Variables::default()),
        }
    }
}

impl Default for Template {
    fn default() -> Self {
        Self::new()
    }
}

/// What one request came to, for the statistics of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
}

/// Sends the request `input` makes to a copy of the site and checks every
/// property; `Err` says which failed.
pub fn check(template: &Template, input: &[u8]) -> Result<Outcome, String> {
    let generated = generate(input, &template.credentials);
    check_request(template, &generated)
}

pub fn check_request(template: &Template, generated: &Generated) -> Result<Outcome, String> {
    let world = template.fork();
    *world.variables.borrow_mut() = generated.variables.clone();
    let request = &generated.request;
    let before = &template.snapshot;
    let schema = |world: &World| {
        world
            .execute("PRAGMA schema_version", &[])
            .expect("a version")
    };
    let (changes, schema_before) = (world.db.0.total_changes(), schema(&world));
    let mut response = world.call(generated.route, request);
    let status = response.status;
    if let Some(mut stream) = response.stream.take() {
        let mut chunks = 0;
        loop {
            match stream.next_chunk(&world) {
                Ok(Some(_)) => chunks += 1,
                Ok(None) => break,
                Err(error) => return Err(format!("the streamed body failed: {error:?}")),
            }
            if chunks > 10_000 {
                return Err("the streamed body does not end".to_owned());
            }
        }
    }
    if !(200..500).contains(&status) {
        return Err(format!(
            "status {status}: {}",
            String::from_utf8_lossy(&response.body)
        ));
    }
    if status < 400 {
        return Ok(Outcome { status });
    }

    // A refusal, in the negotiated format.
    let format = match requested_format(request) {
        Ok(Some(format)) => format,
        _ => Format::Json,
    };
    if response.header("content-type") != Some(format.content_type()) {
        return Err(format!(
            "status {status} as {:?}, not {format:?}",
            response.header("content-type")
        ));
    }
    let body = String::from_utf8(response.body.clone())
        .map_err(|_| format!("status {status}: the body is not UTF-8"))?;
    match format {
        Format::Csv | Format::Yaml => {
            return Err(format!(
                "status {status}: answers are never negotiated as {format:?}"
            ));
        }
        Format::Json => {
            let parsed: serde_json::Value = serde_json::from_str(&body)
                .map_err(|error| format!("status {status}: {body:?} is not JSON: {error}"))?;
            let message = parsed["error"].as_str().unwrap_or("");
            if message.is_empty() || parsed.as_object().map(|o| o.len()) != Some(1) {
                return Err(format!("status {status}: {body:?} is not {{\"error\": …}}"));
            }
        }
        Format::Xml => {
            let inner = body
                .strip_prefix(
                    r#"<?xml version="1.0" encoding="UTF-8" ?><Response><error type="str">"#,
                )
                .and_then(|rest| rest.strip_suffix("</error></Response>"));
            match inner {
                Some(message) if !message.is_empty() && !message.contains('<') => {}
                _ => return Err(format!("status {status}: {body:?} is not an XML error")),
            }
        }
    }

    // … that changed nothing. No row written and no schema change: the
    // tables are as before (the quick test); else compare every row.
    let rows_unchanged = world.db.0.total_changes() == changes && schema(&world) == schema_before;
    if !rows_unchanged {
        let after = world.snapshot();
        let counted = matches!(status, 401 | 403);
        for (table, rows) in &before.tables {
            if counted && table == "login_failures" {
                continue;
            }
            if after.tables.get(table) != Some(rows) {
                return Err(format!(
                    "status {status}, but table {table} changed:\nbefore {rows:?}\nafter  {:?}",
                    after.tables.get(table)
                ));
            }
        }
        if after.tables.len() != before.tables.len() {
            return Err(format!(
                "status {status}, but a table was created or dropped"
            ));
        }
    }
    let durable = |kv: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        kv.iter()
            .filter(|(key, _)| !is_read_model(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    let after_kv: BTreeMap<String, Vec<u8>> = world.kv.borrow().clone().into_iter().collect();
    if durable(&before.kv) != durable(&after_kv) {
        let keys = |kv: &BTreeMap<String, Vec<u8>>| kv.keys().cloned().collect::<Vec<_>>();
        return Err(format!(
            "status {status}, but the key-value store changed: {:?} → {:?}",
            keys(&durable(&before.kv)),
            keys(&durable(&after_kv))
        ));
    }
    Ok(Outcome { status })
}

/// A read model's key (`readmodel/mod.rs`): a cache any read may rebuild.
fn is_read_model(key: &str) -> bool {
    ["rm1:", "rm3:", "rm4:"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}
