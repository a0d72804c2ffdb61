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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_reads_the_site_in_a_browser() {
    within(async {
        let Some(browser) = Browser::start(1280, 1800).await else {
            return;
        };
        let app = App::start().await;
        let site = app.provision("dashboard", "dash").await;
        let token = site["ingest_token"].as_str().unwrap();
        ingest(&app, token, readings(2, 8)).await;
        let api = app.log_in("dash", "password-1").await;
        let base = app.base_url();

        browser.log_in(&base, "dash", "password-1", Some("1-login.png")).await;

        // The meters table shows /data and /interval.
        browser
            .wait_for("document.querySelectorAll('#meters-body tr').length == 2")
            .await;
        let rows = browser
            .script(
                "return [...document.querySelectorAll('#meters-body tr')].map(r => [...r.cells].map(c => c.textContent));",
                json!([]),
            )
            .await;
        let data = parse(&app.get("/data", &api).await);
        for (row, reading) in rows.as_array().unwrap().iter().zip(data.as_array().unwrap()) {
            assert_eq!(row[0], reading["MeterParam"]);
            assert_eq!(row[1], reading["TimeStamping"]);
            let shown: f64 = row[2].as_str().unwrap().parse().unwrap();
            assert!((shown - reading["value"].as_f64().unwrap()).abs() < 0.001, "{row}");
        }

        // The day chart: drawn, the spike of meter00 at noon of the first
        // day is not in the last day's window; the line is there.
        browser
            .wait_for("document.getElementById('line-chart').dataset.query")
            .await;
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
        browser.screenshot("2-day.png").await;

        // The canvas is the /graphics PNG of the same query: the series
        // are drawn at the same places (text may differ: canvas fonts).
        compare_with_graphics(&browser, &app, &api, "#line-chart").await;
        compare_with_graphics(&browser, &app, &api, "#shares-chart").await;

        // A week, back one week, then meter01 alone.
        browser.click("#span-week").await;
        browser
            .wait_for("document.getElementById('line-chart').dataset.query.includes('start=2019-10-31&end=2019-11-06')")
            .await;
        let week = browser.canvas("#line-chart").await;
        assert!(week.count(FIRST) > 50);
        browser.click("#prev").await;
        browser
            .wait_for("document.getElementById('line-chart').dataset.query.includes('start=2019-10-24&end=2019-10-30')")
            .await;
        let earlier = browser.canvas("#line-chart").await;
        let tops: Vec<u32> = earlier.tops(FIRST).into_iter().flatten().collect();
        assert!(!tops.is_empty(), "the first day is at the end of the earlier week");
        browser.click("#next").await;
        browser
            .wait_for("document.getElementById('line-chart').dataset.query.includes('start=2019-10-31')")
            .await;
        browser.click("#meter option[value='meter01']").await;
        browser
            .wait_for("document.getElementById('line-chart').dataset.query.includes('meter=meter01')")
            .await;
        let alone = browser.canvas("#line-chart").await;
        assert!(alone.count(SECOND) > 50, "meter01 is drawn");
        assert_eq!(alone.count(FIRST), 0, "only meter01");
        compare_with_graphics(&browser, &app, &api, "#line-chart").await;
        browser.screenshot("3-week-meter01.png").await;

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

        // Rename meter01 from the page (POST /point).
        browser.click("#rename-point option[value='meter01']").await;
        browser.type_into("#rename-new", "Main panel").await;
        browser.click("#rename-submit").await;
        browser
            .wait_for("[...document.querySelectorAll('#meters-body th')].some(th => th.textContent == 'Main panel')")
            .await;
        assert_eq!(app.get("/point?name=Main%20panel", &api).await.status, 200);
        // The chart follows the new name, and so does the meter select.
        browser
            .wait_for("document.getElementById('line-chart').dataset.query.includes('meter=Main%20panel')")
            .await;
        let selected = browser
            .script("return document.getElementById('meter').value;", json!([]))
            .await;
        assert_eq!(selected, "Main panel");
        browser.screenshot("4-renamed.png").await;

        // Phone width: nothing wider than the screen.
        browser
            .command("POST", "/session/window/rect", json!({"width": 375, "height": 1400}))
            .await;
        browser.click("#span-day").await;
        browser
            .wait_for("document.getElementById('line-chart').width <= 375")
            .await;
        let overflow = browser
            .script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                json!([]),
            )
            .await;
        assert!(overflow.as_i64().unwrap() <= 0, "the page scrolls sideways by {overflow} px at 375 px");
        browser.screenshot("5-phone.png").await;

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
                         document.getElementById('window').textContent];",
                json!([]),
            )
            .await;
        assert_eq!(left, json!([0, 0, 0, 0, "", ""]), "the site's data after logging out");
        browser.screenshot("6-logged-out.png").await;

        let errors = browser.console_errors().await;
        assert!(errors.is_empty(), "{} console errors, the first: {:?}", errors.len(), errors.first());
    })
    .await
}

/// The canvas `css` and `/graphics` of its query agree where the series
/// are: in most pixel columns, the highest pixel of each point's colour is
/// within 2 pixels.
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
    assert_eq!(
        (canvas.width, canvas.height),
        (png.width, png.height),
        "{query}"
    );
    for color in [FIRST, SECOND] {
        let (a, b) = (canvas.tops(color), png.tops(color));
        let columns = b.iter().filter(|top| top.is_some()).count();
        if columns == 0 {
            assert_eq!(canvas.count(color), 0, "{query}");
            continue;
        }
        let agree = a
            .iter()
            .zip(&b)
            .filter(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => a.abs_diff(*b) <= 2,
                _ => false,
            })
            .count();
        assert!(
            agree * 10 >= columns * 9,
            "{css} {query}: {agree} of {columns} columns agree"
        );
    }
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
        for _ in 0..40 {
            browser.press(&[TAB]).await;
            let id = browser.focused().await;
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
            "meter",
            "span-day",
            "span-week",
            "span-year",
            "prev",
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
            .wait_for("document.getElementById('shares-chart').dataset.query.startsWith('type=bar')")
            .await;

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
