//! End-to-end tests of the API: the real `.wasm` components (built by
//! `bash functions/build-components`) served by the test host from the real
//! `spin.toml`, driven over HTTP on 127.0.0.1.

mod common;

use common::*;
use serde_json::json;

/// `/health` serves GET and HEAD only, like every route refusing the
/// others with 405 and `Allow` (it used to answer 200 to any method).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_refuses_methods_it_does_not_serve() {
    within(async {
        let app = App::start().await;
        let head = app.send("HEAD", "/health", &[], "").await;
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        for method in ["PUT", "POST", "DELETE", "PATCH", "OPTIONS"] {
            let response = app.send(method, "/health", &[], "").await;
            assert_error(&response, 405, &format!("method {method} is not allowed"));
            assert_eq!(response.header("allow"), Some("GET, HEAD"), "{method}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_unknown_routes() {
    within(async {
        let app = App::start().await;
        let health = app.get("/health", &Auth::None).await;
        assert_eq!(health.status, 200);
        assert_eq!(health.text(), r#"{"status": "ok"}"#);

        let missing = app.get("/nope", &Auth::None).await;
        assert_error(&missing, 404, "no route /nope");
        // Spin ignores empty path segments: `/session/` is `/session`.
        assert_error(&app.get("/session/", &Auth::None).await, 401, "not logged in");
        assert_error(&app.get("/session/x", &Auth::None).await, 404, "no route /session/x");
        let xml = app.get("/nope?format=xml", &Auth::None).await;
        assert_eq!(xml.status, 404);
        assert_eq!(
            xml.text(),
            format!(r#"{PROLOG}<Response><error type="str">no route /nope; the routes are /session, /key, /user, /data, /interval, /point, /file, /graphics, /series, /usage, /status, /ingest, /admin/projects, /admin/ingest-token, /health, /openapi.json, /, /dashboard/...</error></Response>"#)
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_is_guarded_by_the_admin_token() {
    within(async {
        let disabled = App::start_with(None).await;
        let body = json!({"name": "p", "timezone": "UTC", "username": "u", "password": "password-1", "email": "u@example.com"});
        let response = disabled
            .json("POST", "/admin/projects", &Auth::Bearer(String::new()), body.clone())
            .await;
        assert_error(&response, 403, "admin_token");
        let response = disabled
            .json("POST", "/admin/projects", &Auth::Bearer("Bearer ".into()), body.clone())
            .await;
        assert_error(&response, 403, "disabled");

        let app = App::start().await;
        assert_error(&app.json("POST", "/admin/projects", &Auth::None, body.clone()).await, 401, "Bearer");
        let wrong = Auth::Bearer("Bearer not-the-token".into());
        assert_error(&app.json("POST", "/admin/projects", &wrong, body.clone()).await, 401, "wrong admin token");
        let admin = Auth::Bearer(format!("Bearer {ADMIN_TOKEN}"));
        let get = app.get("/admin/projects", &admin).await;
        assert_error(&get, 405, "POST");
        assert_eq!(get.header("allow"), Some("POST"));

        let mut bad_zone = body.clone();
        bad_zone["timezone"] = json!("Mars/Olympus");
        assert_error(&app.json("POST", "/admin/projects", &admin, bad_zone).await, 400, "timezone");
        let mut no_email = body.clone();
        no_email.as_object_mut().unwrap().remove("email");
        assert_error(&app.json("POST", "/admin/projects", &admin, no_email).await, 400, "email");
        let mut short = body.clone();
        short["password"] = json!("short");
        assert_error(&app.json("POST", "/admin/projects", &admin, short).await, 400, "password");

        let created = app.json("POST", "/admin/projects", &admin, body.clone()).await;
        assert_eq!(created.status, 201, "{}", created.text());
        let created = parse(&created);
        assert_eq!(created["project"], 1);
        assert_eq!(created["uuid"], 1);
        let token = created["ingest_token"].as_str().unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

        // Refused whole: the username is taken, so no second project either.
        let mut again = body.clone();
        again["name"] = json!("other");
        assert_error(&app.json("POST", "/admin/projects", &admin, again).await, 409, "taken");
        let mut next = body.clone();
        next["username"] = json!("v");
        let next = parse(&app.json("POST", "/admin/projects", &admin, next).await);
        assert_eq!(next["project"], 2, "the refused request left nothing behind");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_login_info_and_logout() {
    within(async {
        let app = App::start().await;
        app.provision("myProject", "test").await;

        // Wrong credentials and bad requests.
        let wrong = app.json("PUT", "/session", &Auth::None, json!({"username": "test", "password": "nope-nope"})).await;
        assert_error(&wrong, 401, "wrong username or password");
        let unknown = app.json("PUT", "/session", &Auth::None, json!({"username": "ghost", "password": "nope-nope"})).await;
        assert_error(&unknown, 401, "wrong username or password");
        assert_error(&app.json("PUT", "/session", &Auth::None, json!({})).await, 400, "username and password");
        assert_error(&app.json("PUT", "/session", &Auth::None, json!({"username": "test"})).await, 400, "password");
        assert_error(&app.get("/session", &Auth::None).await, 401, "not logged in");

        // Log in with a form body; the cookie is a session cookie done right
        // wherever the request may have crossed a network (here: sent to a
        // public name; plain http to loopback is a_script_on_this_machine…).
        let response = app
            .send(
                "PUT",
                "/session",
                &[("content-type", "application/x-www-form-urlencoded"), ("host", "meters.example.com")],
                "username=test&password=password-1",
            )
            .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), r#"{"uuid": 1}"#);
        let cookie = response.header("set-cookie").unwrap();
        assert!(cookie.starts_with("__Host-session="), "{cookie}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Domain"), "a __Host- cookie has no Domain");
        let token = cookie.split(';').next().unwrap().trim_start_matches("__Host-session=");
        assert!(token.len() >= 32, "at least 128 bits");
        let session = Auth::Cookie(format!("__Host-session={token}"));

        // Query-string parameters work too.
        let response = app.send("PUT", "/session?username=test&password=password-1", &[], "").await;
        assert_eq!(response.status, 200);

        let info = app.get("/session", &session).await;
        assert_eq!(info.status, 200);
        let body = parse(&info);
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["uuid", "project", "username", "email", "joined", "xml", "project_name"]);
        assert_eq!(body["uuid"], 1);
        assert_eq!(body["project"], 1);
        assert_eq!(body["username"], "test");
        assert_eq!(body["email"], "test@example.com");
        assert_eq!(body["xml"], false);
        assert_eq!(body["project_name"], "myProject");
        let joined = body["joined"].as_str().unwrap().to_owned();
        assert!(is_local_date_time(&joined), "{joined}");
        assert_eq!(
            info.text(),
            format!(r#"{{"uuid": 1, "project": 1, "username": "test", "email": "test@example.com", "joined": "{joined}", "xml": false, "project_name": "myProject"}}"#)
        );

        // The same data in XML, byte for byte as dicttoxml writes it
        // (`joined` keeps its space in account bodies).
        let xml = app.get("/session?format=xml", &session).await;
        assert_eq!(xml.header("content-type"), Some("application/xml; charset=utf-8"));
        assert_eq!(
            xml.text(),
            format!(r#"{PROLOG}<Response><uuid type="int">1</uuid><project type="int">1</project><username type="str">test</username><email type="str">test@example.com</email><joined type="str">{joined}</joined><xml type="bool">False</xml><project_name type="str">myProject</project_name></Response>"#)
        );
        let mut headers = session.headers();
        headers.push(("accept", "application/xml"));
        assert_eq!(app.send("GET", "/session", &headers, "").await.text(), xml.text());
        let xml_login = app.json("PUT", "/session?format=xml", &Auth::None, json!({"username": "test", "password": "password-1"})).await;
        assert_eq!(xml_login.text(), format!(r#"{PROLOG}<Response><uuid type="int">1</uuid></Response>"#));

        // Log out: the server forgets the session.
        let out = app.send("DELETE", "/session", &session.headers(), "").await;
        assert_eq!(out.status, 200);
        assert_eq!(out.text(), "{}");
        let removed: Vec<&str> = out.headers_all("set-cookie");
        assert_eq!(removed.len(), 2, "both cookie names are removed: {removed:?}");
        assert!(removed[0].starts_with("__Host-session=;") && removed[0].contains("Max-Age=0"));
        assert!(removed[1].starts_with("session=;") && removed[1].contains("Max-Age=0"));
        assert_error(&app.get("/session", &session).await, 401, "expired or was logged out");
        assert_error(&app.send("DELETE", "/session", &session.headers(), "").await, 401, "logged out");

        let session = app.log_in("test", "password-1").await;
        let out = app.send("DELETE", "/session?format=xml", &session.headers(), "").await;
        assert_eq!(out.text(), format!("{PROLOG}<Response></Response>"));

        let patch = app.send("PATCH", "/session", &[], "").await;
        assert_error(&patch, 405, "PATCH");
        assert_eq!(patch.header("allow"), Some("GET, PUT, DELETE"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_log_in_and_rotate() {
    within(async {
        let app = App::start().await;
        app.provision("myProject", "test").await;
        let session = app.log_in("test", "password-1").await;

        let key = app.api_key(&session).await;
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(groups.len(), 4, "{key}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 10 && g.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert_eq!(app.api_key(&session).await, key, "GET /key is stable");
        let xml = app.get("/key?format=xml", &session).await;
        assert_eq!(
            xml.text(),
            format!(r#"{PROLOG}<Response><key type="str">{key}</key></Response>"#)
        );

        // The key works as a bearer token on every route, and to log in.
        assert_eq!(app.get("/session", &Auth::key(&key)).await.status, 200);
        assert_eq!(app.get("/user", &Auth::key(&key)).await.status, 200);
        let by_key = app
            .json("PUT", "/session", &Auth::None, json!({"key": key}))
            .await;
        assert_eq!(by_key.status, 200);
        assert_eq!(by_key.text(), r#"{"uuid": 1}"#);
        assert_error(
            &app.json(
                "PUT",
                "/session",
                &Auth::None,
                json!({"key": "0000000000-0000000000-0000000000-0000000000"}),
            )
            .await,
            401,
            "API key",
        );
        assert_error(
            &app.get("/session", &Auth::key("not-a-key")).await,
            401,
            "API key",
        );

        // Rotation: the old key stops at once, the new one works.
        let rotated = app
            .send("POST", "/key", &Auth::key(&key).headers(), "")
            .await;
        assert_eq!(rotated.status, 200);
        let new_key = parse(&rotated)["key"].as_str().unwrap().to_owned();
        assert_ne!(new_key, key);
        assert_error(&app.get("/session", &Auth::key(&key)).await, 401, "API key");
        assert_error(
            &app.json("PUT", "/session", &Auth::None, json!({"key": key}))
                .await,
            401,
            "API key",
        );
        assert_eq!(app.get("/session", &Auth::key(&new_key)).await.status, 200);
        assert_eq!(app.api_key(&session).await, new_key);
        let xml = app
            .send("POST", "/key?format=xml", &session.headers(), "")
            .await;
        let newest = app.api_key(&session).await;
        assert_eq!(
            xml.text(),
            format!(r#"{PROLOG}<Response><key type="str">{newest}</key></Response>"#)
        );

        let put = app.send("PUT", "/key", &session.headers(), "").await;
        assert_error(&put, 405, "PUT");
        assert_eq!(put.header("allow"), Some("GET, POST"));
        assert_error(&app.get("/key", &Auth::None).await, 401, "not logged in");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_a_project_and_isolation() {
    within(async {
        let app = App::start().await;
        app.provision("siteA", "alice").await;
        app.provision("siteB", "bob").await;
        let alice = app.log_in("alice", "password-1").await;
        let bob = app.log_in("bob", "password-1").await;

        // PUT creates a user in the caller's own project.
        let created = app
            .json("PUT", "/user", &alice, json!({"username": "alice2", "password": "password-2", "email": "alice2@example.com"}))
            .await;
        assert_eq!(created.status, 200, "{}", created.text());
        let created = parse(&created);
        assert_eq!(created["project"], 1);
        assert_eq!(created["project_name"], "siteA");
        assert_eq!(created["username"], "alice2");
        assert_eq!(created["uuid"], 3);

        // Usernames are unique everywhere (login is by username alone).
        let taken = app.json("PUT", "/user", &alice, json!({"username": "bob", "password": "password-2", "email": "x@example.com"})).await;
        assert_error(&taken, 409, "taken");
        let taken = app.json("PUT", "/user", &alice, json!({"username": "ALICE2", "password": "password-2", "email": "x@example.com"})).await;
        assert_error(&taken, 409, "taken");
        let missing = app.json("PUT", "/user", &alice, json!({"username": "carol", "email": "x@example.com"})).await;
        assert_error(&missing, 400, "password");
        let bad = app.json("PUT", "/user", &alice, json!({"username": "carol", "password": "password-2", "email": "not-an-email"})).await;
        assert_error(&bad, 400, "email");
        assert_error(&app.json("PUT", "/user", &Auth::None, json!({})).await, 401, "not logged in");

        // Each project sees its own users, and no one else's.
        let users = parse(&app.get("/user", &alice).await);
        let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["alice", "alice2"]);
        let first = users[0].as_object().unwrap();
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(keys, ["uuid", "username", "email", "joined"]);
        let users_b = parse(&app.get("/user", &bob).await);
        assert_eq!(users_b, json!([{"uuid": 2, "username": "bob", "email": "bob@example.com", "joined": users_b[0]["joined"]}]));

        // XML of the list: joined with a T, as the page's /user example.
        let joined = users_b[0]["joined"].as_str().unwrap().replace(' ', "T");
        let xml = app.get("/user?format=xml", &bob).await;
        assert_eq!(
            xml.text(),
            format!(r#"{PROLOG}<Response><item type="dict"><uuid type="int">2</uuid><username type="str">bob</username><email type="str">bob@example.com</email><joined type="str">{joined}</joined></item></Response>"#)
        );
        // A created user's account body in XML.
        let xml = app
            .json("PUT", "/user?format=xml", &bob, json!({"username": "bob2", "password": "password-2", "email": "bob2@example.com"}))
            .await;
        assert!(xml.text().starts_with(&format!(r#"{PROLOG}<Response><uuid type="int">4</uuid><project type="int">2</project><username type="str">bob2</username>"#)), "{}", xml.text());

        let patch = app.send("PATCH", "/user", &alice.headers(), "").await;
        assert_eq!(patch.header("allow"), Some("GET, POST, PUT, DELETE"));
        assert_error(&patch, 405, "PATCH");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_update_and_delete_themselves() {
    within(async {
        let app = App::start().await;
        app.provision("site", "dave").await;
        app.provision("other", "erin").await;
        let dave = app.log_in("dave", "password-1").await;

        assert_error(&app.json("POST", "/user", &dave, json!({"username": "erin"})).await, 409, "taken");
        assert_error(&app.json("POST", "/user", &dave, json!({"email": "nope"})).await, 400, "email");
        assert_error(&app.json("POST", "/user", &dave, json!({"xml": "maybe"})).await, 400, "xml");
        assert_error(&app.json("POST", "/user", &dave, json!({"password": "short"})).await, 400, "password");

        let updated = app
            .json("POST", "/user", &dave, json!({"username": "david", "email": "david@example.com", "password": "password-new", "current_password": "password-1"}))
            .await;
        assert_eq!(updated.status, 200, "{}", updated.text());
        let body = parse(&updated);
        assert_eq!(body["username"], "david");
        assert_eq!(body["email"], "david@example.com");
        let wrong = app.json("PUT", "/session", &Auth::None, json!({"username": "david", "password": "password-1"})).await;
        assert_eq!(wrong.status, 401, "the old password stopped working");
        let david = app.log_in("david", "password-new").await;

        // The stored XML preference picks the format; explicit requests win.
        let xml_on = app.json("POST", "/user", &david, json!({"xml": true})).await;
        assert!(xml_on.text().starts_with(PROLOG), "{}", xml_on.text());
        assert!(xml_on.text().contains(r#"<xml type="bool">True</xml>"#));
        assert!(app.get("/session", &david).await.text().starts_with(PROLOG));
        assert_error(&app.get("/key?format=json", &Auth::None).await, 401, "not logged in");
        assert_eq!(parse(&app.get("/session?format=json", &david).await)["xml"], true);

        // The last user of a project cannot delete itself.
        assert_error(&app.send("DELETE", "/user?format=json", &david.headers(), "").await, 409, "last user");
        let other = app
            .json("PUT", "/user?format=json", &david, json!({"username": "frank", "password": "password-3", "email": "frank@example.com"}))
            .await;
        assert_eq!(other.status, 200);
        let key = app.api_key(&david).await;

        let deleted = app.send("DELETE", "/user?format=json", &david.headers(), "").await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());
        assert_eq!(deleted.text(), "{}");
        assert_error(&app.get("/session", &david).await, 401, "logged out");
        assert_error(&app.get("/session", &Auth::key(&key)).await, 401, "API key");
        let gone = app.json("PUT", "/session", &Auth::None, json!({"username": "david", "password": "password-new"})).await;
        assert_eq!(gone.status, 401);
        let frank = app.log_in("frank", "password-3").await;
        let users = parse(&app.get("/user", &frank).await);
        assert_eq!(users.as_array().unwrap().len(), 1);
        let deleted = app.send("DELETE", "/user?format=xml", &app.log_in("frank", "password-3").await.headers(), "").await;
        assert_eq!(deleted.status, 409);
        assert_eq!(
            deleted.text(),
            format!(r#"{PROLOG}<Response><error type="str">the last user of a project cannot delete itself; create another user first (PUT /user)</error></Response>"#)
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_4xx_answers() {
    within(async {
        let app = App::start().await;
        app.provision("site", "gina").await;
        let gina = app.log_in("gina", "password-1").await;

        let mut headers = gina.headers();
        headers.push(("content-type", "text/plain"));
        assert_error(&app.send("POST", "/user", &headers, "username=x").await, 415, "Content-Type");
        let mut headers = gina.headers();
        headers.push(("content-type", "application/json"));
        assert_error(&app.send("POST", "/user", &headers, "{not json").await, 400, "JSON");
        assert_error(&app.send("POST", "/user", &headers, r#"{"username": ["x"]}"#).await, 400, "username");

        let big = "x".repeat(70 * 1024);
        let mut headers = gina.headers();
        headers.push(("content-type", "application/x-www-form-urlencoded"));
        assert_error(&app.send("POST", "/user", &headers, &big).await, 413, "larger than");
        let xml_413 = app.send("POST", "/user?format=xml", &headers, &big).await;
        assert_eq!(xml_413.status, 413);
        assert!(xml_413.text().starts_with(PROLOG));

        assert_error(&app.get("/session?format=yaml", &gina).await, 400, "format");
        let unauthorized_xml = app.send("GET", "/session", &[("accept", "text/xml")], "").await;
        assert_eq!(unauthorized_xml.status, 401);
        assert_eq!(
            unauthorized_xml.text(),
            format!(r#"{PROLOG}<Response><error type="str">not logged in: log in with PUT /session, or send Authorization: Bearer &lt;api key&gt;</error></Response>"#)
        );
        // Nothing of the refused requests changed the account.
        assert_eq!(parse(&app.get("/session", &gina).await)["username"], "gina");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled() {
    within(async {
        let app = App::start().await;
        app.provision("site", "hank").await;
        let key = app.api_key(&app.log_in("hank", "password-1").await).await;
        for _ in 0..5 {
            let response = app
                .json(
                    "PUT",
                    "/session",
                    &Auth::None,
                    json!({"username": "hank", "password": "guess-guess"}),
                )
                .await;
            assert_eq!(response.status, 401);
        }
        let throttled = app
            .json(
                "PUT",
                "/session",
                &Auth::None,
                json!({"username": "hank", "password": "password-1"}),
            )
            .await;
        assert_error(&throttled, 429, "too many failed attempts");
        let retry: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry));
        // The account's owner is not locked out: the API key still works.
        assert_eq!(
            app.json("PUT", "/session", &Auth::None, json!({"key": key}))
                .await
                .status,
            200
        );

        // Per client too: guessing keys from one address is stopped.
        for _ in 0..15 {
            let response = app
                .json(
                    "PUT",
                    "/session",
                    &Auth::None,
                    json!({"key": "0000000000-0000000000-0000000000-0000000000"}),
                )
                .await;
            assert_eq!(response.status, 401);
        }
        let throttled = app
            .json("PUT", "/session", &Auth::None, json!({"key": key}))
            .await;
        assert_error(&throttled, 429, "too many failed attempts");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_migrate_once() {
    within(async {
        let app = App::start().await;
        // Eight instances hit a fresh database at once: each runs the
        // migrations check; none may fail or apply a migration twice.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let base = app.base_url();
            tasks.push(tokio::spawn(async move {
                let body = json!({"name": "p", "timezone": "UTC", "username": format!("user{i}"),
                                  "password": "password-1", "email": "u@example.com"});
                request(
                    &base,
                    "POST",
                    "/admin/projects",
                    &[
                        ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
                        ("content-type", "application/json"),
                    ],
                    body.to_string().into_bytes(),
                )
                .await
                .unwrap()
            }));
        }
        let mut projects = Vec::new();
        for task in tasks {
            let response = task.await.unwrap();
            assert_eq!(response.status, 201, "{}", response.text());
            projects.push(parse(&response)["project"].as_i64().unwrap());
        }
        projects.sort();
        assert_eq!(projects, (1..=8).collect::<Vec<_>>());
    })
    .await
}
