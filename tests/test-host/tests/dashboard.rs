//! The browser dashboard in a real headless browser (`common/browser.rs`:
//! chromium over WebDriver) against the app, in the test host or on Spin.
//! Skipped with a notice when chromium or chromedriver is not installed
//! (`tests/run` installs them with apt-get as root). The benchmark is
//! `benches/dashboard.rs`.
//!
//! Screenshots go to `target/dashboard-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::*;
use common::*;
use serde_json::json;

/// charts::color(0) and (1): the first and second point.
const FIRST: (u8, u8, u8) = (78, 121, 167);
const SECOND: (u8, u8, u8) = (242, 142, 43);
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_are_served_with_caching_and_gzip() {
    within(async {
        let app = App::start().await;
        let page = app.get("/", &Auth::None).await;
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header("cache-control"), Some("no-cache"));
        assert!(page.text().contains("/dashboard/main.js"));
        // Only the app's own scripts and styles; no form navigates.
        let policy = page.header("content-security-policy").unwrap();
        for directive in [
            "script-src 'self' 'wasm-unsafe-eval';",
            "style-src 'self';",
            "form-action 'none';",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} in {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let etag = page.header("etag").unwrap().to_owned();
        let again = app.send("GET", "/", &[("if-none-match", &etag)], "").await;
        assert_eq!((again.status, again.body.len()), (304, 0));
        for (path, content_type) in [
            ("/dashboard/main.js", "text/javascript; charset=utf-8"),
            (
                "/dashboard/dashboard_web.js",
                "text/javascript; charset=utf-8",
            ),
            ("/dashboard/dashboard_web_bg.wasm", "application/wasm"),
            ("/dashboard/style.css", "text/css; charset=utf-8"),
        ] {
            let plain = app.get(path, &Auth::None).await;
            assert_eq!(plain.status, 200, "{path}");
            assert_eq!(plain.header("content-type"), Some(content_type), "{path}");
            let gzip = app
                .send("GET", path, &[("accept-encoding", "gzip, deflate, br")], "")
                .await;
            assert_eq!(gzip.header("content-encoding"), Some("gzip"), "{path}");
            assert_eq!(gzip.header("vary"), Some("Accept-Encoding"), "{path}");
            if plain.body.len() > 1000 {
                assert!(gzip.body.len() < plain.body.len(), "{path}");
            }
            assert_eq!(&gzip.body[..2], &[0x1f, 0x8b], "{path}");
            if path.ends_with(".wasm") {
                eprintln!(
                    "dashboard wasm: {} bytes, {} gzipped",
                    plain.body.len(),
                    gzip.body.len()
                );
                assert!(gzip.body.len() < 500 * 1024);
            }
        }
        assert_error(
            &app.get("/dashboard/nothing.js", &Auth::None).await,
            404,
            "no file",
        );
        // Other paths are still the API's 404.
        assert_error(&app.get("/nope", &Auth::None).await, 404, "no route /nope");
    })
    .await
}

/// The two meters of `readings(2, 8)` announced with their unit and
/// cadence, as a collector does.
fn announced_points() -> Vec<serde_json::Value> {
    (0..2)
        .map(|i| json!({"MeterId": format!("meter{i:02}"), "SaveEvery": 5, "Unit": "kWh"}))
        .collect()
}

/// A number as the page writes it ("1,234.5 kWh") as a number.
fn shown_number(text: &str) -> f64 {
    let digits: String = text
        .split(' ')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| *c != ',')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

/// The meters table as text, a row per meter.
async fn table(browser: &Browser) -> Vec<Vec<String>> {
    let rows = browser
        .script(
            "return [...document.querySelectorAll('#meters-body tr')].map(r => [...r.cells].map(c => c.textContent));",
            json!([]),
        )
        .await;
    serde_json::from_value(rows).unwrap()
}

/// Columns of the meters table.
const METER: usize = 0;
const STATE: usize = 1;
const REGISTER: usize = 3;
const ENERGY: usize = 5;
const PEAK: usize = 6;
const PEAK_AT: usize = 7;

/// The table's energy and peak columns show, for every meter, the window's
/// `Energy` and `PeakDemand` (and its `PeakStart`) from `/usage`: `pick`
/// says which of the answer's buckets make up the window.
async fn table_agrees_with_usage(
    browser: &Browser,
    usage: &serde_json::Value,
    pick: impl Fn(&[serde_json::Value]) -> Vec<serde_json::Value>,
) {
    let rows = table(browser).await;
    for meter in usage["Meters"].as_array().unwrap() {
        let name = meter["MeterId"].as_str().unwrap();
        let row = rows.iter().find(|row| row[METER] == name).expect(name);
        let buckets = pick(meter["Buckets"].as_array().unwrap());
        let energy: f64 = buckets.iter().filter_map(|b| b["Energy"].as_f64()).sum();
        // The largest peak; of equals, the earliest (as /usage's totals).
        let mut peak = &buckets[0];
        for bucket in &buckets {
            if bucket["PeakDemand"].as_f64() > peak["PeakDemand"].as_f64() {
                peak = bucket;
            }
        }
        let shown = shown_number(&row[ENERGY]);
        assert!(
            (shown - energy).abs() <= energy * 0.001 + 0.001,
            "{name}: {row:?} against {energy}"
        );
        assert!(row[ENERGY].ends_with(" kWh"), "{row:?}");
        let peak_shown = shown_number(&row[PEAK]);
        let peak_value = peak["PeakDemand"].as_f64().unwrap();
        assert!(
            (peak_shown - peak_value).abs() <= peak_value * 0.001,
            "{name}: {row:?} against {peak}"
        );
        assert!(row[PEAK].ends_with(" kW"), "{row:?}");
        assert_eq!(
            row[PEAK_AT],
            peak["PeakStart"].as_str().unwrap()[..16],
            "{name}"
        );
    }
}

/// Waits for the main chart to show `part` of its query.
async fn chart_shows(browser: &Browser, part: &str) {
    browser
        .wait_for(&format!(
            "(document.getElementById('line-chart').dataset.query || '').includes('{part}')"
        ))
        .await;
}

/// The readout's lines after pointing at `(x, y)` of the main chart.
async fn readout_at(browser: &Browser, x: i64, y: i64) -> Vec<String> {
    browser.point_at("#line-chart", x, y).await;
    browser
        .wait_for("!document.getElementById('chart-tip').hidden")
        .await;
    let lines = browser
        .script(
            "return [...document.getElementById('chart-tip').children].map(c => c.textContent);",
            json!([]),
        )
        .await;
    serde_json::from_value(lines).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_reads_the_site_in_a_browser() {
    within(async {
        let Some(browser) = Browser::start(1280, 1800).await else {
            return;
        };
        let app = App::start().await;
        let site = app.provision("dashboard", "dash").await;
        let token = site["ingest_token"].as_str().unwrap();
        ingest_body(&app, token, &json!({"points": announced_points(), "readings": []}).to_string()).await;
        ingest(&app, token, readings(2, 8)).await;
        let api = app.log_in("dash", "password-1").await;
        let base = app.base_url();

        browser.log_in(&base, "dash", "password-1", Some("1-login.png")).await;

        // The meters table shows /status, /data and /interval, with units.
        browser
            .wait_for("document.querySelectorAll('#meters-body tr').length == 2 && document.querySelector('#meters-body .badge')")
            .await;
        let data = parse(&app.get("/data", &api).await);
        let status = parse(&app.get("/status", &api).await);
        let rows = table(&browser).await;
        for (row, reading) in rows.iter().zip(data.as_array().unwrap()) {
            assert_eq!(row[METER], reading["MeterParam"]);
            assert_eq!(row[2], reading["TimeStamping"].as_str().unwrap()[..16]);
            let shown = shown_number(&row[REGISTER]);
            assert!((shown - reading["value"].as_f64().unwrap()).abs() < 0.001, "{row:?}");
            // Thousands grouped, the unit written.
            assert!(row[REGISTER].starts_with("1,") && row[REGISTER].ends_with(" kWh"), "{row:?}");
            // The readings are of 2019: both meters went silent years ago.
            let meter = status["Meters"].as_array().unwrap().iter().find(|m| m["MeterId"] == row[METER]).unwrap();
            assert_eq!(meter["State"], "silent");
            let years = meter["AgeSeconds"].as_i64().unwrap() as f64 / (365.0 * 86_400.0);
            assert_eq!(row[STATE], format!("silent, last seen {} y ago", years.round()), "{row:?}");
        }
        let zone = browser.script("return document.getElementById('zone').textContent;", json!([])).await;
        assert_eq!(zone, "America/Toronto");

        // The first window: the last 24 hours as demand lines, cut from
        // the two days that hold them, up to the end of the latest hour.
        chart_shows(&browser, "type=line&quantity=demand&start=2019-11-05&end=2019-11-06").await;
        browser
            .wait_for("performance.getEntriesByName('first-chart').length > 0")
            .await;
        let first_chart = browser
            .script("return performance.getEntriesByName('first-chart')[0].startTime;", json!([]))
            .await;
        eprintln!("dashboard: first chart drawn {first_chart} ms after navigation (2 meters, a day)");
        let day = browser.canvas("#line-chart").await;
        assert!(day.count(FIRST) > 50, "the first point's line is drawn");
        assert!(day.count(SECOND) > 50, "the second point's line is drawn");
        browser
            .wait_for("document.getElementById('totals-window').textContent == 'the last 24 hours'")
            .await;
        let hours = parse(&app.get("/usage?start=2019-11-05&end=2019-11-06&interval=hour", &api).await);
        table_agrees_with_usage(&browser, &hours, |buckets| {
            let last = buckets.iter().rposition(|b| b["Intervals"].as_i64() > Some(0)).unwrap();
            buckets[last - 23..=last].to_vec()
        })
        .await;
        // 0.1 and 0.2 kWh every 5 minutes: 1.2 and 2.4 kW, at the pointer.
        let lines = readout_at(&browser, 600, 300).await;
        assert!(lines[0].starts_with("2019-11-0") && lines[0].contains(" EST"), "{lines:?}");
        assert!(lines.contains(&"meter01: 2.4 kW".to_owned()), "{lines:?}");
        assert!(lines.contains(&"meter00: 1.2 kW".to_owned()), "{lines:?}");
        browser.screenshot("2-last-24-hours.png").await;

        // Today: the whole local day, the canvas is /graphics' picture of
        // the same query.
        browser.click("#span-today").await;
        chart_shows(&browser, "quantity=demand&start=2019-11-06&end=2019-11-06").await;
        compare_with_graphics(&browser, &app, &api, "#line-chart").await;
        browser.wait_for("document.getElementById('totals-window').textContent == '2019-11-06'").await;
        let today = parse(&app.get("/usage?start=2019-11-06&end=2019-11-06&interval=day", &api).await);
        table_agrees_with_usage(&browser, &today, <[_]>::to_vec).await;
        // The day before beneath, faded, and in the readout.
        browser.click("#compare").await;
        let lines = loop {
            let lines = readout_at(&browser, 600, 300).await;
            if lines.iter().any(|l| l.contains("the day before")) {
                break lines;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(lines.contains(&"meter01, the day before: 2.4 kW".to_owned()), "{lines:?}");
        // Back to 2019-10-31: the day before holds meter00's spike of
        // 5 kWh in 5 minutes (60 kW), faded beneath the flat line.
        for _ in 0..6 {
            browser.click("#prev").await;
        }
        chart_shows(&browser, "quantity=demand&start=2019-10-31&end=2019-10-31").await;
        let faded = |c: (u8, u8, u8)| (c.0 / 2 + 128, c.1 / 2 + 128, c.2 / 2 + 128);
        let compared = loop {
            let image = browser.canvas("#line-chart").await;
            if image.count(faded(FIRST)) > 100 {
                break image;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        // The spike sets the axis: today's flat line is low on the chart.
        let tops: Vec<u32> = compared.tops(faded(FIRST)).into_iter().flatten().collect();
        let flat: Vec<u32> = compared.tops(FIRST).into_iter().flatten().collect();
        assert!(tops.iter().min() < flat.iter().min(), "the spike is above today's line");
        browser.screenshot("2b-compared-with-the-day-before.png").await;
        browser.click("#compare").await;
        browser.click("#span-today").await;

        // A week as daily columns from /usage; back one week and forward.
        browser.click("#span-week").await;
        chart_shows(&browser, "start=2019-10-31&end=2019-11-06&interval=day").await;
        browser.wait_for("document.getElementById('totals-window').textContent == '2019-10-31 – 2019-11-06'").await;
        let week = parse(&app.get("/usage?start=2019-10-31&end=2019-11-06&interval=day", &api).await);
        table_agrees_with_usage(&browser, &week, <[_]>::to_vec).await;
        let columns = browser.canvas("#line-chart").await;
        assert!(columns.count(FIRST) > 2000 && columns.count(SECOND) > 2000, "both meters stacked");
        let lines = readout_at(&browser, 300, 300).await;
        assert!(lines.iter().any(|l| l.starts_with("total: ") && l.ends_with(" kWh")), "{lines:?}");
        browser.screenshot("3-week.png").await;
        browser.click("#prev").await;
        chart_shows(&browser, "start=2019-10-24&end=2019-10-30&interval=day").await;
        browser.click("#next").await;
        chart_shows(&browser, "start=2019-10-31&end=2019-11-06").await;

        // The week before, for comparison: the last column (Wed 11-06)
        // names what Wed 10-30 used.
        browser.click("#compare").await;
        browser.wait_for("document.getElementById('compare').checked").await;
        let before = parse(&app.get("/usage?start=2019-10-24&end=2019-10-30&interval=day", &api).await);
        let wednesday: f64 = before["Meters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Buckets"][6]["Energy"].as_f64().unwrap())
            .sum();
        let width = browser.script("return document.getElementById('line-chart').width;", json!([])).await;
        let lines = loop {
            let lines = readout_at(&browser, width.as_i64().unwrap() - 170, 300).await;
            if lines.iter().any(|l| l.starts_with("the week before")) {
                break lines;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(lines[0].starts_with("Wed 2019-11-06"), "{lines:?}");
        let shown = lines.iter().find(|l| l.starts_with("the week before: ")).unwrap();
        let shown = shown_number(shown.trim_start_matches("the week before: "));
        assert!((shown - wednesday).abs() < wednesday * 0.005, "{lines:?} against {wednesday}");
        browser.screenshot("4-week-compared.png").await;
        browser.click("#compare").await;

        // A month of days and a year of months.
        browser.click("#span-month").await;
        chart_shows(&browser, "start=2019-11-01&end=2019-11-30&interval=day").await;
        browser.click("#span-year").await;
        chart_shows(&browser, "start=2018-12-01&end=2019-11-30&interval=month").await;
        let year = parse(&app.get("/usage?start=2018-12-01&end=2019-11-30&interval=month", &api).await);
        browser.wait_for("document.getElementById('totals-window').textContent == '2018-12-01 – 2019-11-30'").await;
        table_agrees_with_usage(&browser, &year, <[_]>::to_vec).await;
        let months = browser.canvas("#line-chart").await;
        assert!(months.count(FIRST) > 200, "the two months with data are drawn");
        browser.screenshot("5-year.png").await;

        // A custom range: two days are lines, a fortnight daily columns.
        let custom = |from: &'static str, to: &'static str| {
            let browser = &browser;
            async move {
                browser
                    .script(
                        "document.getElementById('custom-start').value = arguments[0]; \
                         document.getElementById('custom-end').value = arguments[1];",
                        json!([from, to]),
                    )
                    .await;
                browser.click("#span-custom").await;
            }
        };
        custom("2019-11-01", "2019-11-02").await;
        chart_shows(&browser, "quantity=demand&start=2019-11-01&end=2019-11-02").await;
        compare_with_graphics(&browser, &app, &api, "#line-chart").await;
        custom("2019-11-06", "2019-10-24").await;
        chart_shows(&browser, "start=2019-10-24&end=2019-11-06&interval=day").await;
        let pressed = browser.script("return document.getElementById('span-custom').getAttribute('aria-pressed');", json!([])).await;
        assert_eq!(pressed, "true");

        // The week of meter01 alone.
        browser.click("#span-week").await;
        browser.click("#meter option[value='meter01']").await;
        chart_shows(&browser, "start=2019-10-31&end=2019-11-06&interval=day").await;
        browser.wait_for("document.getElementById('line-chart').getAttribute('aria-label').startsWith('meter01: energy per day')").await;
        let alone = browser.canvas("#line-chart").await;
        assert!(alone.count(SECOND) > 2000, "meter01 is drawn");
        assert_eq!(alone.count(FIRST), 0, "only meter01");

        // The CSV link downloads what /file answers for that window.
        let href = browser
            .script("return document.getElementById('download-csv').href;", json!([]))
            .await;
        assert!(
            href.as_str().unwrap().ends_with("/file?start=2019-10-31&end=2019-11-06&meter=meter01&type=csv"),
            "{href}"
        );
        let downloaded = browser
            .script_async(
                "fetch(arguments[0]).then(r => r.text()).then(arguments[1]);",
                json!([href]),
            )
            .await;
        let file = app
            .get("/file?start=2019-10-31&end=2019-11-06&meter=meter01&type=csv", &api)
            .await;
        assert_eq!(file.status, 200);
        assert!(file.text().lines().count() > 1000);
        assert_eq!(downloaded.as_str().unwrap(), file.text());

        // Shares as bars: from the table's energies.
        browser.click("#shares-bar").await;
        browser.wait_for("document.getElementById('shares-chart').dataset.kind == 'bar'").await;
        let shares = browser.canvas("#shares-chart").await;
        assert!(shares.count(FIRST) > 500 && shares.count(SECOND) > 500, "both meters' shares");

        // Rename meter01 from the page (POST /point).
        browser.click("#rename-point option[value='meter01']").await;
        browser.type_into("#rename-new", "Main panel").await;
        browser.click("#rename-submit").await;
        browser
            .wait_for("[...document.querySelectorAll('#meters-body th')].some(th => th.textContent == 'Main panel')")
            .await;
        assert_eq!(app.get("/point?name=Main%20panel", &api).await.status, 200);
        // The chart follows the new name, and so does the meter select.
        browser.wait_for("document.getElementById('line-chart').getAttribute('aria-label').startsWith('Main panel: energy per day')").await;
        let selected = browser
            .script("return document.getElementById('meter').value;", json!([]))
            .await;
        assert_eq!(selected, "Main panel");
        browser.screenshot("6-renamed.png").await;

        // Phone width: nothing wider than the screen, no control cut off.
        browser
            .command("POST", "/session/window/rect", json!({"width": 390, "height": 1600}))
            .await;
        browser.click("#span-24h").await;
        browser
            .wait_for("document.getElementById('line-chart').width <= 390 && document.getElementById('line-chart').dataset.query.includes('start=2019-11-05')")
            .await;
        let overflow = browser
            .script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                json!([]),
            )
            .await;
        assert!(overflow.as_i64().unwrap() <= 0, "the page scrolls sideways by {overflow} px at 390 px");
        let cut = browser
            .script(
                "const width = document.documentElement.clientWidth; \
                 return [...document.querySelectorAll('button, select, input, a, canvas, h2, label')] \
                   .filter(e => e.offsetParent && !e.closest('.scroll')) \
                   .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > width; }) \
                   .map(e => e.id || e.textContent);",
                json!([]),
            )
            .await;
        assert_eq!(cut, json!([]), "cut off at 390 px");
        browser.screenshot("7-phone.png").await;
        browser.script("window.scrollTo(0, document.getElementById('meters').getBoundingClientRect().top + window.scrollY - 20);", json!([])).await;
        browser.screenshot("8-phone-table.png").await;

        // Dark mode: the page and the charts follow the system setting.
        browser
            .command("POST", "/session/window/rect", json!({"width": 1280, "height": 1800}))
            .await;
        browser.prefer_color_scheme("dark").await;
        browser.click("#span-week").await;
        browser.wait_for("document.getElementById('line-chart').width > 800").await;
        let background = browser.canvas("#line-chart").await;
        assert!(background.is(1, 1, (30, 32, 36)), "the chart is drawn dark");
        let page = browser.script("return getComputedStyle(document.documentElement).backgroundColor;", json!([])).await;
        assert_eq!(page, "rgb(19, 20, 23)");
        browser.screenshot("9-dark.png").await;
        browser.prefer_color_scheme("light").await;

        // The browser on this machine, over plain http to loopback, holds
        // the plain `session` cookie (SECURITY.md, "Session cookies"), still
        // HttpOnly and SameSite=Strict. Log out: it stops working.
        let cookies = browser.command("GET", "/session/cookie", json!({})).await;
        let stored = cookies
            .as_array()
            .unwrap()
            .iter()
            .find(|cookie| cookie["name"] == "session")
            .expect("the session cookie")
            .clone();
        assert_eq!((stored["httpOnly"].as_bool(), stored["secure"].as_bool()), (Some(true), Some(false)), "{stored}");
        assert_eq!(stored["sameSite"], "Strict", "{stored}");
        let session = stored["value"].as_str().unwrap().to_owned();
        let cookie = Auth::Cookie(format!("session={session}"));
        assert_eq!(app.get("/session", &cookie).await.status, 200);
        browser.click("#logout").await;
        browser.wait_for("!document.getElementById('login').hidden").await;
        assert_eq!(app.get("/session", &cookie).await.status, 401);
        // Nothing of the site stays on the page for the next person.
        let left = browser
            .script(
                "return [document.getElementById('meters-body').children.length, \
                         document.getElementById('meter').options.length, \
                         document.getElementById('rename-point').options.length, \
                         document.querySelectorAll('canvas[data-query]').length, \
                         document.getElementById('updated').textContent, \
                         document.getElementById('window').textContent, \
                         document.getElementById('zone').textContent, \
                         document.getElementById('totals-window').textContent, \
                         document.getElementById('chart-tip').hidden];",
                json!([]),
            )
            .await;
        assert_eq!(left, json!([0, 0, 0, 0, "", "", "", "", true]), "the site's data after logging out");
        // "Logged out." is news, not an error.
        let notice = browser
            .script(
                "const n = document.getElementById('login-notice'); \
                 return [n.textContent, n.getAttribute('role'), getComputedStyle(n).color, document.getElementById('login-error').textContent];",
                json!([]),
            )
            .await;
        assert_eq!(notice[0], "Logged out.");
        assert_eq!(notice[1], "status");
        assert_ne!(notice[2], "rgb(161, 42, 42)", "shown in the error colour");
        assert_eq!(notice[3], "");
        browser.screenshot("10-logged-out.png").await;

        // A meter reporting now and one that stopped three hours ago.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let now = now - now % 300;
        let recent: Vec<serde_json::Value> = (0..6)
            .flat_map(|i| {
                let (live, stopped) = (now - (5 - i) * 300, now - 3 * 3600 - (5 - i) * 300);
                [
                    json!({"MeterId": "live", "TimeStamping": test_host::client::rfc3339_utc(live), "value": 10.0 + i as f64}),
                    json!({"MeterId": "stopped", "TimeStamping": test_host::client::rfc3339_utc(stopped), "value": 20.0 + i as f64}),
                ]
            })
            .collect();
        let points: Vec<serde_json::Value> = ["live", "stopped"]
            .iter()
            .map(|name| json!({"MeterId": name, "SaveEvery": 5, "Unit": "kWh"}))
            .collect();
        ingest_body(&app, token, &json!({"points": points, "readings": recent}).to_string()).await;
        browser.log_in(&base, "dash", "password-1", None).await;
        browser
            .wait_for("document.querySelectorAll('#meters-body .badge').length == 4")
            .await;
        let rows = table(&browser).await;
        let state = |name: &str| rows.iter().find(|row| row[METER] == name).unwrap()[STATE].clone();
        assert_eq!(state("live"), "reporting");
        assert!(state("stopped").starts_with("silent, last seen 3 h ago"), "{rows:?}");
        browser.screenshot("11-badges.png").await;

        let errors = browser.console_errors().await;
        assert!(errors.is_empty(), "{} console errors, the first: {:?}", errors.len(), errors.first());

        // The session ends elsewhere (logged out everywhere): the next
        // request the page makes brings back the login form, saying why.
        let cookies = browser.command("GET", "/session/cookie", json!({})).await;
        let session = cookies.as_array().unwrap().iter().find(|c| c["name"] == "session").unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let ended = app
            .send("DELETE", "/session", &[("cookie", &format!("session={session}")), ("sec-fetch-site", "same-origin")], "")
            .await;
        assert_eq!(ended.status, 200, "{}", ended.text());
        browser.click("#span-month").await;
        browser.wait_for("!document.getElementById('login').hidden").await;
        let said = browser.script("return document.getElementById('login-error').textContent;", json!([])).await;
        assert_eq!(said, "Your session ended; log in again.");
        let left = browser.script("return document.getElementById('meters-body').children.length;", json!([])).await;
        assert_eq!(left, 0);

        let errors = browser.console_errors().await;
        assert!(
            errors.iter().all(|e| e.contains("401")),
            "console errors other than the ended session's 401s: {errors:?}"
        );
    })
    .await
}

/// `/series?quantity=demand`: each interval's energy over its duration in
/// the points' demand unit, checked against `/usage`'s peak; refused
/// where it does not apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_draws_demand_in_kilowatts() {
    within(async {
        let app = App::start().await;
        let site = app.provision("demand", "demand").await;
        let token = site["ingest_token"].as_str().unwrap();
        ingest_body(
            &app,
            token,
            &json!({"points": announced_points(), "readings": []}).to_string(),
        )
        .await;
        ingest(&app, token, readings(2, 2)).await;
        let api = app.log_in("demand", "password-1").await;
        let series = parse(
            &app.get(
                "/series?type=line&quantity=demand&start=2019-10-30&end=2019-10-30&width=16",
                &api,
            )
            .await,
        );
        assert_eq!(series["title"], "Demand");
        let line = &series["chart"]["data"];
        assert_eq!(line["value_label"], "kW");
        let usage = parse(
            &app.get("/usage?start=2019-10-30&end=2019-10-30", &api)
                .await,
        );
        for (drawn, used) in line["series"]
            .as_array()
            .unwrap()
            .iter()
            .zip(usage["Meters"].as_array().unwrap())
        {
            assert_eq!(drawn["name"], used["MeterId"]);
            let buckets = drawn["buckets"].as_array().unwrap();
            // 1,600 columns for 288 intervals: one interval per bucket.
            assert_eq!(buckets.len(), 288);
            let energy: f64 = buckets.iter().map(|b| b["total"].as_f64().unwrap()).sum();
            let used_energy = used["Total"]["Energy"].as_f64().unwrap();
            assert!(
                (energy - used_energy).abs() < 1e-6,
                "{energy} against {used_energy}"
            );
            let peak = buckets
                .iter()
                .map(|b| b["high"].as_f64().unwrap())
                .fold(0.0, f64::max);
            assert!((peak - used["Total"]["PeakDemand"].as_f64().unwrap()).abs() < 1e-6);
            for bucket in buckets {
                let hours = (bucket["end"].as_i64().unwrap() - bucket["start"].as_i64().unwrap())
                    as f64
                    / 3600.0;
                let demand = bucket["total"].as_f64().unwrap() / hours;
                assert!(
                    (bucket["high"].as_f64().unwrap() - demand).abs() < 1e-6,
                    "{bucket}"
                );
            }
        }
        // The same figure without the parameter is energy, as before.
        let energy = parse(
            &app.get(
                "/series?type=line&start=2019-10-30&end=2019-10-30&width=16",
                &api,
            )
            .await,
        );
        assert_eq!(energy["chart"]["data"]["value_label"], "kWh per interval");
        assert!(energy.to_string().len() > 1000 && energy != series);
        let png = app
            .get(
                "/graphics?type=line&quantity=demand&meter=meter00&start=2019-10-30",
                &api,
            )
            .await;
        assert_eq!(png.header("content-type"), Some("image/png"));
        for (query, error) in [
            ("quantity=demand", "quantity=demand draws lines"),
            (
                "type=line&quantity=demand&start=2019-10-01&end=2019-10-31",
                "at most 4 days",
            ),
            (
                "type=line&quantity=power",
                "quantity must be energy or demand",
            ),
        ] {
            assert_error(
                &app.get(&format!("/series?{query}"), &api).await,
                400,
                error,
            );
        }
    })
    .await
}

/// The canvas `css` and `/graphics` of its query draw the same series at
/// the same places of their plots. The page's labels are larger than the
/// PNG's (`Theme::smallest_text`), so the plots differ in place and size:
/// each is found by its axes and top grid line, and in most of the PNG's
/// pixel columns the highest pixel of each point's colour is within 2 % of
/// the plot's height of the canvas' at the same share of the width.
async fn compare_with_graphics(browser: &Browser, app: &App, api: &Auth, css: &str) {
    let query = browser
        .script(
            "return document.querySelector(arguments[0]).dataset.query;",
            json!([css]),
        )
        .await;
    let query = query.as_str().unwrap();
    let canvas = browser.canvas(css).await;
    let response = app.get(&format!("/graphics?{query}"), api).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let png = Image::decode(&response.body);
    if std::env::var_os("DASHBOARD_DUMP").is_some() {
        let url = browser
            .script(
                "return document.querySelector(arguments[0]).toDataURL('image/png');",
                json!([css]),
            )
            .await;
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/dashboard-screenshots");
        std::fs::write(
            dir.join("compare-canvas.png"),
            base64(url.as_str().unwrap().split_once(',').unwrap().1),
        )
        .unwrap();
        std::fs::write(dir.join("compare-graphics.png"), &response.body).unwrap();
    }
    assert_eq!(
        (canvas.width, canvas.height),
        (png.width, png.height),
        "{query}"
    );
    let (canvas_plot, png_plot) = (plot_of(&canvas), plot_of(&png));
    for color in [FIRST, SECOND] {
        let (a, b) = (canvas.tops(color), png.tops(color));
        let columns = (png_plot.0..png_plot.2)
            .filter(|&x| b[x as usize].is_some())
            .count();
        if columns == 0 {
            assert_eq!(canvas.count(color), 0, "{query}");
            continue;
        }
        let height = |plot: (u32, u32, u32, u32), top: u32| {
            f64::from(plot.3 as i32 - top as i32) / f64::from(plot.3 - plot.1)
        };
        let agree = (png_plot.0..png_plot.2)
            .filter(|&x| {
                let Some(top) = b[x as usize] else {
                    return false;
                };
                let share = f64::from(x - png_plot.0) / f64::from(png_plot.2 - png_plot.0);
                let cx = canvas_plot.0 as f64 + share * f64::from(canvas_plot.2 - canvas_plot.0);
                // The canvas column at that share, or one beside it.
                [cx.floor(), cx.ceil(), cx.floor() - 1.0, cx.ceil() + 1.0]
                    .iter()
                    .any(|&cx| {
                        a.get(cx as usize).copied().flatten().is_some_and(|ctop| {
                            (height(canvas_plot, ctop) - height(png_plot, top)).abs() <= 0.02
                        })
                    })
            })
            .count();
        assert!(
            agree * 10 >= columns * 9,
            "{css} {query}: {agree} of {columns} columns agree"
        );
    }
}

/// A plot's left, top, right and bottom: its y axis (the column with the
/// most axis-coloured pixels), its x axis (the row with the most), where
/// that ends, and the top grid line (the highest row mostly of grid colour).
fn plot_of(image: &Image) -> (u32, u32, u32, u32) {
    const AXIS: (u8, u8, u8) = (160, 160, 170);
    const GRID: (u8, u8, u8) = (225, 225, 230);
    let column_counts =
        (0..image.width).map(|x| (0..image.height).filter(|&y| image.is(x, y, AXIS)).count());
    let left = column_counts.enumerate().max_by_key(|(_, n)| *n).unwrap().0 as u32;
    let row_counts =
        (0..image.height).map(|y| (0..image.width).filter(|&x| image.is(x, y, AXIS)).count());
    let bottom = row_counts.enumerate().max_by_key(|(_, n)| *n).unwrap().0 as u32;
    let right = (0..image.width)
        .rev()
        .find(|&x| image.is(x, bottom, AXIS))
        .unwrap();
    let top = (0..bottom)
        .find(|&y| {
            (left..right).filter(|&x| image.is(x, y, GRID)).count() as u32 > (right - left) / 2
        })
        .unwrap_or(0);
    (left, top, right, bottom)
}

/// Everything on the page can be reached and worked with the keyboard
/// alone, with a visible focus ring: logging in, the window buttons, the
/// downloads, renaming and logging out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_works_from_the_keyboard() {
    within(async {
        let Some(browser) = Browser::start(1280, 1800).await else {
            return;
        };
        let app = App::start().await;
        let site = app.provision("keys", "keys").await;
        ingest(&app, site["ingest_token"].as_str().unwrap(), readings(2, 2)).await;
        browser.goto(&format!("{}/", app.base_url())).await;
        browser.wait_for("!document.getElementById('login').hidden").await;
        // The form has the focus: type, Tab, type, Enter.
        assert_eq!(browser.focused().await, "username");
        let mut keys: Vec<&str> = vec![];
        let (username, password): (Vec<String>, Vec<String>) = (
            "keys".chars().map(String::from).collect(),
            "password-1".chars().map(String::from).collect(),
        );
        keys.extend(username.iter().map(String::as_str));
        keys.push(TAB);
        keys.extend(password.iter().map(String::as_str));
        keys.push(ENTER);
        browser.press(&keys).await;
        browser
            .wait_for("document.querySelectorAll('#meters-body tr').length == 2")
            .await;
        browser
            .wait_for("document.getElementById('line-chart').dataset.query")
            .await;

        // Tab from the top of the page through everything, once round.
        browser
            .script("document.activeElement.blur(); window.focus();", json!([]))
            .await;
        let mut order = Vec::new();
        for _ in 0..60 {
            browser.press(&[TAB]).await;
            let id = browser.focused().await;
            // A date input takes a Tab per field (day, month, year).
            if order.last() == Some(&id) {
                continue;
            }
            if order.contains(&id) {
                break;
            }
            let ring = browser
                .script(
                    "return getComputedStyle(document.activeElement).outlineStyle;",
                    json!([]),
                )
                .await;
            if !id.is_empty() {
                assert_ne!(ring, "none", "#{id} shows no focus ring");
            }
            order.push(id);
        }
        for id in [
            "logout",
            "span-24h",
            "span-today",
            "span-week",
            "span-month",
            "span-year",
            "prev",
            "meter",
            "compare",
            "custom-start",
            "custom-end",
            "span-custom",
            "line-chart",
            "shares-pie",
            "shares-bar",
            "download-csv",
            "download-json",
            "download-xml",
            "download-yaml",
            "rename-point",
            "rename-new",
            "rename-submit",
        ] {
            assert!(order.iter().any(|seen| seen == id), "#{id} is not reachable with Tab: {order:?}");
        }

        // Buttons answer Enter and Space.
        browser.script("document.getElementById('span-week').focus();", json!([])).await;
        browser.press(&[ENTER]).await;
        browser
            .wait_for("document.getElementById('span-week').getAttribute('aria-pressed') == 'true' && document.getElementById('line-chart').dataset.query.includes('start=2019-10-26&end=2019-11-01')")
            .await;
        browser.script("document.getElementById('shares-bar').focus();", json!([])).await;
        browser.press(&[SPACE]).await;
        browser
            .wait_for("document.getElementById('shares-chart').dataset.kind == 'bar'")
            .await;
        // The chart's values from the keyboard: focus it, arrow along.
        browser.script("document.getElementById('line-chart').focus();", json!([])).await;
        browser.press(&[ARROW_RIGHT]).await;
        browser.wait_for("!document.getElementById('chart-tip').hidden").await;
        let first = browser.script("return document.getElementById('chart-tip').firstChild.textContent;", json!([])).await;
        assert!(first.as_str().unwrap().starts_with("Sat 2019-10-26"), "{first}");
        browser.press(&[ARROW_RIGHT, ARROW_RIGHT]).await;
        let third = browser.script("return document.getElementById('chart-tip').firstChild.textContent;", json!([])).await;
        assert!(third.as_str().unwrap().starts_with("Mon 2019-10-28"), "{third}");
        browser.press(&[ESCAPE]).await;
        browser.wait_for("document.getElementById('chart-tip').hidden").await;

        // Rename from the keyboard: the select takes a typed name.
        browser.script("document.getElementById('rename-point').focus();", json!([])).await;
        let mut keys: Vec<&str> = vec!["m", "e", "t", "e", "r", "0", "1", TAB];
        let new_name: Vec<String> = "Boiler".chars().map(String::from).collect();
        keys.extend(new_name.iter().map(String::as_str));
        keys.push(ENTER);
        browser.press(&keys).await;
        browser
            .wait_for("[...document.querySelectorAll('#meters-body th')].some(th => th.textContent == 'Boiler')")
            .await;
        let api = app.log_in("keys", "password-1").await;
        assert_eq!(app.get("/point?name=Boiler", &api).await.status, 200);

        browser.script("document.getElementById('logout').focus();", json!([])).await;
        browser.press(&[ENTER]).await;
        browser.wait_for("!document.getElementById('login').hidden").await;

        let errors = browser.console_errors().await;
        assert!(errors.is_empty(), "{} console errors, the first: {:?}", errors.len(), errors.first());
    })
    .await
}
