//! Tenant isolation, generated from the route table (`routes::ROUTES` of
//! the core, which `route_table.rs` keeps in step with spin.toml): for
//! every route and every method, a user of project A sends each identifier
//! of project B it could guess (point names and ids, user ids, usernames,
//! emails, the project's id and name) in every parameter that could carry
//! it, in the query and in a JSON body. Nothing of B's comes back (beyond
//! the identifier A sent itself), nothing of B's changes, and B's sessions,
//! key and ingest token keep working.

mod common;

use common::*;
use intellimeter_core::routes::ROUTES;
use serde_json::{Value as Json, json};

const METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "PATCH"];

/// What only project B holds: none of it may reach A.
const B_MARKERS: &[&str] = &[
    "beta-secret-main",
    "beta-secret-aux",
    "bob-beta",
    "bobs-helper",
    "robert@beta.example",
    "helper@beta.example",
    "beta-corp",
    "77700",
];

/// What A cannot make its own: B's readings' values and B's usernames
/// (unique across projects). Operations that create names in A (ingest,
/// new users, account changes) may legitimately give A a point named like
/// B's, or B's email; after them only these are looked for.
const B_UNCLAIMABLE: &[&str] = &["bob-beta", "bobs-helper", "77700"];

/// Operations that can give A names or emails equal to B's.
fn creates_names(route: &str, method: &str) -> bool {
    route == "/ingest" || (route == "/user" && (method == "PUT" || method == "POST"))
}

struct Tenants {
    app: App,
    alice: Auth,
    alice_ingest: String,
    bob: Auth,
    bob_key: Auth,
    bob_ingest: String,
    /// B's guessable identifiers: (what, value).
    guesses: Vec<(&'static str, String)>,
    /// B's batch, re-sent at the end: its token must still work.
    bob_batch: String,
}

impl Tenants {
    async fn new() -> Tenants {
        let app = App::start().await;
        let a = app.site("alpha", "alice").await;
        ingest(&app, &a.ingest, readings(2, 1)).await;
        let b = app.provision("beta-corp", "bob-beta").await;
        let bob_ingest = b["ingest_token"].as_str().unwrap().to_owned();
        let bob = app.log_in("bob-beta", "password-1").await;
        let email = app
            .json(
                "POST",
                "/user",
                &bob,
                json!({"email": "robert@beta.example"}),
            )
            .await;
        assert_eq!(email.status, 200, "{}", email.text());
        let helper = app.json("PUT", "/user", &bob, json!({"username": "bobs-helper", "email": "helper@beta.example", "password": "password-2"}))
            .await;
        assert_eq!(helper.status, 200, "{}", helper.text());
        let readings: Vec<Json> = (0..288)
            .flat_map(|step| {
                ["beta-secret-main", "beta-secret-aux"].map(|meter| {
                    json!({"MeterId": meter,
                           "TimeStamping": test_host::client::rfc3339_utc(READINGS_START + step * 300),
                           "value": 777000.0 + step as f64 * 0.5})
                })
            })
            .collect();
        let bob_batch = json!({ "readings": readings }).to_string();
        ingest_body(&app, &bob_ingest, &bob_batch).await;
        let bob_key = Auth::key(&app.api_key(&bob).await);

        // B's ids, as B sees them.
        let session = parse(&app.get("/session", &bob).await);
        let users = parse(&app.get("/user", &bob).await);
        let points = parse(&app.get("/point", &bob).await);
        let mut guesses: Vec<(&'static str, String)> = vec![
            ("project id", session["project"].to_string()),
            ("project name", "beta-corp".to_owned()),
        ];
        for user in users.as_array().unwrap() {
            guesses.push(("user id", user["uuid"].to_string()));
            guesses.push(("username", user["username"].as_str().unwrap().to_owned()));
            guesses.push(("email", user["email"].as_str().unwrap().to_owned()));
        }
        for point in points.as_array().unwrap() {
            guesses.push(("point id", point["id"].to_string()));
            guesses.push(("point name", point["MeterId"].as_str().unwrap().to_owned()));
        }
        assert_eq!(guesses.len(), 2 + 2 * 3 + 2 * 2, "{guesses:?}");
        Tenants {
            app,
            alice: a.user,
            alice_ingest: a.ingest,
            bob,
            bob_key,
            bob_ingest,
            guesses,
            bob_batch,
        }
    }

    /// Everything B has, as B reads it.
    async fn b_state(&self) -> String {
        let mut state = String::new();
        for path in [
            "/session",
            "/user",
            "/point",
            "/data",
            "/interval",
            "/key",
            "/file?start=2019-10-29&end=2019-11-01&type=json",
            "/usage?start=2019-10-29&end=2019-11-01",
        ] {
            let response = self.app.get(path, &self.bob).await;
            assert_eq!(response.status, 200, "B's {path}: {}", response.text());
            state.push_str(&format!("{path}\n{}\n", response.text()));
        }
        state
    }
}

/// The parameters that could carry a guess of this kind.
fn slots(what: &str) -> &'static [&'static str] {
    match what {
        "project id" => &["project", "project_id", "id"],
        "project name" => &["project_name", "name", "project"],
        "user id" => &["uuid", "user", "user_id", "id"],
        "username" => &["username", "user", "name"],
        "email" => &["email"],
        "point id" => &["id", "point", "meter"],
        "point name" => &["name", "meter", "MeterId", "point"],
        _ => unreachable!("{what}"),
    }
}

/// What else a request to `route` needs to get past its own checks, so the
/// guess is what is tried.
fn companions(route: &str, method: &str, serial: usize) -> Vec<(&'static str, String)> {
    match (route, method) {
        ("/file" | "/graphics" | "/series" | "/usage", _) => vec![
            ("start", "2019-10-30".to_owned()),
            ("end", "2019-10-30".to_owned()),
        ],
        ("/point", "POST") => vec![("new", format!("hijacked-{serial}"))],
        ("/user", "PUT") => vec![
            ("username", format!("made-{serial}")),
            ("email", format!("made-{serial}@alpha.example")),
            ("password", "password-3".to_owned()),
        ],
        _ => vec![],
    }
}

/// `body` without what A itself sent, then none of `markers`.
#[track_caller]
fn assert_nothing_of_b(body: &str, sent: &str, markers: &[&str], what: &str) {
    let rest = body.replace(sent, "");
    for marker in markers {
        assert!(
            !rest.contains(marker),
            "{what}: B's {marker:?} reached A: {}",
            body.chars().take(400).collect::<String>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_gives_one_project_anything_of_another() {
    within(async {
        let t = Tenants::new().await;
        let app = &t.app;
        let before = t.b_state().await;
        let routes: Vec<String> = ROUTES
            .iter()
            .filter(|spec| !spec.is_catch_all())
            .map(|spec| spec.path.replace("/...", "/index.html"))
            .collect();
        assert!(routes.len() >= 14, "{routes:?}");
        let alice_key = Auth::key(&app.api_key(&t.alice).await);
        let Auth::Cookie(cookie) = &t.alice else { unreachable!() };
        let mut sent = 0;
        // Reads and plain writes first, then what creates names in A.
        let mut operations: Vec<(&String, &str)> = routes
            .iter()
            .flat_map(|route| METHODS.iter().map(move |method| (route, *method)))
            .collect();
        operations.sort_by_key(|(route, method)| creates_names(route, method));
        let mut markers = B_MARKERS;
        for (route, method) in operations {
            {
                if creates_names(route, method) {
                    markers = B_UNCLAIMABLE;
                }
                // Logging A out or deleting A comes last, below.
                if (route == "/session" || route == "/user") && method == "DELETE" {
                    continue;
                }
                for (what, guess) in &t.guesses {
                    for slot in slots(what) {
                        sent += 1;
                        let mut pairs = companions(route, method, sent);
                        pairs.retain(|(name, _)| name != slot);
                        pairs.push((slot, guess.clone()));
                        let query: Vec<String> = pairs
                            .iter()
                            .map(|(name, value)| format!("{name}={}", encode(value)))
                            .collect();
                        // In a JSON body a number field takes a JSON number
                        // (anything else is a 400 before any lookup).
                        let body: serde_json::Map<String, Json> = pairs
                            .iter()
                            .map(|(name, value)| (name.to_string(), json_value(name, value)))
                            .collect();
                        let ingest_bearer = format!("Bearer {}", t.alice_ingest);
                        let (path, body, auth) = match (route.as_str(), method) {
                            ("/ingest", _) => (
                                route.clone(),
                                json!({
                                    "points": [{"MeterId": guess}],
                                    "readings": [{"MeterId": guess, "TimeStamping": "2019-10-30T04:00:00Z", "value": 1.0}],
                                })
                                .to_string(),
                                ("authorization", ingest_bearer.as_str()),
                            ),
                            (_, "GET") => (format!("{route}?{}", query.join("&")), String::new(), ("cookie", cookie.as_str())),
                            _ => (route.clone(), Json::Object(body).to_string(), ("cookie", cookie.as_str())),
                        };
                        let headers = [
                            auth,
                            ("sec-fetch-site", "same-origin"),
                            ("content-type", "application/json"),
                        ];
                        let label = format!("{method} {path} with B's {what} in {slot}");
                        let response = app.send(method, &path, &headers, &body).await;
                        assert!(response.status < 500, "{label}: {} {}", response.status, response.text());
                        assert_nothing_of_b(&response.text(), guess, markers, &label);
                        // The same with A's API key instead of A's session.
                        if route.starts_with("/admin") || route == "/key" {
                            let mut headers = alice_key.headers();
                            headers.push(("content-type", "application/json"));
                            let response = app.send(method, &path, &headers, &body).await;
                            assert!(response.status < 500, "{label} (key)");
                            assert_nothing_of_b(&response.text(), guess, markers, &format!("{label} (key)"));
                            if route.starts_with("/admin") {
                                assert!(
                                    matches!(response.status, 401 | 405 | 429),
                                    "{label} (key): {} {}",
                                    response.status,
                                    response.text()
                                );
                            }
                        }
                    }
                }
            }
        }
        eprintln!("{sent} guesses of B's identifiers sent as A");

        // Deleting A's own user or session, naming B's: only A's goes.
        for (route, what) in [("/user", "user id"), ("/user", "username"), ("/session", "user id"), ("/session", "project id")] {
            let (_, guess) = t.guesses.iter().find(|(kind, _)| *kind == what).unwrap();
            let username = format!("doomed-{}", what.replace(' ', "-"));
            let made = app
                .json(
                    "PUT",
                    "/user",
                    &t.alice,
                    json!({"username": username, "email": format!("{username}@alpha.example"), "password": "password-4"}),
                )
                .await;
            assert!(made.status == 200 || made.status == 409, "{}", made.text());
            let doomed = app.log_in(&username, "password-4").await;
            for slot in slots(what) {
                let body = json!({ *slot: json_value(slot, guess), "everywhere": true });
                let response = app.json("DELETE", route, &doomed, body).await;
                assert!(response.status < 500, "DELETE {route} {slot}: {}", response.text());
                assert_nothing_of_b(&response.text(), guess, B_UNCLAIMABLE, &format!("DELETE {route} with B's {what} in {slot}"));
            }
        }

        // Nothing of B's changed, and B's credentials all still work.
        assert_eq!(t.b_state().await, before, "A changed something of B's");
        assert_eq!(app.get("/data", &t.bob_key).await.status, 200);
        ingest_body(app, &t.bob_ingest, &t.bob_batch).await;
        assert_eq!(t.b_state().await, before, "B's own re-sent batch changed B");
    })
    .await
}

/// A guess as a JSON body carries it: a number field takes a JSON number
/// (anything else is refused before any lookup), every other a string.
fn json_value(name: &str, value: &str) -> Json {
    let number_field = matches!(name, "id" | "project" | "width" | "height");
    match value.parse::<i64>() {
        Ok(number) if number_field => Json::from(number),
        _ => Json::from(value),
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
