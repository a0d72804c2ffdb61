//! End-to-end tests of `/usage` and `/status` through the real components:
//! units from the collector's announcement, energy, peak demand and
//! coverage per local day and hour, totals, CSV and XML, meter states and
//! the collector's last contact; and what a hostile caller sends them.

mod common;

use common::*;
use serde_json::{Value as Json, json};

/// A site with two days of readings ([`readings`]: meter00 0.1 kWh per
/// 5 minutes and 5.0 at 12:00 local on the first day, meter01 0.2), meter00
/// announced with its unit and cadence, meter02 announced but never read,
/// and the collector's status sent with the batch.
async fn site_with_history(app: &App) -> Site {
    let site = app.site("insight", "ina").await;
    let announce = json!({
        "points": [
            {"MeterId": "meter00", "SaveEvery": 5, "Unit": "kWh"},
            {"MeterId": "meter02", "SaveEvery": 15, "Unit": "m³"},
        ],
        "collector": {"Version": "9.9.9", "Backlog": 3, "ClockSynchronised": true},
    });
    ingest(app, &site.ingest, readings(2, 2)).await;
    // Last: the collector's status is the last batch's.
    ingest_body(app, &site.ingest, &announce.to_string()).await;
    site
}

fn close(a: &Json, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() < 1e-9 * (1.0 + b.abs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_per_local_day_has_energy_peak_and_coverage() {
    within(async {
        let app = App::start().await;
        let site = site_with_history(&app).await;
        let usage = app
            .get("/usage?start=2019-10-30&end=2019-10-31", &site.user)
            .await;
        assert_eq!(usage.status, 200, "{}", usage.text());
        let body = parse(&usage);
        assert_eq!(body["TimeZone"], "America/Toronto");
        assert_eq!(body["Interval"], "day");
        let meters = body["Meters"].as_array().unwrap();
        let names: Vec<&str> = meters
            .iter()
            .map(|m| m["MeterId"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["meter00", "meter01", "meter02"], "in point order");
        let m0 = &meters[0];
        assert_eq!((m0["Unit"].as_str(), m0["DemandUnit"].as_str()), (Some("kWh"), Some("kW")));
        let day1 = &m0["Buckets"][0];
        assert_eq!(day1["Start"], "2019-10-30 00:00:00");
        assert_eq!(day1["End"], "2019-10-31 00:00:00");
        // The first day holds the intervals ending in (00:00, 24:00]:
        // its register at midnight minus the one the midnight before.
        // 288, one of them 5.0.
        assert_eq!(day1["Intervals"], 288);
        assert!(close(&day1["Energy"], 287.0 * 0.1 + 5.0), "{day1}");
        // 5 kWh in 5 minutes is 60 kW, from 11:55 to 12:00.
        assert!(close(&day1["PeakDemand"], 60.0), "{day1}");
        assert_eq!(day1["PeakStart"], "2019-10-30 11:55:00");
        assert_eq!(day1["PeakEnd"], "2019-10-30 12:00:00");
        assert!(close(&day1["Coverage"], 1.0), "{day1}");
        let day2 = &m0["Buckets"][1];
        assert_eq!(day2["Intervals"], 288);
        assert!(close(&day2["Energy"], 28.8) && close(&day2["Coverage"], 1.0), "{day2}");
        // 0.1 kWh per 5 minutes is 1.2 kW; of equal peaks, one of them.
        assert!(close(&day2["PeakDemand"], 1.2), "{day2}");
        let total = &m0["Total"];
        assert_eq!(total["Intervals"], 576);
        assert!(close(&total["Energy"], 575.0 * 0.1 + 5.0), "{total}");
        assert_eq!(total["PeakEnd"], "2019-10-30 12:00:00");
        // meter02 was never read: nothing used, no peak, coverage 0.
        let m2 = &meters[2];
        assert_eq!(m2["DemandUnit"], "m³/h");
        assert_eq!(m2["Buckets"][0]["Energy"], Json::Null);
        assert_eq!(m2["Buckets"][0]["Intervals"], 0);
        assert_eq!(m2["Buckets"][0]["Coverage"], 0.0);
        // meter01 was never announced: no unit is guessed, no coverage.
        let m1 = &meters[1];
        assert_eq!((&m1["Unit"], &m1["DemandUnit"]), (&Json::Null, &Json::Null));
        assert_eq!(m1["Buckets"][1]["Coverage"], Json::Null);
        assert!(close(&m1["Buckets"][1]["Energy"], 288.0 * 0.2));

        // Hours: 24 a day; 11:00–12:00 holds the 5.0 that ended at 12:00.
        let hours = parse(
            &app.get(
                "/usage?start=2019-10-30&end=2019-10-30&interval=hour&meter=meter00",
                &site.user,
            )
            .await,
        );
        let buckets = hours["Meters"][0]["Buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 24);
        assert_eq!(buckets[11]["Start"], "2019-10-30 11:00:00");
        assert!(close(&buckets[11]["Energy"], 11.0 * 0.1 + 5.0), "{}", buckets[11]);
        assert_eq!(hours["Meters"].as_array().unwrap().len(), 1);

        // Weeks start on Monday: Wed 30 Oct – Sun 3 Nov, then Mon 4 Nov.
        let weeks = parse(
            &app.get(
                "/usage?start=2019-10-30&end=2019-11-04&interval=week&meter=meter00",
                &site.user,
            )
            .await,
        );
        let buckets = weeks["Meters"][0]["Buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[1]["Start"], "2019-11-04 00:00:00");

        // CSV: a row per bucket, then the total.
        let csv = app
            .get(
                "/usage?start=2019-10-30&end=2019-10-31&meter=meter00&type=csv",
                &site.user,
            )
            .await;
        assert_eq!(csv.status, 200);
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        let text = csv.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "MeterId,Row,Start,End,Energy,Unit,PeakDemand,DemandUnit,PeakStart,PeakEnd,Intervals,Coverage"
        );
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].starts_with("meter00,bucket,2019-10-30 00:00:00,2019-10-31 00:00:00,"));
        assert!(lines[1].contains(",kWh,60.0,kW,2019-10-30 11:55:00,2019-10-30 12:00:00,288,"), "{}", lines[1]);
        assert!(lines[3].starts_with("meter00,total,"), "{}", lines[3]);

        // XML, dicttoxml's form.
        let xml = app
            .get("/usage?start=2019-10-30&end=2019-10-30&format=xml", &site.user)
            .await;
        assert_eq!(xml.status, 200);
        let text = xml.text();
        assert!(text.starts_with(PROLOG), "{text}");
        assert!(text.contains(r#"<PeakStart type="str">2019-10-30T11:55:00</PeakStart>"#), "{text}");
        assert!(text.contains(r#"<Unit type="str">kWh</Unit>"#));

        // The charts' value axis names the unit when the lines share one.
        for (query, label) in [
            ("meter=meter00&start=2019-10-30&end=2019-10-30", "kWh per interval"),
            ("type=line&start=2019-10-30&end=2019-10-30", "per interval"),
        ] {
            let series = parse(&app.get(&format!("/series?{query}"), &site.user).await);
            assert_eq!(series["chart"]["data"]["value_label"], label, "{query}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_which_meters_report_and_how_the_collector_is() {
    within(async {
        let app = App::start().await;
        let site = site_with_history(&app).await;
        let status = app.get("/status", &site.user).await;
        assert_eq!(status.status, 200, "{}", status.text());
        let body = parse(&status);
        let collector = &body["Collector"];
        assert_eq!(collector["Version"], "9.9.9", "{body}");
        assert_eq!(collector["Backlog"], 3);
        assert_eq!(collector["ClockSynchronised"], true);
        assert!(collector["AgeSeconds"].as_i64().unwrap() < 600, "{collector}");
        let meters = body["Meters"].as_array().unwrap();
        let by_name = |name: &str| meters.iter().find(|m| m["MeterId"] == name).unwrap();
        // 2019's readings are years old today.
        let m0 = by_name("meter00");
        assert_eq!(m0["State"], "silent");
        assert_eq!(m0["LastReading"], "2019-11-01 00:00:00");
        assert_eq!(m0["ExpectedEverySeconds"], 300);
        assert_eq!(m0["Unit"], "kWh");
        assert_eq!(by_name("meter02")["State"], "never");
        assert_eq!(by_name("meter02")["LastReading"], Json::Null);
        // Never announced: the assumed quarter hour.
        assert_eq!(by_name("meter01")["ExpectedEverySeconds"], 900);

        // A fresh reading makes meter02 `ok`; a batch without a status
        // leaves the collector's fields unknown.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let fresh = json!({"readings": [
            {"MeterId": "meter02", "TimeStamping": test_host::client::rfc3339_utc(now - 60), "value": 1.0},
        ]});
        ingest_body(&app, &site.ingest, &fresh.to_string()).await;
        let body = parse(&app.get("/status?format=json", &site.user).await);
        let meters = body["Meters"].as_array().unwrap();
        let m2 = meters.iter().find(|m| m["MeterId"] == "meter02").unwrap();
        assert_eq!(m2["State"], "ok", "{m2}");
        assert_eq!(m2["MissedIntervals"], 0);
        assert_eq!(body["Collector"]["Version"], Json::Null);
        assert_eq!(body["Collector"]["Backlog"], Json::Null);

        let xml = app.get("/status?format=xml", &site.user).await;
        assert!(
            xml.text().contains(r#"<State type="str">ok</State>"#),
            "{}",
            xml.text()
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_status_refuse_what_they_cannot_answer() {
    within(async {
        let app = App::start().await;
        let site = site_with_history(&app).await;
        let other = app.site("other", "oscar").await;
        ingest(
            &app,
            &other.ingest,
            vec![json!({"MeterId": "secret-meter", "TimeStamping": "2019-10-30T12:00:00Z", "value": 77700.0})],
        )
        .await;
        for (query, status, says) in [
            ("start=2019-10-30", 400, "end"),
            ("start=2019-10-30&end=2019-10-30&interval=fortnight", 400, "interval must be"),
            ("start=2019-10-30&end=2019-10-30&interval=", 400, "interval must be"),
            ("start=2019-10-30&end=2019-10-30&interval=Day", 400, "interval must be"),
            ("start=2019-10-30&end=2019-10-30&type=yaml", 400, "type must be"),
            ("start=2019-01-01&end=2020-12-31&interval=hour", 400, "buckets"),
            ("start=1970-01-01&end=2019-10-30", 400, "at most"),
            ("start=2019-10-30&end=2019-10-30&meter=secret-meter", 404, "no metering point"),
            ("start=2019-10-30&end=2019-10-30&meter=", 404, "no metering point"),
        ] {
            let response = app.get(&format!("/usage?{query}"), &site.user).await;
            assert_eq!(response.status, status, "{query}: {}", response.text());
            let error = parse(&response)["error"].as_str().unwrap().to_owned();
            assert!(error.contains(says), "{query}: {error}");
        }
        // Another project's readings never count in this one's usage.
        let usage = app
            .get("/usage?start=2019-10-30&end=2019-10-30&interval=year", &site.user)
            .await;
        assert!(!usage.text().contains("secret-meter"));
        // Without credentials, nothing.
        for path in ["/usage?start=2019-10-30&end=2019-10-30", "/status"] {
            assert_eq!(app.get(path, &Auth::None).await.status, 401, "{path}");
        }
        let status = app.get("/status", &site.user).await;
        assert!(!status.text().contains("secret-meter"));
        // A collector's absurd status is refused whole, nothing stored.
        let bearer = format!("Bearer {}", site.ingest);
        for collector in [
            json!({"Backlog": -1}),
            json!({"Backlog": 1e300}),
            json!({"Version": "x".repeat(65)}),
            json!({"ClockSynchronised": "yes"}),
            json!([]),
        ] {
            let body = json!({"readings": [{"MeterId": "meter00", "TimeStamping": "2019-11-02T12:00:00Z", "value": 1e6}], "collector": collector});
            let response = app
                .send(
                    "POST",
                    "/ingest",
                    &[("authorization", &bearer), ("content-type", "application/json")],
                    &body.to_string(),
                )
                .await;
            assert_eq!(response.status, 400, "{collector}: {}", response.text());
            assert!(response.text().contains("collector"), "{}", response.text());
        }
        let after = parse(&app.get("/status", &site.user).await);
        assert_eq!(after["Collector"]["Version"], "9.9.9", "nothing changed");
        let unit = json!({"points": [{"MeterId": "meter00", "Unit": "kWh\u{0007}"}]});
        let response = app
            .send(
                "POST",
                "/ingest",
                &[("authorization", &bearer), ("content-type", "application/json")],
                &unit.to_string(),
            )
            .await;
        assert_eq!(response.status, 400, "{}", response.text());
    })
    .await
}
