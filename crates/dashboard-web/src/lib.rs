//! The browser dashboard: a login form, then the site's meters (`/data`,
//! `/interval`, polled every 30 s), a line chart that pans across days,
//! weeks and years, pie/bar of the same window, `/file` downloads, renaming
//! (`POST /point`) and logging out. Charts come from `/series` as a
//! `charts::Figure` and are drawn on a canvas with the same chart crate as
//! `/graphics` (plotters' canvas backend instead of its bitmap one).
//!
//! Every text from the server goes into the page as text (`textContent`,
//! option values), never as HTML. Web-only: on other targets the crate is
//! empty, so `cargo clippy --workspace` on the host passes over it (tests/run
//! also runs clippy for wasm32-unknown-unknown).

#![cfg(target_arch = "wasm32")]

mod canvas;
mod days;

use canvas::CanvasText;
use days::Day;
use plotters::prelude::*;
use serde_json::Value as Json;
use std::cell::RefCell;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{
    Document, Event, HtmlAnchorElement, HtmlCanvasElement, HtmlElement, HtmlInputElement,
    HtmlSelectElement, Request, RequestInit, Response,
};

/// How often the meters table and the charts are refreshed.
const POLL_MS: i32 = 30_000;
/// Remembers across reloads that a session cookie was set (the cookie is
/// HttpOnly): without it the page shows the login form without asking
/// `/session`, so a logged-out visit makes no failing request.
const LOGGED_IN_KEY: &str = "intellimeter-logged-in";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    Day,
    Week,
    Year,
}

impl Span {
    fn days(self) -> i64 {
        match self {
            Span::Day => 1,
            Span::Week => 7,
            Span::Year => 365,
        }
    }
}

struct State {
    span: Span,
    /// Windows back from the latest: 0 is the window ending on `latest`.
    back: i64,
    /// The local day of the latest reading (from `/data`).
    latest: Option<Day>,
    /// `None`: every point.
    meter: Option<String>,
    shares: &'static str,
    first_chart_done: bool,
    poll_started: bool,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State {
        span: Span::Day,
        back: 0,
        latest: None,
        meter: None,
        shares: "pie",
        first_chart_done: false,
        poll_started: false,
    }) };
}

fn document() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

fn by_id<T: JsCast>(id: &str) -> T {
    document()
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("#{id} is missing from index.html"))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("#{id} has the wrong element type"))
}

fn set_text(id: &str, text: &str) {
    by_id::<HtmlElement>(id).set_text_content(Some(text));
}

fn show(id: &str, visible: bool) {
    by_id::<HtmlElement>(id).set_hidden(!visible);
}

fn mark(name: &str) {
    if let Some(performance) = web_sys::window().unwrap().performance() {
        let _ = performance.mark(name);
    }
}

/// A same-origin request; `form` is sent urlencoded. Answers status and body.
async fn fetch(
    method: &str,
    url: &str,
    body: Option<(&str, String)>,
) -> Result<(u16, String), String> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some((_, body)) = &body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(describe)?;
    request
        .headers()
        .set("Accept", "application/json")
        .map_err(describe)?;
    if let Some((content_type, _)) = &body {
        request
            .headers()
            .set("Content-Type", content_type)
            .map_err(describe)?;
    }
    let window = web_sys::window().unwrap();
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(describe)?
        .dyn_into()
        .map_err(describe)?;
    let text = JsFuture::from(response.text().map_err(describe)?)
        .await
        .map_err(describe)?
        .as_string()
        .unwrap_or_default();
    Ok((response.status(), text))
}

fn describe(error: JsValue) -> String {
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

/// The `error` of an API error body, or the status.
fn error_text(status: u16, body: &str) -> String {
    serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|json| json["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("the server answered {status}"))
}

fn form(pairs: &[(&str, &str)]) -> (&'static str, String) {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{name}={}",
                String::from(js_sys::encode_uri_component(value))
            )
        })
        .collect();
    ("application/x-www-form-urlencoded", encoded.join("&"))
}

fn on(id: &str, event: &str, handler: impl FnMut(Event) + 'static) {
    let closure = Closure::<dyn FnMut(Event)>::new(handler);
    by_id::<HtmlElement>(id)
        .add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())
        .unwrap();
    closure.forget();
}

#[wasm_bindgen(start)]
pub fn start() {
    on("login-form", "submit", |event| {
        event.prevent_default();
        spawn_local(log_in());
    });
    on("logout", "click", |_| spawn_local(log_out()));
    for (id, span) in [
        ("span-day", Span::Day),
        ("span-week", Span::Week),
        ("span-year", Span::Year),
    ] {
        on(id, "click", move |_| {
            mark("redraw-start");
            STATE.with_borrow_mut(|state| {
                state.span = span;
                state.back = 0;
            });
            spawn_local(redraw());
        });
    }
    on("prev", "click", |_| {
        mark("redraw-start");
        STATE.with_borrow_mut(|state| state.back += 1);
        spawn_local(redraw());
    });
    on("next", "click", |_| {
        mark("redraw-start");
        STATE.with_borrow_mut(|state| state.back = (state.back - 1).max(0));
        spawn_local(redraw());
    });
    on("meter", "change", |_| {
        mark("redraw-start");
        let value = by_id::<HtmlSelectElement>("meter").value();
        STATE.with_borrow_mut(|state| state.meter = (!value.is_empty()).then_some(value));
        spawn_local(redraw());
    });
    for (id, kind) in [("shares-pie", "pie"), ("shares-bar", "bar")] {
        on(id, "click", move |_| {
            STATE.with_borrow_mut(|state| state.shares = kind);
            spawn_local(redraw());
        });
    }
    on("rename-form", "submit", |event| {
        event.prevent_default();
        spawn_local(rename());
    });
    let storage = web_sys::window().unwrap().local_storage().ok().flatten();
    let remembered = storage
        .and_then(|storage| storage.get_item(LOGGED_IN_KEY).ok().flatten())
        .is_some();
    if remembered {
        spawn_local(open_session());
    } else {
        show_login(None);
    }
}

fn remember(logged_in: bool) {
    if let Some(storage) = web_sys::window().unwrap().local_storage().ok().flatten() {
        let _ = if logged_in {
            storage.set_item(LOGGED_IN_KEY, "1")
        } else {
            storage.remove_item(LOGGED_IN_KEY)
        };
    }
}

fn show_login(message: Option<&str>) {
    remember(false);
    show("app", false);
    show("logout", false);
    set_text("who", "");
    forget_site();
    show("login", true);
    set_text("login-error", message.unwrap_or(""));
    let _ = by_id::<HtmlElement>("username").focus();
}

/// Takes the site's data off the page (after logging out, or when the
/// session ended): the table, the selects, the charts, the window and the
/// status line, and the page's memory of them. The next user of the
/// browser sees none of it.
fn forget_site() {
    by_id::<HtmlElement>("meters-body").set_text_content(None);
    for id in ["meter", "rename-point"] {
        by_id::<HtmlSelectElement>(id).set_text_content(None);
    }
    for id in ["line-chart", "shares-chart"] {
        let canvas = by_id::<HtmlCanvasElement>(id);
        // Setting a size clears a canvas.
        canvas.set_width(canvas.width());
        let _ = canvas.remove_attribute("data-query");
    }
    for id in ["updated", "window", "status"] {
        set_text(id, "");
    }
    by_id::<HtmlInputElement>("rename-new").set_value("");
    STATE.with_borrow_mut(|state| {
        state.back = 0;
        state.latest = None;
        state.meter = None;
    });
}

async fn log_in() {
    let username = by_id::<HtmlInputElement>("username").value();
    let password = by_id::<HtmlInputElement>("password").value();
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    match fetch("PUT", "/session", Some(("application/json", body))).await {
        Ok((200, _)) => {
            by_id::<HtmlInputElement>("password").set_value("");
            remember(true);
            open_session().await;
        }
        Ok((status, body)) => set_text("login-error", &error_text(status, &body)),
        Err(error) => set_text("login-error", &error),
    }
}

async fn log_out() {
    let _ = fetch("DELETE", "/session", None).await;
    show_login(Some("Logged out."));
}

/// Shows the site for the session, or the login form when there is none.
async fn open_session() {
    match fetch("GET", "/session", None).await {
        Ok((200, body)) => {
            let account: Json = serde_json::from_str(&body).unwrap_or_default();
            set_text(
                "who",
                &format!(
                    "{} — {}",
                    account["project_name"].as_str().unwrap_or(""),
                    account["username"].as_str().unwrap_or("")
                ),
            );
            show("login", false);
            show("app", true);
            show("logout", true);
            refresh_meters().await;
            redraw().await;
            start_polling();
        }
        Ok(_) => show_login(None),
        Err(error) => show_login(Some(&error)),
    }
}

fn start_polling() {
    if STATE.with_borrow_mut(|state| std::mem::replace(&mut state.poll_started, true)) {
        return;
    }
    // The charts follow the table: a window that ends at the latest
    // reading moves on with it.
    let closure = Closure::<dyn FnMut()>::new(|| {
        if !by_id::<HtmlElement>("app").hidden() {
            spawn_local(async {
                refresh_meters().await;
                if !by_id::<HtmlElement>("app").hidden() {
                    redraw().await;
                }
            });
        }
    });
    web_sys::window()
        .unwrap()
        .set_interval_with_callback_and_timeout_and_arguments_0(
            closure.as_ref().unchecked_ref(),
            POLL_MS,
        )
        .unwrap();
    closure.forget();
}

/// A failure, in the page's error colour, for the screen reader too.
fn status(message: &str) {
    set_text("status", message);
    let _ = by_id::<HtmlElement>("status").class_list().add_1("error");
}

/// A success (in the same live region, not in the error colour).
fn notice(message: &str) {
    set_text("status", message);
    let _ = by_id::<HtmlElement>("status")
        .class_list()
        .remove_1("error");
}

/// Says why a request did not answer 200: a lost session shows the login
/// form, anything else the server's error.
fn failed(outcome: Result<(u16, String), String>) {
    match outcome {
        Ok((401, _)) => show_login(Some("Your session ended; log in again.")),
        Ok((code, body)) => status(&error_text(code, &body)),
        Err(error) => status(&error),
    }
}

/// The meters table, the meter and rename selects, from `/data` and
/// `/interval`.
async fn refresh_meters() {
    let data = match fetch("GET", "/data", None).await {
        Ok((200, body)) => body,
        other => return failed(other),
    };
    let interval = match fetch("GET", "/interval", None).await {
        Ok((200, body)) => body,
        other => return failed(other),
    };
    let data: Vec<Json> = serde_json::from_str(&data).unwrap_or_default();
    let interval: Vec<Json> = serde_json::from_str(&interval).unwrap_or_default();
    let document = document();
    let body = by_id::<HtmlElement>("meters-body");
    body.set_text_content(None);
    let mut latest: Option<Day> = None;
    let mut names = Vec::new();
    for reading in &data {
        let name = reading["MeterParam"].as_str().unwrap_or_default();
        let time = reading["TimeStamping"].as_str().unwrap_or_default();
        let last = interval
            .iter()
            .find(|row| row["MeterParam"].as_str() == Some(name))
            .and_then(|row| row["value"].as_f64());
        let row = document.create_element("tr").unwrap();
        let th = document.create_element("th").unwrap();
        th.set_attribute("scope", "row").unwrap();
        th.set_text_content(Some(name));
        row.append_child(&th).unwrap();
        for cell in [
            time.to_owned(),
            reading["value"].as_f64().map(number).unwrap_or_default(),
            last.map(number).unwrap_or_else(|| "—".to_owned()),
        ] {
            let td = document.create_element("td").unwrap();
            td.set_text_content(Some(&cell));
            row.append_child(&td).unwrap();
        }
        body.append_child(&row).unwrap();
        if let Some(day) = Day::parse(time) {
            latest = latest.max(Some(day));
        }
        names.push(name.to_owned());
    }
    names.sort();
    let meter = STATE.with_borrow(|state| state.meter.clone().unwrap_or_default());
    fill_select("meter", "All meters", &names, &meter);
    let renaming = by_id::<HtmlSelectElement>("rename-point").value();
    fill_select("rename-point", "", &names, &renaming);
    set_text("updated", &format!("{} meters", names.len()));
    STATE.with_borrow_mut(|state| {
        if state.latest.is_none() || latest > state.latest {
            state.latest = latest;
        }
    });
}

fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Replaces the options of a select and selects `kept` when it is there.
fn fill_select(id: &str, all: &str, names: &[String], kept: &str) {
    let select = by_id::<HtmlSelectElement>(id);
    select.set_text_content(None);
    let document = document();
    let mut options: Vec<(String, String)> = Vec::new();
    if !all.is_empty() {
        options.push((String::new(), all.to_owned()));
    }
    options.extend(names.iter().map(|name| (name.clone(), name.clone())));
    for (value, label) in options {
        let option = document.create_element("option").unwrap();
        option.set_attribute("value", &value).unwrap();
        option.set_text_content(Some(&label));
        select.append_child(&option).unwrap();
    }
    if kept.is_empty() || names.iter().any(|name| name == kept) {
        select.set_value(kept);
    }
}

/// The window's local days, first and last, and its label.
fn window_days(state: &State) -> Option<(Day, Day)> {
    let latest = state.latest?;
    let last = latest.add(-state.back * state.span.days());
    Some((last.add(1 - state.span.days()), last))
}

/// Both charts and the download links for the current window.
async fn redraw() {
    let (query, shares, meter) = STATE.with_borrow(|state| {
        let days = window_days(state);
        let mut query = match days {
            Some((first, last)) => format!("start={first}&end={last}"),
            None => String::new(),
        };
        if let Some(meter) = &state.meter {
            query.push_str(&format!(
                "&meter={}",
                String::from(js_sys::encode_uri_component(meter))
            ));
        }
        (query, state.shares, state.meter.clone())
    });
    set_text(
        "window",
        &STATE.with_borrow(|state| match window_days(state) {
            Some((first, last)) if first == last => first.to_string(),
            Some((first, last)) => format!("{first} – {last}"),
            None => "the last 24 hours".to_owned(),
        }),
    );
    by_id::<HtmlElement>("next")
        .toggle_attribute_with_force("disabled", STATE.with_borrow(|s| s.back == 0))
        .unwrap();
    for (id, span) in [
        ("span-day", Span::Day),
        ("span-week", Span::Week),
        ("span-year", Span::Year),
    ] {
        let pressed = STATE.with_borrow(|state| state.span == span);
        by_id::<HtmlElement>(id)
            .set_attribute("aria-pressed", if pressed { "true" } else { "false" })
            .unwrap();
    }
    for (id, kind) in [("shares-pie", "pie"), ("shares-bar", "bar")] {
        by_id::<HtmlElement>(id)
            .set_attribute(
                "aria-pressed",
                if kind == shares { "true" } else { "false" },
            )
            .unwrap();
    }
    for format in ["csv", "json", "xml", "yaml"] {
        let link = by_id::<HtmlAnchorElement>(&format!("download-{format}"));
        let file_query = if query.is_empty() {
            String::new()
        } else {
            format!("{query}&")
        };
        link.set_href(&format!("/file?{file_query}type={format}"));
    }
    let line_query = format!("type=line&{query}");
    // With a meter the line chart is that meter's; the shares are of every point.
    let shares_query = match &meter {
        Some(_) => format!(
            "type={shares}&{}",
            query.split("&meter=").next().unwrap_or("")
        ),
        None => format!("type={shares}&{query}"),
    };
    let drawn_line = draw("line-chart", &line_query).await;
    if drawn_line {
        mark("redraw-end");
        let performance = web_sys::window().unwrap().performance().unwrap();
        if performance.get_entries_by_name("redraw-start").length() > 0 {
            let _ = performance.measure_with_start_mark_and_end_mark(
                "redraw",
                "redraw-start",
                "redraw-end",
            );
        }
        STATE.with_borrow_mut(|state| {
            if !state.first_chart_done {
                state.first_chart_done = true;
                mark("first-chart");
            }
        });
    }
    draw("shares-chart", &shares_query).await;
}

/// Fetches `/series?{query}` sized for the canvas and draws it. Whether it
/// was drawn.
async fn draw(canvas_id: &str, query: &str) -> bool {
    let canvas = by_id::<HtmlCanvasElement>(canvas_id);
    let parent_width = canvas
        .parent_element()
        .map(|parent| parent.client_width())
        .unwrap_or(800)
        .clamp(200, 4000);
    let width = parent_width as u32;
    // 16:9, but never taller than a laptop screen can show with the
    // controls; the pie and bar need less.
    let tallest = if canvas_id == "line-chart" { 560 } else { 400 };
    let height = ((width * 9) / 16).clamp(200, tallest);
    let query = format!(
        "{query}&width={}&height={}",
        f64::from(width) / 100.0,
        f64::from(height) / 100.0
    );
    // Where the time goes, on the canvas for the benchmark to read.
    let now = || web_sys::window().unwrap().performance().unwrap().now();
    let started = now();
    let body = match fetch("GET", &format!("/series?{query}"), None).await {
        Ok((200, body)) => body,
        other => {
            failed(other);
            return false;
        }
    };
    let fetched = now();
    let figure = match serde_json::from_str::<charts::Figure>(&body) {
        Ok(figure) => figure,
        Err(error) => {
            status(&format!("unreadable chart: {error}"));
            return false;
        }
    };
    let parsed = now();
    canvas.set_width(width);
    canvas.set_height(height);
    canvas.set_attribute("data-query", &query).unwrap();
    let Some(backend) = CanvasText::new(canvas.clone()) else {
        status("this browser cannot draw on a canvas");
        return false;
    };
    let area = backend.into_drawing_area();
    let result = charts::draw(&area, &figure).and_then(|()| area.present().map_err(Into::into));
    match result {
        Ok(()) => {
            canvas
                .set_attribute(
                    "aria-label",
                    &format!("{}: {}", figure.title, figure.subtitle),
                )
                .unwrap();
            let timing = format!(
                "fetch {:.1} ms ({} bytes), parse {:.1} ms, draw {:.1} ms",
                fetched - started,
                body.len(),
                parsed - fetched,
                now() - parsed
            );
            canvas.set_attribute("data-timing", &timing).unwrap();
            true
        }
        Err(error) => {
            status(&error.to_string());
            false
        }
    }
}

async fn rename() {
    let name = by_id::<HtmlSelectElement>("rename-point").value();
    let new = by_id::<HtmlInputElement>("rename-new").value();
    match fetch(
        "POST",
        "/point",
        Some(form(&[("name", &name), ("new", new.trim())])),
    )
    .await
    {
        Ok((200, _)) => {
            by_id::<HtmlInputElement>("rename-new").set_value("");
            notice(&format!("{name} is now {}", new.trim()));
            STATE.with_borrow_mut(|state| {
                if state.meter.as_deref() == Some(name.as_str()) {
                    state.meter = Some(new.trim().to_owned());
                }
            });
            refresh_meters().await;
            // The renamed meter stays selected, under its new name.
            by_id::<HtmlSelectElement>("rename-point").set_value(new.trim());
            redraw().await;
        }
        Ok((status, body)) => self::status(&error_text(status, &body)),
        Err(error) => status(&error),
    }
}
