//! Hostile input, route by route: every parameter of every operation
//! missing, empty, given twice, not UTF-8, 10,000 characters long, of the
//! wrong type and absurdly large; bodies of the wrong type and garbled;
//! methods a route does not take; odd paths; and credentials that are
//! malformed, rotated, logged out or belong to a deleted user. Each gets a
//! 4xx whose body says why in the negotiated format, and nothing of either
//! project changes (compared through the API before and after).

mod common;

use common::*;
use intellimeter_core::routes::ROUTES;
use serde_json::json;
use test_host::client::request;

/// Who an operation is sent as.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    User,
    Admin,
}

/// What a parameter holds, which decides its hostile values.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Free text (names, passwords): any short text may be valid.
    Text,
    /// A number (sizes, ids).
    Number,
    /// A local day, `YYYY-MM-DD`.
    Day,
    /// One of a few words (`type`, `xml`, `everywhere`, a time zone).
    Word,
}

struct Param {
    name: &'static str,
    valid: &'static str,
    kind: Kind,
    required: bool,
}

const fn param(name: &'static str, valid: &'static str, kind: Kind, required: bool) -> Param {
    Param {
        name,
        valid,
        kind,
        required,
    }
}

struct Op {
    method: &'static str,
    path: &'static str,
    who: Who,
    params: &'static [Param],
}

use Kind::*;

/// Every operation that reads parameters, with a valid value for each
/// (in project A: user `alice`, points `meter00` and `meter01`).
const OPS: &[Op] = &[
    Op {
        method: "PUT",
        path: "/session",
        who: Who::Nobody,
        params: &[
            param("username", "alice", Text, true),
            param("password", "password-1", Text, true),
        ],
    },
    Op {
        method: "GET",
        path: "/point",
        who: Who::User,
        params: &[param("name", "meter00", Text, false)],
    },
    Op {
        method: "GET",
        path: "/point",
        who: Who::User,
        params: &[param("id", "1", Number, false)],
    },
    Op {
        method: "POST",
        path: "/point",
        who: Who::User,
        params: &[
            param("name", "meter00", Text, true),
            param("new", "renamed", Text, true),
        ],
    },
    Op {
        method: "GET",
        path: "/file",
        who: Who::User,
        params: &[
            param("start", "2019-10-30", Day, true),
            param("end", "2019-10-31", Day, true),
            param("type", "csv", Word, false),
            param("meter", "meter01", Text, false),
        ],
    },
    Op {
        method: "GET",
        path: "/usage",
        who: Who::User,
        params: &[
            param("start", "2019-10-30", Day, true),
            param("end", "2019-10-31", Day, true),
            param("interval", "hour", Word, false),
            param("type", "csv", Word, false),
            param("meter", "meter01", Text, false),
        ],
    },
    Op {
        method: "GET",
        path: "/graphics",
        who: Who::User,
        params: &[
            param("type", "line", Word, false),
            param("meter", "meter01", Text, false),
            param("width", "4", Number, false),
            param("height", "3", Number, false),
            param("start", "2019-10-30", Day, false),
            param("end", "2019-10-31", Day, false),
            param("quantity", "demand", Word, false),
        ],
    },
    Op {
        method: "GET",
        path: "/series",
        who: Who::User,
        params: &[
            param("type", "pie", Word, false),
            param("meter", "meter01", Text, false),
            param("width", "4", Number, false),
            param("height", "3", Number, false),
            param("start", "2019-10-30", Day, false),
            param("end", "2019-10-31", Day, false),
            param("quantity", "demand", Word, false),
        ],
    },
    Op {
        method: "POST",
        path: "/user",
        who: Who::User,
        params: &[
            param("username", "alice", Text, false),
            param("email", "alice@example.com", Text, false),
            param("xml", "false", Word, false),
        ],
    },
    Op {
        method: "PUT",
        path: "/user",
        who: Who::User,
        params: &[
            param("username", "newbie", Text, true),
            param("email", "newbie@example.com", Text, true),
            param("password", "password-2", Text, true),
        ],
    },
    Op {
        method: "POST",
        path: "/admin/projects",
        who: Who::Admin,
        params: &[
            param("name", "third", Text, true),
            param("timezone", "Europe/Paris", Word, true),
            param("username", "carol", Text, true),
            param("email", "carol@example.com", Text, true),
            param("password", "password-3", Text, true),
        ],
    },
    Op {
        method: "POST",
        path: "/admin/ingest-token",
        who: Who::Admin,
        params: &[param("project", "1", Number, true)],
    },
];

const TEN_THOUSAND: usize = 10_000;

/// The hostile values of a parameter: (label, raw query-encoded value).
/// Every one must be refused; free text gets only the values no name or
/// password may have.
fn hostile_values(kind: Kind) -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("empty", String::new()),
        ("not UTF-8", "%FF%FE".to_owned()),
        ("a broken UTF-8 sequence", "a%C3".to_owned()),
        ("10,000 characters", "x".repeat(TEN_THOUSAND)),
        ("a NUL", "a%00b".to_owned()),
    ];
    if kind != Text {
        values.extend([
            ("a huge number", "99999999999999999999999999".to_owned()),
            ("1e400", "1e400".to_owned()),
            ("NaN", "NaN".to_owned()),
            ("-1", "-1".to_owned()),
            ("an array", "%5B%5D".to_owned()),
            ("an object", "%7B%7D".to_owned()),
            ("hex", "0x10".to_owned()),
        ]);
    }
    if kind == Day {
        values.extend([
            ("February 30th", "2019-02-30".to_owned()),
            ("month 13", "2019-13-01".to_owned()),
            ("year 99999", "99999-01-01".to_owned()),
            ("a time", "2019-10-30T00:00:00".to_owned()),
        ]);
    }
    values
}

/// A project's state as its own user reads it: users, points, latest
/// readings and intervals, its API key, and every reading of the test's
/// days. Two equal snapshots mean nothing changed.
async fn snapshot(app: &App, user: &Auth) -> String {
    let mut state = String::new();
    for path in [
        "/user",
        "/point",
        "/data",
        "/interval",
        "/key",
        "/file?start=2019-10-01&end=2019-12-31&type=json",
        "/usage?start=2019-10-01&end=2019-12-31&interval=week",
    ] {
        let response = app.get(path, user).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        state.push_str(&format!("{path}\n{}\n", response.text()));
    }
    state
}

/// The refusal: a 4xx, an `error` in JSON (or in XML when asked), and the
/// Content-Type that says so.
#[track_caller]
fn assert_refused(response: &Response, xml: bool, what: &str) {
    assert!(
        (400..500).contains(&response.status),
        "{what}: answered {} {}",
        response.status,
        response.text().chars().take(300).collect::<String>()
    );
    if response.status == 405 {
        assert!(
            response.header("allow").is_some(),
            "{what}: 405 without Allow"
        );
    }
    if xml {
        assert_eq!(
            response.header("content-type"),
            Some("application/xml; charset=utf-8"),
            "{what}"
        );
        let text = response.text();
        assert!(
            text.starts_with(PROLOG) && text.contains(r#"<error type="str">"#),
            "{what}: {text}"
        );
    } else {
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        let body = parse(response);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|error| !error.is_empty()),
            "{what}: {body}"
        );
    }
}

struct World {
    app: App,
    alice: Auth,
    bob: Auth,
    ingest: String,
}

impl World {
    /// Two projects with two points each; alice in A, bob in B.
    async fn new() -> World {
        let app = App::start().await;
        let a = app.site("alpha", "alice").await;
        let b = app.site("beta", "bob").await;
        ingest(&app, &a.ingest, readings(2, 2)).await;
        ingest(&app, &b.ingest, readings(2, 2)).await;
        World {
            app,
            alice: a.user,
            bob: b.user,
            ingest: a.ingest,
        }
    }

    fn headers(&self, who: Who) -> Vec<(&'static str, String)> {
        match who {
            Who::Nobody => vec![],
            Who::User => match &self.alice {
                Auth::Cookie(cookie) => vec![("cookie", cookie.clone())],
                _ => unreachable!(),
            },
            Who::Admin => vec![("authorization", format!("Bearer {ADMIN_TOKEN}"))],
        }
    }

    /// Sends `pairs` (already query-encoded) as the query of a GET or as a
    /// urlencoded body otherwise.
    async fn send(&self, op: &Op, pairs: &[(String, String)], extra_query: &str) -> Response {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let encoded = encoded.join("&");
        let mut headers = self.headers(op.who);
        // A same-site browser, for the cookie's unsafe methods.
        headers.push(("sec-fetch-site", "same-origin".to_owned()));
        let (path, body) = if op.method == "GET" {
            (format!("{}?{encoded}{extra_query}", op.path), String::new())
        } else {
            headers.push((
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ));
            (
                format!("{}?{}", op.path, extra_query.trim_start_matches('&')),
                encoded,
            )
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.app.send(op.method, &path, &headers, &body).await
    }

    async fn snapshots(&self) -> (String, String) {
        (
            snapshot(&self.app, &self.alice).await,
            snapshot(&self.app, &self.bob).await,
        )
    }
}

fn valid_pairs(op: &Op) -> Vec<(String, String)> {
    op.params
        .iter()
        .map(|p| (p.name.to_owned(), p.valid.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_of_every_route_refuses_hostile_values() {
    within(async {
        let world = World::new().await;
        let before = world.snapshots().await;
        let mut sent = 0;
        for op in OPS {
            let what = |detail: &str| format!("{} {} {detail}", op.method, op.path);
            for (index, param) in op.params.iter().enumerate() {
                let mut variants: Vec<(String, Vec<(String, String)>)> = Vec::new();
                for (label, value) in hostile_values(param.kind) {
                    let mut pairs = valid_pairs(op);
                    pairs[index].1 = value;
                    variants.push((format!("{}: {label}", param.name), pairs));
                }
                // Given twice: once valid, once not, and twice the same.
                for second in [param.valid, "other"] {
                    let mut pairs = valid_pairs(op);
                    pairs.push((param.name.to_owned(), second.to_owned()));
                    variants.push((format!("{} given twice ({second})", param.name), pairs));
                }
                if param.required {
                    let mut pairs = valid_pairs(op);
                    pairs.remove(index);
                    variants.push((format!("{} missing", param.name), pairs));
                }
                for (label, pairs) in &variants {
                    let response = world.send(op, pairs, "").await;
                    assert_refused(&response, false, &what(label));
                    sent += 1;
                }
                // The same refusal in XML when XML is asked for.
                let (label, pairs) = &variants[0];
                let response = world.send(op, pairs, "&format=xml").await;
                assert_refused(&response, true, &what(&format!("{label}, format=xml")));
            }
        }
        eprintln!("{sent} hostile parameters refused");
        assert_eq!(
            world.snapshots().await,
            before,
            "a refused request changed something"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_the_wrong_type_or_garbled_are_refused() {
    within(async {
        let world = World::new().await;
        let before = world.snapshots().await;
        let app = &world.app;
        let bodies: &[(&str, &[u8], u16)] = &[
            ("text/plain", b"username=x", 415),
            ("application/xml", b"<username>x</username>", 415),
            ("multipart/form-data; boundary=x", b"--x--", 415),
            ("", b"username=x", 415),
            ("application/json", b"{not json", 400),
            ("application/json", b"[1, 2]", 400),
            ("application/json", b"\"text\"", 400),
            ("application/json", br#"{"username": ["x"]}"#, 400),
            ("application/json", br#"{"username": {"a": 1}}"#, 400),
            ("application/json", b"{\"username\": \"\xff\xfe\"}", 400),
            ("application/x-www-form-urlencoded", b"username=\xff\xfe", 400),
            ("application/x-www-form-urlencoded", b"\xff=1", 400),
            ("application/json", br#"{"name": "meter00", "new": 1e400}"#, 400),
        ];
        let alice = match &world.alice {
            Auth::Cookie(cookie) => cookie.clone(),
            _ => unreachable!(),
        };
        for (method, path, who) in [
            ("POST", "/user", ("cookie", alice.as_str())),
            ("PUT", "/user", ("cookie", alice.as_str())),
            ("POST", "/point", ("cookie", alice.as_str())),
            ("PUT", "/session", ("x-none", "")),
            ("POST", "/admin/projects", ("authorization", &format!("Bearer {ADMIN_TOKEN}"))),
        ] {
            for (content_type, body, status) in bodies {
                let mut headers = vec![who, ("sec-fetch-site", "same-origin")];
                if !content_type.is_empty() {
                    headers.push(("content-type", content_type));
                }
                let response =
                    request(&app.base_url(), method, path, &headers, body.to_vec()).await.unwrap();
                let what = format!("{method} {path} with {content_type:?} {}", String::from_utf8_lossy(body));
                assert_refused(&response, false, &what);
                assert_eq!(response.status, *status, "{what}: {}", response.text());
            }
        }
        // Ingest: garbled, mistyped and absurd batches.
        let token = format!("Bearer {}", world.ingest);
        for (content_type, body) in [
            ("text/plain", &b"{}"[..]),
            ("application/json", b"\xff\xfe"),
            ("application/json", b"{\"readings\": [{\"MeterId\": \"\xff\", \"TimeStamping\": \"2019-10-30T00:00:00Z\", \"value\": 1}]}"),
            ("application/json", br#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T00:00:00Z", "value": 1e400}]}"#),
            ("application/json", br#"{"readings": [{"MeterId": "m", "TimeStamping": "99999-10-30T00:00:00Z", "value": 1}]}"#),
            ("application/json", br#"{"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T00:00:00Z", "value": "1"}]}"#),
            ("application/json", br#"{"readings": {"MeterId": "m"}}"#),
            ("application/json", br#"[]"#),
        ] {
            let body = body.to_vec();
            let headers = [("authorization", token.as_str()), ("content-type", content_type)];
            let response = request(&app.base_url(), "POST", "/ingest", &headers, body.clone()).await.unwrap();
            assert_refused(&response, false, &format!("POST /ingest {content_type} {}", String::from_utf8_lossy(&body)));
        }
        let long_name = format!(
            r#"{{"readings": [{{"MeterId": "{}", "TimeStamping": "2019-10-30T00:00:00Z", "value": 1}}]}}"#,
            "m".repeat(TEN_THOUSAND)
        );
        let headers = [("authorization", token.as_str()), ("content-type", "application/json")];
        let response = app.send("POST", "/ingest", &headers, &long_name).await;
        assert_refused(&response, false, "POST /ingest with a 10,000-character meter name");
        assert_eq!(world.snapshots().await, before, "a refused body changed something");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_paths_and_credentials_that_do_not_fit_are_refused() {
    within(async {
        let world = World::new().await;
        let app = &world.app;
        let before = world.snapshots().await;

        // Methods a route does not take: 405 with Allow, for every route of
        // the route table (the catch-all answers every method with 404).
        for spec in ROUTES.iter().filter(|spec| !spec.is_catch_all()) {
            let path = spec.path.replace("/...", "/app.js");
            let path = path.as_str();
            let taken = spec.methods;
            for method in ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
                if taken.contains(&method) {
                    continue;
                }
                let response = app.send(method, path, &world.alice.headers(), "").await;
                assert_eq!(response.status, 405, "{method} {path}: {}", response.text());
                assert_refused(&response, false, &format!("{method} {path}"));
                let allow = response.header("allow").unwrap();
                for taken in taken.iter() {
                    assert!(allow.contains(taken), "{method} {path}: Allow {allow}");
                }
            }
        }

        // Odd paths: Spin's router ignores empty segments, so these are
        // their routes; the others are no route at all.
        for path in ["/session/", "//session", "/session//"] {
            let response = app.get(path, &world.alice).await;
            assert_eq!(response.status, 200, "{path}: {}", response.text());
        }
        for path in [
            "/file%00",
            "/data%2F",
            "/DATA",
            "/data/extra",
            "/%2e%2e/data",
            "/admin",
            "/admin/",
            "/admin/nothing",
            "/session.json",
            &format!("/{}", "x".repeat(TEN_THOUSAND / 2)),
        ] {
            let response = app.get(path, &world.alice).await;
            assert_eq!(response.status, 404, "{path}: {}", response.text());
            assert_refused(&response, false, path);
        }

        // Credentials: malformed, then stale.
        let long = "x".repeat(TEN_THOUSAND);
        for (header, value) in [
            ("authorization", "Bearer".to_owned()),
            ("authorization", "Bearer ".to_owned()),
            ("authorization", format!("Bearer {long}")),
            ("authorization", "Bearer a b".to_owned()),
            ("authorization", "Basic YWxpY2U6cGFzc3dvcmQtMQ==".to_owned()),
            ("authorization", "bearer%FF".to_owned()),
            ("cookie", "__Host-session=".to_owned()),
            ("cookie", "__Host-session=garbage".to_owned()),
            ("cookie", format!("__Host-session={long}")),
            ("cookie", "session=whatever; __Host-session".to_owned()),
        ] {
            for path in ["/data", "/session", "/key"] {
                let response = app.send("GET", path, &[(header, &value)], "").await;
                assert_eq!(
                    response.status,
                    401,
                    "{path} with {header}: {}",
                    response.text()
                );
                assert_refused(
                    &response,
                    false,
                    &format!("{path} with a malformed {header}"),
                );
            }
        }
        let ingest = app
            .send(
                "POST",
                "/ingest",
                &[
                    ("authorization", &format!("Bearer {long}")),
                    ("content-type", "application/json"),
                ],
                r#"{"readings": []}"#,
            )
            .await;
        assert_refused(&ingest, false, "ingest with a 10,000-character token");
        let admin = app
            .send(
                "POST",
                "/admin/projects",
                &[
                    ("authorization", "Bearer wrong"),
                    ("content-type", "application/json"),
                ],
                "{}",
            )
            .await;
        assert_refused(&admin, false, "admin with a wrong token");

        // A rotated key, a logged-out session, a deleted user's session and key.
        let old_key = Auth::key(&app.api_key(&world.alice).await);
        let rotated = app.send("POST", "/key", &world.alice.headers(), "").await;
        assert_eq!(rotated.status, 200, "{}", rotated.text());
        let fresh = app.log_in("alice", "password-1").await;
        let gone = app.send("DELETE", "/session", &fresh.headers(), "").await;
        assert_eq!(gone.status, 200, "{}", gone.text());
        let created = app
            .json(
                "PUT",
                "/user",
                &world.alice,
                json!({"username": "temp", "email": "temp@example.com", "password": "password-9"}),
            )
            .await;
        assert_eq!(created.status, 200, "{}", created.text());
        let temp = app.log_in("temp", "password-9").await;
        let temp_key = Auth::key(&app.api_key(&temp).await);
        let deleted = app.send("DELETE", "/user", &temp.headers(), "").await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());
        for (label, stale) in [
            ("a rotated key", &old_key),
            ("a logged-out session", &fresh),
            ("a deleted user's session", &temp),
            ("a deleted user's key", &temp_key),
        ] {
            for path in [
                "/data",
                "/session",
                "/key",
                "/user",
                "/point?name=meter00",
                "/file?start=2019-10-30&end=2019-10-30",
            ] {
                let response = app.get(path, stale).await;
                assert_eq!(
                    response.status,
                    401,
                    "{path} with {label}: {}",
                    response.text()
                );
                assert_refused(&response, false, &format!("{path} with {label}"));
            }
            let rename = app
                .json(
                    "POST",
                    "/point",
                    stale,
                    json!({"name": "meter00", "new": "stolen"}),
                )
                .await;
            assert_refused(&rename, false, &format!("a rename with {label}"));
        }
        // What the refused requests touched is unchanged; what the valid
        // ones did (a new key for alice) is the only difference.
        let (alice_after, bob_after) = world.snapshots().await;
        assert_eq!(bob_after, before.1);
        let without_key = |state: &str| {
            state
                .split("\n/")
                .filter(|part| !part.starts_with("key"))
                .collect::<Vec<_>>()
                .join("\n/")
        };
        assert_eq!(without_key(&alice_after), without_key(&before.0));
    })
    .await
}

/// The check every XML answer of these tests goes through refuses what is
/// not well-formed (so a passing test means something).
#[test]
fn the_xml_check_refuses_broken_documents() {
    use common::well_formed::assert_well_formed;
    assert_well_formed(
        format!(r#"{PROLOG}<Response><a type="str">x &amp; &#233;</a></Response>"#).as_bytes(),
        "valid",
    );
    for broken in [
        format!("{PROLOG}<Response><a></b></Response>"),
        format!("{PROLOG}<Response><a></Response>"),
        format!("{PROLOG}<Response>&nbsp;</Response>"),
        format!("{PROLOG}<Response>a & b</Response>"),
        format!("{PROLOG}<Response/><Response/>"),
        "<Response></Response>".to_owned(),
        format!("{PROLOG}<Response>"),
    ] {
        let outcome = std::panic::catch_unwind(|| assert_well_formed(broken.as_bytes(), "broken"));
        assert!(outcome.is_err(), "accepted {broken}");
    }
}
