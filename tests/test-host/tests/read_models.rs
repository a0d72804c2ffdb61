//! The read models (ARCHITECTURE.md, "Read models"): hot reads run no SQL,
//! and what they answer stays in step with what SQL holds while writes
//! race with them.

mod common;

use common::*;
use serde_json::{Value as Json, json};
use std::time::Duration;
use test_host::client::rfc3339_utc;

/// `(SQL statements, key-value operations)` from the `Server-Timing`
/// header every storage-using response carries.
fn storage_work(response: &Response) -> (u32, u32) {
    let header = response
        .header("server-timing")
        .unwrap_or_else(|| panic!("no server-timing in {:?}", response.headers));
    // `sql;dur=1.2;desc="3 statements", kv;dur=0.1;desc="1 operations", …`
    let number = |metric: &str| -> u32 {
        let entry = header
            .split(", ")
            .find(|entry| entry.starts_with(&format!("{metric};")))
            .unwrap_or_else(|| panic!("no {metric} in {header}"));
        let (_, rest) = entry.split_once("desc=\"").unwrap();
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    (number("sql"), number("kv"))
}

fn batch(first_ts: i64, count: i64, points: usize) -> Json {
    let readings: Vec<Json> = (0..count)
        .flat_map(|step| {
            (0..points).map(move |p| {
                json!({"MeterId": format!("m{p}"), "TimeStamping": rfc3339_utc(first_ts + step * 300),
                       "value": (first_ts + step * 300) as f64 / 300.0 + p as f64})
            })
        })
        .collect();
    json!({"readings": readings})
}

async fn ingest(app: &App, token: &str, batch: &Json) -> Response {
    app.json("POST", "/ingest", &Auth::key(token), batch.clone())
        .await
}

const T0: i64 = 1_572_455_700; // 2019-10-30T17:15:00Z

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reads_run_no_sql() {
    within(async {
        let app = App::start().await;
        let provisioned = app.provision("site", "owner").await;
        let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
        let session = app.log_in("owner", "password-1").await;
        let key = Auth::key(&app.api_key(&session).await);
        assert_eq!(ingest(&app, &token, &batch(T0, 3, 5)).await.status, 200);

        for auth in [&key, &session] {
            for path in ["/data", "/interval", "/point", "/point?name=m3", "/session"] {
                let first = app.get(path, auth).await;
                assert_eq!(first.status, 200, "{path}: {}", first.text());
                let again = app.get(path, auth).await;
                assert_eq!(again.text(), first.text(), "{path}");
                let (sql, kv) = storage_work(&again);
                assert_eq!(sql, 0, "{path} ran SQL when hot");
                assert!(kv <= 3, "{path}: {kv} key-value operations");
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_stays_in_step_with_concurrent_ingest_and_renames() {
    within(async {
        let app = App::start().await;
        let provisioned = app.provision("site", "owner").await;
        let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
        let key = app.api_key(&app.log_in("owner", "password-1").await).await;
        assert_eq!(ingest(&app, &token, &batch(T0, 1, 4)).await.status, 200);

        let base = app.base_url();
        let bearer = format!("Bearer {key}");
        // A reader polls /data while batches and renames land.
        let reader = {
            let (base, bearer) = (base.clone(), bearer.clone());
            tokio::spawn(async move {
                let mut seen: Vec<String> = Vec::new();
                for _ in 0..150 {
                    let response = checked_request(
                        &base,
                        "GET",
                        "/data",
                        &[("authorization", &bearer)],
                        vec![],
                    )
                    .await;
                    assert_eq!(response.status, 200, "{}", response.text());
                    seen.push(response.text());
                }
                seen
            })
        };
        let renamer = {
            let (base, bearer) = (base.clone(), bearer.clone());
            tokio::spawn(async move {
                for round in 0..20 {
                    let (from, to) = if round % 2 == 0 {
                        ("m1", "Main panel")
                    } else {
                        ("Main panel", "m1")
                    };
                    let body = json!({"name": from, "new": to}).to_string().into_bytes();
                    let headers = [
                        ("authorization", bearer.as_str()),
                        ("content-type", "application/json"),
                    ];
                    let response = checked_request(&base, "POST", "/point", &headers, body).await;
                    assert_eq!(response.status, 200, "{}", response.text());
                }
            })
        };
        for step in 1..=30 {
            let response = ingest(&app, &token, &batch(T0 + step * 300, 1, 4)).await;
            assert_eq!(response.status, 200, "{}", response.text());
        }
        renamer.await.unwrap();
        let seen = reader.await.unwrap();

        // Every answer was a state SQL really went through: each point's
        // latest time never went backwards from one poll to the next.
        let times = |text: &str| -> Vec<String> {
            let rows: Json = serde_json::from_str(text).unwrap();
            rows.as_array()
                .unwrap()
                .iter()
                .map(|r| r["TimeStamping"].as_str().unwrap().to_owned())
                .collect()
        };
        for pair in seen.windows(2) {
            for (before, after) in times(&pair[0]).iter().zip(times(&pair[1]).iter()) {
                assert!(
                    before <= after,
                    "a poll went back in time:\n{}\n{}",
                    pair[0],
                    pair[1]
                );
            }
        }
        // And the last answer is what SQL holds: the last batch, with the
        // name the renames left (an even number of renames: m1 again).
        let data = parse(&app.get("/data", &Auth::key(&key)).await);
        let expected_ts = "2019-10-30 15:45:00"; // T0 + 30 × 5 min = 19:45Z, in Toronto
        let rows = data.as_array().unwrap();
        assert_eq!(rows.len(), 4);
        for (p, row) in rows.iter().enumerate() {
            assert_eq!(row["MeterParam"], format!("m{p}"));
            assert_eq!(row["TimeStamping"], expected_ts);
            assert_eq!(
                row["value"],
                json!((T0 + 30 * 300) as f64 / 300.0 + p as f64)
            );
        }
        let exported = app
            .get(
                "/file?start=2019-10-30&end=2019-10-30&type=csv&meter=m1",
                &Auth::key(&key),
            )
            .await;
        let last_line = exported.text().lines().last().unwrap().to_owned();
        assert!(last_line.contains("15:45:00"), "{last_line}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_stops_at_once_even_under_reads() {
    within(async {
        let app = App::start().await;
        app.provision("site", "owner").await;
        let session = app.log_in("owner", "password-1").await;
        let old_key = app.api_key(&session).await;
        let base = app.base_url();
        let bearer = format!("Bearer {old_key}");
        // Warm the read models, then read hard while the key is rotated.
        assert_eq!(app.get("/data", &Auth::key(&old_key)).await.status, 200);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (base, bearer) = (base.clone(), bearer.clone());
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    for _ in 0..60 {
                        let response = checked_request(
                            &base,
                            "GET",
                            "/data",
                            &[("authorization", &bearer)],
                            vec![],
                        )
                        .await;
                        statuses.push(response.status);
                    }
                    statuses
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let rotated = app.send("POST", "/key", &session.headers(), "").await;
        assert_eq!(rotated.status, 200);
        let new_key = parse(&rotated)["key"].as_str().unwrap().to_owned();
        // From the moment the rotation answered, the old key opens nothing.
        for _ in 0..20 {
            assert_error(
                &app.get("/data", &Auth::key(&old_key)).await,
                401,
                "API key is not valid",
            );
        }
        assert_eq!(app.get("/data", &Auth::key(&new_key)).await.status, 200);
        for reader in readers {
            let statuses = reader.await.unwrap();
            // Each reader saw 200s, then 401s, never 200 again after a 401.
            let first_refusal = statuses
                .iter()
                .position(|s| *s == 401)
                .unwrap_or(statuses.len());
            assert!(
                statuses[first_refusal..].iter().all(|s| *s == 401),
                "{statuses:?}"
            );
            assert!(
                statuses[..first_refusal].iter().all(|s| *s == 200),
                "{statuses:?}"
            );
        }
    })
    .await
}

/// The hot reads a project's listings answer, by API key.
const LISTING_PATHS: [&str; 8] = [
    "/data",
    "/interval",
    "/status",
    "/status?format=xml",
    "/point",
    "/point?format=xml",
    "/point?name=m2",
    "/data?format=xml",
];

/// A 401 for a key that opens nothing, in the format `path` asks for.
fn refused(response: &Response, path: &str) {
    assert_eq!(response.status, 401, "{path}: {}", response.text());
    assert!(
        response.text().contains("the API key is not valid"),
        "{path}: {}",
        response.text()
    );
}

/// A read by API key, read twice (the second hot): the second answer and
/// its `(SQL statements, key-value operations)`.
async fn hot(app: &App, key: &str, path: &str) -> (Response, (u32, u32)) {
    let first = app.get(path, &Auth::key(key)).await;
    assert_eq!(first.status, 200, "{path}: {}", first.text());
    let again = app.get(path, &Auth::key(key)).await;
    assert_eq!(again.status, 200, "{path}: {}", again.text());
    let work = storage_work(&again);
    (again, work)
}

/// A hot read by API key is one key-value read (one Redis round trip on
/// the scale-out stores): the key's view holds the account and the
/// listing, for the project's first 8 users; the 9th reads the same
/// answers in two. Every write the views copy shows in the next read
/// (ingest, a rename), a rotated or deleted key opens nothing on any of
/// them, and when a first user is deleted the next user's view holds the
/// listings from the next write on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_read_by_api_key_is_one_key_value_read() {
    within(async {
        let app = App::start().await;
        let provisioned = app.provision("site", "owner").await;
        let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
        let owner = app.log_in("owner", "password-1").await;
        let mut names = vec!["owner".to_owned()];
        for n in 2..=9 {
            let name = format!("user{n}");
            let created = app
                .json(
                    "PUT",
                    "/user",
                    &owner,
                    json!({"username": name, "password": "password-1", "email": "u@example.com"}),
                )
                .await;
            assert_eq!(created.status, 200, "{}", created.text());
            names.push(name);
        }
        let mut sessions = Vec::new();
        let mut keys = Vec::new();
        for name in &names {
            let session = app.log_in(name, "password-1").await;
            keys.push(app.api_key(&session).await);
            sessions.push(session);
        }
        assert_eq!(ingest(&app, &token, &batch(T0, 1, 3)).await.status, 200);

        for path in LISTING_PATHS {
            let (first, (sql, kv)) = hot(&app, &keys[0], path).await;
            assert_eq!((sql, kv), (0, 1), "{path} by a first user's key");
            let (ninth, (sql, kv)) = hot(&app, &keys[8], path).await;
            assert_eq!((sql, kv), (0, 2), "{path} by the 9th user's key");
            if path != "/status" {
                // (/status tells the age of each reading: it moves on.)
                assert_eq!(first.text(), ninth.text(), "{path}");
            }
        }

        // A user who prefers XML asks /point or /status without a format:
        // the JSON view does not answer for it (a second read does), and
        // the answer is XML.
        let prefers_xml = app
            .json("POST", "/user", &Auth::key(&keys[4]), json!({"xml": true}))
            .await;
        assert_eq!(prefers_xml.status, 200, "{}", prefers_xml.text());
        let (as_xml, work) = hot(&app, &keys[4], "/point").await;
        assert_eq!(work, (0, 2));
        let (explicit_xml, work) = hot(&app, &keys[4], "/point?format=xml").await;
        assert_eq!(work, (0, 1));
        assert!(as_xml.text().starts_with("<?xml"), "{}", as_xml.text());
        assert_eq!(as_xml.text(), explicit_xml.text());
        let (as_json, work) = hot(&app, &keys[4], "/point?format=json").await;
        assert_eq!(work, (0, 1));
        assert!(as_json.text().starts_with('['), "{}", as_json.text());
        let (status, work) = hot(&app, &keys[4], "/status").await;
        assert_eq!(work, (0, 2));
        assert!(status.text().starts_with("<?xml"), "{}", status.text());
        let (status, work) = hot(&app, &keys[4], "/status?format=json").await;
        assert_eq!(work, (0, 1));
        assert!(status.text().starts_with('{'), "{}", status.text());

        // A batch and a rename: the next read by a first user's key, hot
        // at once, shows each.
        assert_eq!(
            ingest(&app, &token, &batch(T0 + 300, 1, 3)).await.status,
            200
        );
        let data = app.get("/data", &Auth::key(&keys[1])).await;
        assert_eq!(storage_work(&data), (0, 1));
        assert_eq!(
            data.text(),
            app.get("/data", &Auth::key(&keys[8])).await.text()
        );
        assert!(data.text().contains("13:20:00"), "{}", data.text());
        let renamed = app
            .json(
                "POST",
                "/point",
                &Auth::key(&keys[1]),
                json!({"name": "m2", "new": "Boiler"}),
            )
            .await;
        assert_eq!(renamed.status, 200, "{}", renamed.text());
        let boiler = app.get("/point?name=Boiler", &Auth::key(&keys[2])).await;
        assert_eq!(boiler.status, 200, "{}", boiler.text());
        assert_eq!(storage_work(&boiler), (0, 1));
        assert!(
            app.get("/data", &Auth::key(&keys[3]))
                .await
                .text()
                .contains("Boiler")
        );

        // A rotated key: the old one opens no listing, the new one is hot.
        let rotated = app.send("POST", "/key", &sessions[3].headers(), "").await;
        assert_eq!(rotated.status, 200);
        let new_key = parse(&rotated)["key"].as_str().unwrap().to_owned();
        for path in LISTING_PATHS {
            refused(&app.get(path, &Auth::key(&keys[3])).await, path);
        }
        let (_, work) = hot(&app, &new_key, "/data").await;
        assert_eq!(work, (0, 1));

        // A deleted first user: its key opens nothing; the 9th user is
        // now among the first 8 and reads in one key-value read at once,
        // and the next batch reaches it there.
        let deleted = app
            .send("DELETE", "/user", &sessions[1].headers(), "")
            .await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());
        for path in LISTING_PATHS {
            refused(&app.get(path, &Auth::key(&keys[1])).await, path);
        }
        // (m2 is called Boiler now.)
        for path in LISTING_PATHS.map(|path| path.replace("name=m2", "name=Boiler")) {
            let path = path.as_str();
            let (_, work) = hot(&app, &keys[8], path).await;
            assert_eq!(
                work,
                (0, 1),
                "{path} by the 9th user's key, now among the first 8"
            );
        }
        assert_eq!(
            ingest(&app, &token, &batch(T0 + 600, 1, 3)).await.status,
            200
        );
        let (data, work) = hot(&app, &keys[8], "/data").await;
        assert_eq!(work, (0, 1), "the 9th user's key, now among the first 8");
        assert!(data.text().contains("13:25:00"), "{}", data.text());
    })
    .await
}

/// Two instances on the same stores (two Spin processes on one Redis and
/// one sqld, or on one state directory): a key rotated, a user deleted or
/// a session ended through one instance opens nothing on the other from
/// the moment the change answers, and the other's hot reads by key are
/// still one key-value read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_through_one_instance_holds_on_another() {
    within(async {
        let one = App::start().await;
        let provisioned = one.provision("site", "owner").await;
        let token = provisioned["ingest_token"].as_str().unwrap().to_owned();
        let owner = one.log_in("owner", "password-1").await;
        let created = one
            .json(
                "PUT",
                "/user",
                &owner,
                json!({"username": "second", "password": "password-1", "email": "s@example.com"}),
            )
            .await;
        assert_eq!(created.status, 200, "{}", created.text());
        let second = one.log_in("second", "password-1").await;
        let (owner_key, second_key) = (one.api_key(&owner).await, one.api_key(&second).await);
        assert_eq!(ingest(&one, &token, &batch(T0, 1, 3)).await.status, 200);

        let other = one.another_instance().await;
        for path in LISTING_PATHS {
            let (answer, work) = hot(&other, &owner_key, path).await;
            assert_eq!(work, (0, 1), "{path} on the other instance");
            if path != "/status" && path != "/status?format=xml" {
                assert_eq!(
                    answer.text(),
                    one.get(path, &Auth::key(&owner_key)).await.text()
                );
            }
        }
        assert_eq!(other.get("/data", &second).await.status, 200);

        let rotated = one.send("POST", "/key", &owner.headers(), "").await;
        assert_eq!(rotated.status, 200);
        let new_key = parse(&rotated)["key"].as_str().unwrap().to_owned();
        for path in LISTING_PATHS {
            refused(&other.get(path, &Auth::key(&owner_key)).await, path);
        }
        let (_, work) = hot(&other, &new_key, "/data").await;
        assert_eq!(work, (0, 1));

        let deleted = one.send("DELETE", "/user", &second.headers(), "").await;
        assert_eq!(deleted.status, 200, "{}", deleted.text());
        for path in LISTING_PATHS {
            refused(&other.get(path, &Auth::key(&second_key)).await, path);
        }
        assert_eq!(other.get("/data", &second).await.status, 401);

        let ended = one.send("DELETE", "/session", &owner.headers(), "").await;
        assert_eq!(ended.status, 200, "{}", ended.text());
        assert_eq!(other.get("/data", &owner).await.status, 401);
    })
    .await
}
