//! Attacks by a hostile customer with an ordinary account, or a stranger,
//! through the real components in the test host. Each test performs the
//! attack and checks that it fails (SECURITY.md lists what each defends).

mod common;

use common::*;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use tokio::task::JoinSet;

/// Sends the same request `n` times at once; returns the statuses.
async fn all_at_once(
    app: &App,
    n: usize,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
) -> Vec<u16> {
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (base, headers, body) = (app.base_url(), headers.clone(), body.clone());
        tasks.spawn(async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            checked_request(&base, method, path, &headers, body.into_bytes())
                .await
                .status
        });
    }
    tasks.join_all().await
}

fn login_body(username: &str, password: &str) -> String {
    json!({"username": username, "password": password}).to_string()
}

/// `PUT /session` with a JSON login and one more header.
async fn login_with(app: &App, header: (&str, &str), username: &str, password: &str) -> Response {
    app.send(
        "PUT",
        "/session",
        &[("content-type", "application/json"), header],
        &login_body(username, password),
    )
    .await
}

async fn login_from(app: &App, address: &str, username: &str, password: &str) -> Response {
    login_with(app, ("x-forwarded-for", address), username, password).await
}

fn cookie_of(response: &Response) -> Auth {
    let cookie = response.header("set-cookie").expect("a session cookie");
    Auth::Cookie(cookie.split(';').next().unwrap().to_owned())
}

async fn create_user(app: &App, auth: &Auth, username: &str) -> Json {
    let response = app
        .json(
            "PUT",
            "/user",
            auth,
            json!({"username": username, "password": "password-1", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    parse(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_users_other_sessions_never_open_a_later_account() {
    within(async {
        let app = App::start().await;
        app.provision("site-a", "alice").await;
        let alice = app.log_in("alice", "password-1").await;
        let victim_id = create_user(&app, &alice, "carol").await["uuid"].clone();
        // Carol, the highest id, is logged in on two devices.
        let laptop = app.log_in("carol", "password-1").await;
        let phone = app.log_in("carol", "password-1").await;
        let phone_key = app.api_key(&phone).await;
        let deleted = app.send("DELETE", "/user", &laptop.headers(), "").await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());

        assert_error(
            &app.get("/session", &phone).await,
            401,
            "expired or was logged out",
        );
        assert_error(&app.get("/key", &phone).await, 401, "expired");
        assert_error(
            &app.get("/session", &Auth::key(&phone_key)).await,
            401,
            "not valid",
        );

        // Anyone provisioned next gets a new id, never carol's.
        let next = app.provision("site-b", "bob").await;
        assert_ne!(
            next["uuid"], victim_id,
            "a deleted user's id was handed out again"
        );
        let bob = app.log_in("bob", "password-1").await;
        let bob_key = app.api_key(&bob).await;
        for path in ["/session", "/key", "/user"] {
            let response = app.get(path, &phone).await;
            assert_eq!(response.status, 401, "{path}: {}", response.text());
            assert!(!response.text().contains(&bob_key));
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_choose_the_address_it_is_counted_at() {
    within(async {
        let app = App::start().await;
        // Twenty failures, each claiming another address and trying another
        // username: all are counted at the address Spin saw.
        for n in 0..20 {
            let forged = format!("203.0.113.{n}:4000");
            let response = login_with(
                &app,
                ("spin-client-addr", &forged),
                &format!("nobody{n}"),
                "guess-guess",
            )
            .await;
            assert_error(&response, 401, "wrong username or password");
        }
        let response = login_with(
            &app,
            ("spin-client-addr", "198.51.100.99:1"),
            "nobody99",
            "guess-guess",
        )
        .await;
        assert_error(&response, 429, "too many failed attempts");
        assert!(response.header("retry-after").is_some());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_only_its_header_counts() {
    within(async {
        let app = App::start_with_settings(&[("client_ip_header", "x-forwarded-for")]).await;
        app.provision("site", "owner").await;
        // The attacker's own address is locked out of the username …
        for _ in 0..5 {
            let response = login_from(&app, "203.0.113.66", "owner", "guess-guess").await;
            assert_error(&response, 401, "wrong username or password");
        }
        let locked = login_from(&app, "203.0.113.66", "owner", "password-1").await;
        assert_error(&locked, 429, "too many failed attempts");
        // … and a forged spin-client-addr or a forged first entry of the
        // proxy's header does not get it out.
        let forged = app
            .send(
                "PUT",
                "/session",
                &[
                    ("content-type", "application/json"),
                    ("spin-client-addr", "198.51.100.1:1"),
                    ("x-forwarded-for", "198.51.100.1, 203.0.113.66"),
                ],
                &login_body("owner", "password-1"),
            )
            .await;
        assert_error(&forged, 429, "too many failed attempts");
        // The owner, from their own address, gets in.
        let owner = login_from(&app, "198.51.100.1", "owner", "password-1").await;
        assert_eq!(owner.status, 200, "{}", owner.text());

        // Spraying from many addresses only slows the username down …
        for n in 0..5 {
            let address = format!("203.0.113.{n}");
            let response = login_from(&app, &address, "owner", "guess-guess").await;
            assert_error(&response, 401, "wrong username or password");
        }
        let slowed = login_from(&app, "203.0.113.200", "owner", "guess-guess").await;
        assert_error(&slowed, 429, "try again in");
        let wait: u64 = slowed.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "{wait}");
        // … and the owner gets in after a pause of seconds.
        tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 1100)).await;
        let owner = login_from(&app, "198.51.100.1", "owner", "password-1").await;
        assert_eq!(owner.status, 200, "{}", owner.text());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_slip_past_the_throttle() {
    within(async {
        let app = App::start().await;
        app.provision("site", "target").await;
        let statuses = all_at_once(
            &app,
            16,
            "PUT",
            "/session",
            vec![("content-type", "application/json".to_owned())],
            login_body("target", "guess-guess"),
        )
        .await;
        let guesses = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(guesses + refused, 16, "{statuses:?}");
        assert_eq!(
            guesses, 5,
            "exactly the allowance was verified: {statuses:?}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_last_users_deleting_themselves_at_once_leave_one() {
    within(async {
        let app = App::start().await;
        let mut pairs = Vec::new();
        for site in 0..6 {
            app.provision(&format!("site{site}"), &format!("first{site}"))
                .await;
            let first = app.log_in(&format!("first{site}"), "password-1").await;
            create_user(&app, &first, &format!("second{site}")).await;
            let second = app.log_in(&format!("second{site}"), "password-1").await;
            pairs.push((first, second));
        }
        let mut tasks = JoinSet::new();
        for (site, (first, second)) in pairs.into_iter().enumerate() {
            for auth in [first, second] {
                let base = app.base_url();
                tasks.spawn(async move {
                    let headers = auth.headers();
                    let response =
                        checked_request(&base, "DELETE", "/user", &headers, vec![]).await;
                    (site, response.status)
                });
            }
        }
        let mut outcomes = vec![Vec::new(); 6];
        for (site, status) in tasks.join_all().await {
            outcomes[site].push(status);
        }
        for (site, mut statuses) in outcomes.into_iter().enumerate() {
            statuses.sort();
            assert_eq!(statuses, [200, 409], "site {site}: exactly one may leave");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_needs_the_password_and_ends_every_session() {
    within(async {
        let app = App::start().await;
        app.provision("site", "owner").await;
        let stolen = app.log_in("owner", "password-1").await;
        let other_device = app.log_in("owner", "password-1").await;
        let key = app.api_key(&stolen).await;

        // A stolen cookie alone cannot take the account over.
        let app_ref = &app;
        let change = move |auth: Auth, body: Json| async move {
            app_ref.json("POST", "/user", &auth, body).await
        };
        let response = change(stolen.clone(), json!({"password": "attacker-pass"})).await;
        assert_error(&response, 400, "current_password");
        let response = change(
            stolen.clone(),
            json!({"password": "attacker-pass", "current_password": "wrong-guess"}),
        )
        .await;
        assert_error(&response, 403, "current_password is wrong");
        app.log_in("owner", "password-1").await; // still the password

        // The owner changes it: every other session ends, the caller's own
        // goes on under a new cookie, the API key keeps working.
        let response = change(
            stolen.clone(),
            json!({"password": "new-password-2", "current_password": "password-1"}),
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let renewed = cookie_of(&response);
        assert_error(&app.get("/session", &stolen).await, 401, "expired");
        assert_error(&app.get("/session", &other_device).await, 401, "expired");
        assert_eq!(app.get("/session", &renewed).await.status, 200);
        assert_eq!(app.get("/session", &Auth::key(&key)).await.status, 200);
        let old = app
            .json(
                "PUT",
                "/session",
                &Auth::None,
                json!({"username": "owner", "password": "password-1"}),
            )
            .await;
        assert_error(&old, 401, "wrong username or password");

        // With the API key the current password is not asked for; sessions
        // end all the same.
        let response = change(Auth::key(&key), json!({"password": "third-password"})).await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.header("set-cookie").is_none());
        assert_error(&app.get("/session", &renewed).await, 401, "expired");

        // Guessing current_password is throttled like a login.
        let session = app.log_in("owner", "third-password").await;
        for _ in 0..5 {
            let response = change(
                session.clone(),
                json!({"password": "attacker-pass", "current_password": "guess-guess"}),
            )
            .await;
            assert_error(&response, 403, "wrong");
        }
        let response = change(
            session.clone(),
            json!({"password": "attacker-pass", "current_password": "third-password"}),
        )
        .await;
        assert_error(&response, 429, "too many failed attempts");

        // Log out everywhere.
        let by_key = app
            .json("PUT", "/session", &Auth::None, json!({"key": key}))
            .await;
        let by_key = cookie_of(&by_key);
        let out = app
            .send("DELETE", "/session?everywhere=true", &by_key.headers(), "")
            .await;
        assert_eq!(out.status, 200, "{}", out.text());
        assert_error(&app.get("/session", &session).await, 401, "expired");
        assert_error(&app.get("/session", &by_key).await, 401, "expired");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_cannot_be_planted_or_ridden_from_another_site() {
    within(async {
        let app = App::start().await;
        app.provision("site", "owner").await;
        let session = app.log_in("owner", "password-1").await;
        let Auth::Cookie(cookie) = &session else {
            unreachable!()
        };
        let token = cookie.split_once('=').unwrap().1.to_owned();

        // A second session cookie (planted by a sibling site) is refused,
        // not guessed at.
        let planted = format!("session=attacker-token; session={token}");
        let response = app
            .send("GET", "/session", &[("cookie", &planted)], "")
            .await;
        assert_error(&response, 401, "several session cookies");
        // The old cookie name alone still works (sessions from before the
        // __Host- prefix), and __Host-session wins over it.
        let legacy = format!("session={token}");
        assert_eq!(
            app.send("GET", "/session", &[("cookie", &legacy)], "")
                .await
                .status,
            200
        );
        let both = format!("session=attacker-token; __Host-session={token}");
        assert_eq!(
            app.send("GET", "/session", &[("cookie", &both)], "")
                .await
                .status,
            200
        );

        // State changes with the cookie must come from the site itself.
        let own_origin = app.base_url();
        let attempts: [(&[(&str, &str)], u16); 6] = [
            (&[("origin", "https://evil.example")], 403),
            (&[("origin", "null")], 403),
            (&[("sec-fetch-site", "cross-site")], 403),
            (&[("sec-fetch-site", "same-site")], 403),
            (
                &[
                    ("origin", own_origin.as_str()),
                    ("sec-fetch-site", "same-origin"),
                ],
                200,
            ),
            (&[], 200),
        ];
        for (extra, expected) in attempts {
            let mut headers = vec![
                ("cookie", cookie.as_str()),
                ("content-type", "application/json"),
            ];
            headers.extend_from_slice(extra);
            let response = app
                .send("POST", "/user", &headers, r#"{"email": "new@example.com"}"#)
                .await;
            assert_eq!(response.status, expected, "{extra:?}: {}", response.text());
            if expected == 403 {
                assert_error(&response, 403, "cross-site request refused");
            }
        }
        // Reading is not a state change; a bearer key is not a cookie.
        let headers = [
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
        ];
        assert_eq!(app.send("GET", "/session", &headers, "").await.status, 200);
        let key = app.api_key(&session).await;
        let bearer = format!("Bearer {key}");
        let headers = [
            ("authorization", bearer.as_str()),
            ("origin", "https://evil.example"),
        ];
        assert_eq!(app.send("POST", "/key", &headers, "").await.status, 200);
        // Nor can another site log the browser in.
        let login = login_with(
            &app,
            ("origin", "https://evil.example"),
            "owner",
            "password-1",
        )
        .await;
        assert_error(&login, 403, "cross-site");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_sites_get_a_cookie_without_secure() {
    within(async {
        let app = App::start_with_settings(&[("plain_http", "true")]).await;
        app.provision("site", "owner").await;
        let response = app
            .json(
                "PUT",
                "/session",
                &Auth::None,
                json!({"username": "owner", "password": "password-1"}),
            )
            .await;
        let cookie = response.header("set-cookie").unwrap();
        assert!(cookie.starts_with("session="), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert_eq!(app.get("/session", &cookie_of(&response)).await.status, 200);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_bounded_and_its_token_can_be_rotated() {
    within(async {
        let app = App::start().await;
        let provisioned = app.provision("site", "owner").await;
        let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
        let key = app.api_key(&app.log_in("owner", "password-1").await).await;
        let app_ref = &app;
        let ingest = move |token: String, body: Json| async move {
            app_ref.json("POST", "/ingest", &Auth::key(&token), body).await
        };

        // Unknown MeterIds in readings create points: at most 1000 a batch.
        let readings: Vec<Json> = (0..1001)
            .map(|n| json!({"MeterId": format!("m{n}"), "TimeStamping": "2019-10-30T17:15:00Z", "value": 1}))
            .collect();
        let response = ingest(token.clone(), json!({"readings": readings})).await;
        assert_error(&response, 413, "at most 1000 new metering points");
        assert_eq!(app.get("/point", &Auth::key(&key)).await.text(), "[]", "nothing was stored");

        // Values beyond what a meter holds are refused, so no interval is
        // ever Infinity.
        for value in [1e16, -1e308, 1e308] {
            let response = ingest(
                token.clone(),
                json!({"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": value}]}),
            )
            .await;
            assert_error(&response, 400, "readings[0].value");
        }
        let response = ingest(
            token.clone(),
            json!({"readings": [
                {"MeterId": "m", "TimeStamping": "2019-10-30T17:10:00Z", "value": -1e15},
                {"MeterId": "m", "TimeStamping": "2019-10-30T17:15:00Z", "value": 1e15}]}),
        )
        .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let interval = app.get("/interval", &Auth::key(&key)).await;
        assert_eq!(parse(&interval)[0]["value"], json!(2e15), "{}", interval.text());

        // Support rotates a stolen collector's token: the old one stops.
        let admin = Auth::Bearer(format!("Bearer {ADMIN_TOKEN}"));
        let project = provisioned["project"].clone();
        assert_error(
            &app.json("POST", "/admin/ingest-token", &Auth::key(&key), json!({"project": project})).await,
            401,
            "wrong admin token",
        );
        assert_error(&app.json("POST", "/admin/ingest-token", &admin, json!({"project": 999})).await, 404, "no project 999");
        assert_error(&app.json("POST", "/admin/ingest-token", &admin, json!({"project": "x"})).await, 400, "project");
        assert_error(&app.get("/admin/ingest-token", &admin).await, 405, "POST");
        assert_error(&app.json("POST", "/admin/nothing", &admin, json!({})).await, 404, "admin routes");
        let rotated = app.json("POST", "/admin/ingest-token", &admin, json!({"project": project})).await;
        assert_eq!(rotated.status, 200, "{}", rotated.text());
        let new_token = parse(&rotated)["ingest_token"].as_str().unwrap().to_owned();
        assert_ne!(new_token, token);
        let batch = json!({"readings": [{"MeterId": "m", "TimeStamping": "2019-10-30T17:20:00Z", "value": 1e15}]});
        assert_error(&ingest(token, batch.clone()).await, 401, "ingest token is not valid");
        assert_eq!(ingest(new_token, batch).await.status, 200);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_agree_on_one_sealing_secret() {
    within(async {
        // No key_seal_secret: the app makes its own on the first request.
        let app = App::start().await;
        let admin = format!("Bearer {ADMIN_TOKEN}");
        let mut tasks = JoinSet::new();
        for n in 0..8 {
            let (base, admin) = (app.base_url(), admin.clone());
            tasks.spawn(async move {
                let body = json!({"name": format!("site{n}"), "timezone": "UTC", "username": format!("user{n}"),
                                  "password": "password-1", "email": "u@example.com"});
                let headers = [("authorization", admin.as_str()), ("content-type", "application/json")];
                checked_request(&base, "POST", "/admin/projects", &headers, body.to_string().into_bytes()).await
                    .status
            });
        }
        assert_eq!(tasks.join_all().await, vec![201; 8]);
        let mut keys = BTreeSet::new();
        for n in 0..8 {
            let session = app.log_in(&format!("user{n}"), "password-1").await;
            keys.insert(app.api_key(&session).await);
        }
        assert_eq!(keys.len(), 8, "every user's sealed key opens");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_admin_token_disables_support_and_guesses_are_throttled() {
    within(async {
        let body = json!({"name": "p", "timezone": "UTC", "username": "u", "password": "password-1", "email": "u@example.com"});
        let short = "0123456789abcdef0123456789abcde"; // 31 characters
        let app = App::start_with(Some(short)).await;
        let response = app.json("POST", "/admin/projects", &Auth::Bearer(format!("Bearer {short}")), body.clone()).await;
        assert_error(&response, 403, "disabled");

        let app = App::start().await;
        for n in 0..10 {
            let wrong = Auth::Bearer(format!("Bearer guess-{n}-0123456789abcdef0123456789"));
            assert_error(&app.json("POST", "/admin/projects", &wrong, body.clone()).await, 401, "wrong admin token");
        }
        let right = Auth::Bearer(format!("Bearer {ADMIN_TOKEN}"));
        let response = app.json("POST", "/admin/projects", &right, body.clone()).await;
        assert_error(&response, 429, "too many failed attempts");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_manifest_is_named_by_the_404() {
    within(async {
        let app = App::start().await;
        let text = std::fs::read_to_string(manifest()).unwrap();
        let manifest = test_host::manifest::parse(&text, manifest().parent().unwrap()).unwrap();
        let listed: Vec<String> = {
            let body = parse(&app.get("/nope", &Auth::None).await);
            let message = body["error"].as_str().unwrap();
            let (_, list) = message.split_once("the routes are ").unwrap();
            list.split(", ").map(str::to_owned).collect()
        };
        let mut catch_all = None;
        for trigger in &manifest.http_triggers {
            match trigger.pattern.based_route().as_str() {
                "/..." => catch_all = Some(trigger.component.clone()),
                // The exact route `/` (based: empty).
                "" => assert!(listed.iter().any(|l| l == "/"), "/ is not listed"),
                route => match route.strip_suffix("/...") {
                    Some(prefix) => assert!(
                        listed.iter().any(|l| l.starts_with(&format!("{prefix}/"))),
                        "no route under {prefix}/ is listed in {listed:?}"
                    ),
                    None => assert!(
                        listed.iter().any(|l| l == route),
                        "{route} is not listed in {listed:?}"
                    ),
                },
            }
        }
        assert_eq!(catch_all.as_deref(), Some("not-found"));
        // Every listed route is served by a component of its own.
        for route in &listed {
            let response = app.send("OPTIONS", route, &[], "").await;
            let text = response.text();
            assert!(
                !text.contains("no route"),
                "{route} is listed but not served: {text}"
            );
        }
    })
    .await
}

/// A script on the machine running `spin up`, with Python's `requests`:
/// its cookie jar never sends a `Secure` cookie over plain http, so
/// "Method 1" (log in, then read) works only because plain http to
/// loopback gets the plain `session` cookie. Run with the interpreter
/// `E2E_PYTHON` names (default `python3`), which must have `requests`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_requests_session_stays_logged_in_on_local_plain_http() {
    within(async {
        let app = App::start().await;
        app.provision("site", "owner").await;
        let script = r#"
import sys
import requests

base = sys.argv[1]
session = requests.Session()
answer = session.put(base + "/session", data={"username": "owner", "password": "password-1"})
print(answer.status_code)
answer = session.get(base + "/session")
print(answer.status_code, answer.json().get("username"))
print(session.delete(base + "/session").status_code)
print(session.get(base + "/session").status_code)
"#;
        let python = std::env::var("E2E_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let base = app.base_url();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&python)
                .args(["-c", script, &base])
                .output()
                .unwrap_or_else(|error| {
                    panic!("{python}: {error} (set E2E_PYTHON to a Python with requests)")
                })
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the script failed: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "200\n200 owner\n200\n401\n",
            "{stderr}"
        );
    })
    .await
}
