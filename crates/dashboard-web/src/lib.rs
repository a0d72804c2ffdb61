//! The browser dashboard: a login form, then the site's meters (state,
//! latest reading, and the shown window's energy and peak demand: the
//! table) and the window's chart: the last 24 hours or a day as demand
//! lines (`/series?quantity=demand`), a week or month as daily columns, a
//! year as monthly columns (`/usage`), or a custom range of days; a pie or
//! bar of each meter's share; `/file` downloads, renaming (`POST /point`)
//! and logging out. Table and charts refresh every 30 s. Charts are drawn
//! on a canvas by the same chart crate as `/graphics` (plotters' canvas
//! backend instead of its bitmap one); hovering one (or the arrow keys on
//! it) reads the values off.
//!
//! Every text from the server goes into the page as text (`textContent`,
//! option values), never as HTML. Web-only: on other targets the crate is
//! empty, so `cargo clippy --workspace` on the host passes over it (tests/run
//! also runs clippy for wasm32-unknown-unknown).

#![cfg(target_arch = "wasm32")]

mod api;
mod canvas;
mod chart;
mod days;
mod format;
mod site;
mod table;
mod view;

use api::{encode, error_text, fetch, form, send};
use charts::{Chart, ColumnChart, ColumnSeries, Figure, LineChart, Share};
use days::Day;
use site::{Reading, Status, Usage, UsageBucket};
use std::cell::RefCell;
use table::{MeterTotal, Totals};
use view::{Shape, Span, View};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    Document, Event, HtmlAnchorElement, HtmlCanvasElement, HtmlElement, HtmlInputElement,
    HtmlSelectElement, KeyboardEvent, MouseEvent,
};

/// How often the meters table and the charts are refreshed.
const POLL_MS: i32 = 30_000;
/// Remembers across reloads that a session cookie was set (the cookie is
/// HttpOnly): without it the page shows the login form without asking
/// `/session`, so a logged-out visit makes no failing request.
const LOGGED_IN_KEY: &str = "intellimeter-logged-in";
/// Column charts stack at most this many meters; the rest are one grey
/// "other" (as `/series` draws the 20 largest lines).
const MAX_STACKED: usize = 20;
const HOUR: i64 = 3600;
/// The main chart is 16:9 up to this height: a laptop screen shows it
/// whole with the window's controls above it.
const MAIN_HEIGHT: u32 = 520;

struct State {
    span: Span,
    /// Windows back from the latest: 0 is the window holding `anchor`.
    back: i64,
    /// The range of the custom window.
    custom: Option<(Day, Day)>,
    /// The local day of the latest reading (from `/data`).
    anchor: Option<Day>,
    /// For the last 24 hours: local hours from the start of the day before
    /// the anchor to the end of the latest reading's hour.
    latest_hour: Option<i64>,
    /// `None`: every point.
    meter: Option<String>,
    shares: &'static str,
    /// Whether the previous period is drawn too.
    compare: bool,
    /// Counts redraws: an answer for an older one is dropped.
    generation: u64,
    first_chart_done: bool,
    poll_started: bool,
    readings: Vec<Reading>,
    intervals: Vec<Reading>,
    status: Option<Status>,
    totals: Option<Totals>,
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State {
        span: Span::Hours24,
        back: 0,
        custom: None,
        anchor: None,
        latest_hour: None,
        meter: None,
        shares: "pie",
        compare: false,
        generation: 0,
        first_chart_done: false,
        poll_started: false,
        readings: Vec::new(),
        intervals: Vec::new(),
        status: None,
        totals: None,
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

fn now_ms() -> f64 {
    web_sys::window().unwrap().performance().unwrap().now()
}

fn on(id: &str, event: &str, handler: impl FnMut(Event) + 'static) {
    let closure = Closure::<dyn FnMut(Event)>::new(handler);
    by_id::<HtmlElement>(id)
        .add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())
        .unwrap();
    closure.forget();
}

/// A control that changes the window: marks the start for the benchmark,
/// changes the state and redraws.
fn on_window_change(id: &str, event: &str, change: impl Fn(&mut State) + 'static) {
    on(id, event, move |_| {
        mark("redraw-start");
        STATE.with_borrow_mut(&change);
        spawn_local(redraw());
    });
}

#[wasm_bindgen(start)]
pub fn start() {
    // Where a first chart's time goes (the benchmark reads the marks):
    // "started" (the page and its WebAssembly loaded), "session",
    // "latest-day" (/data read), "first-chart".
    mark("started");
    on("login-form", "submit", |event| {
        event.prevent_default();
        spawn_local(log_in());
    });
    on("logout", "click", |_| spawn_local(log_out()));
    for (span, id) in Span::ALL {
        if span == Span::Custom {
            continue;
        }
        on_window_change(id, "click", move |state| {
            state.span = span;
            state.back = 0;
        });
    }
    on("custom-form", "submit", |event| {
        event.prevent_default();
        let (from, to) = (
            Day::parse(&by_id::<HtmlInputElement>("custom-start").value()),
            Day::parse(&by_id::<HtmlInputElement>("custom-end").value()),
        );
        let (Some(from), Some(to)) = (from, to) else {
            status("Choose both days of the range.");
            return;
        };
        mark("redraw-start");
        STATE.with_borrow_mut(|state| {
            state.span = Span::Custom;
            state.custom = Some((from.min(to), from.max(to)));
            state.back = 0;
        });
        spawn_local(redraw());
    });
    on_window_change("prev", "click", |state| state.back += 1);
    on_window_change("next", "click", |state| {
        state.back = (state.back - 1).max(0)
    });
    on_window_change("meter", "change", |state| {
        let value = by_id::<HtmlSelectElement>("meter").value();
        state.meter = (!value.is_empty()).then_some(value);
    });
    on_window_change("compare", "change", |state| {
        state.compare = by_id::<HtmlInputElement>("compare").checked();
    });
    for (id, kind) in [("shares-pie", "pie"), ("shares-bar", "bar")] {
        on(id, "click", move |_| {
            STATE.with_borrow_mut(|state| state.shares = kind);
            draw_shares();
        });
    }
    on("rename-form", "submit", |event| {
        event.prevent_default();
        spawn_local(rename());
    });
    on("line-chart", "mousemove", |event| {
        if let Some(event) = event.dyn_ref::<MouseEvent>() {
            let canvas: HtmlCanvasElement = by_id("line-chart");
            let scale = f64::from(canvas.width()) / f64::from(canvas.client_width().max(1));
            chart::point_at(
                (f64::from(event.offset_x()) * scale) as i32,
                (f64::from(event.offset_y()) * scale) as i32,
            );
        }
    });
    on("line-chart", "mouseleave", |_| chart::hide_tip());
    on("line-chart", "blur", |_| chart::hide_tip());
    on("line-chart", "keydown", |event| {
        if let Some(event) = event.dyn_ref::<KeyboardEvent>() {
            match event.key().as_str() {
                "ArrowRight" => chart::step(1),
                "ArrowLeft" => chart::step(-1),
                "Escape" => chart::hide_tip(),
                _ => return,
            }
            event.prevent_default();
        }
    });
    let storage = web_sys::window().unwrap().local_storage().ok().flatten();
    let remembered = storage
        .and_then(|storage| storage.get_item(LOGGED_IN_KEY).ok().flatten())
        .is_some();
    if remembered {
        spawn_local(open_session());
    } else {
        show_login(None, None);
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

/// The login form, with a notice ("Logged out.") or an error.
fn show_login(notice: Option<&str>, error: Option<&str>) {
    remember(false);
    show("app", false);
    show("logout", false);
    set_text("who", "");
    forget_site();
    show("login", true);
    set_text("login-notice", notice.unwrap_or(""));
    set_text("login-error", error.unwrap_or(""));
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
        let _ = canvas.remove_attribute("aria-label");
    }
    chart::remember(None);
    for id in ["updated", "window", "status", "zone", "totals-window"] {
        set_text(id, "");
    }
    for id in ["rename-new", "custom-start", "custom-end"] {
        by_id::<HtmlInputElement>(id).set_value("");
    }
    by_id::<HtmlInputElement>("compare").set_checked(false);
    STATE.with_borrow_mut(|state| {
        state.back = 0;
        state.anchor = None;
        state.latest_hour = None;
        state.meter = None;
        state.custom = None;
        state.compare = false;
        state.generation += 1;
        state.readings.clear();
        state.intervals.clear();
        state.status = None;
        state.totals = None;
    });
}

async fn log_in() {
    let username = by_id::<HtmlInputElement>("username").value();
    let password = by_id::<HtmlInputElement>("password").value();
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    set_text("login-notice", "");
    match fetch("PUT", "/session", Some(("application/json", body))).await {
        Ok((200, _)) => {
            by_id::<HtmlInputElement>("password").set_value("");
            set_text("login-error", "");
            remember(true);
            open_session().await;
        }
        Ok((status, body)) => set_text("login-error", &error_text(status, &body)),
        Err(error) => set_text("login-error", &error),
    }
}

/// The session ended while the site was shown: back to the login form,
/// saying why.
fn session_ended() {
    if !by_id::<HtmlElement>("app").hidden() {
        show_login(None, Some("Your session ended; log in again."));
    }
}

async fn log_out() {
    let _ = fetch("DELETE", "/session", None).await;
    show_login(Some("Logged out."), None);
}

/// Shows the site for the session, or the login form when there is none.
async fn open_session() {
    // The site's answers are asked for beside the session's: a returning
    // user's first chart waits for one round trip less.
    let session = send("GET", "/session", None);
    let site = SiteRequests::send();
    format::warm_up();
    match session.read().await {
        Ok((200, body)) => {
            mark("session");
            let account: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
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
            site.apply(true).await;
            start_polling();
        }
        Ok(_) => show_login(None, None),
        Err(error) => show_login(None, Some(&error)),
    }
}

/// `/data`, then `/interval` and `/status`: the site's state.
struct SiteRequests {
    data: api::Pending,
}

impl SiteRequests {
    fn send() -> SiteRequests {
        SiteRequests {
            data: send("GET", "/data", None),
        }
    }

    /// Reads them into the state; with `redraw`, redraws the window as
    /// soon as the latest day is known (from `/data`), then fills the
    /// table when the rest has come. `/interval` and `/status` are asked
    /// for once the chart's own request is on its way: on a busy server
    /// the first chart waits for nothing the table needs.
    async fn apply(self, redraw_too: bool) {
        let readings: Vec<Reading> = match self.data.json().await {
            Ok(readings) => readings,
            Err(error) => return status(&error),
        };
        mark("latest-day");
        let anchor = readings.iter().filter_map(|r| Day::parse(&r.time)).max();
        let mut names: Vec<String> = readings.iter().map(|r| r.meter.clone()).collect();
        STATE.with_borrow_mut(|state| {
            if state.anchor.is_none() || anchor > state.anchor {
                state.anchor = anchor;
                state.latest_hour = None;
            }
            state.readings = readings;
        });
        if redraw_too {
            spawn_local(redraw());
            // Let the redraw send its request first.
            let _ = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL))
                .await;
        }
        let (interval, status_request) =
            (send("GET", "/interval", None), send("GET", "/status", None));
        let intervals: Vec<Reading> = interval.json().await.unwrap_or_default();
        let site: Status = match status_request.json().await {
            Ok(status) => status,
            Err(error) => return status(&error),
        };
        for meter in &site.meters {
            if !names.contains(&meter.meter) {
                names.push(meter.meter.clone());
            }
        }
        names.sort();
        let meter = STATE.with_borrow(|state| state.meter.clone().unwrap_or_default());
        fill_select("meter", "All meters", &names, &meter);
        let renaming = by_id::<HtmlSelectElement>("rename-point").value();
        fill_select("rename-point", "", &names, &renaming);
        STATE.with_borrow_mut(|state| {
            state.intervals = intervals;
            state.status = Some(site);
        });
        render_table();
    }
}

fn render_table() {
    STATE.with_borrow(|state| {
        if let Some(site) = &state.status {
            table::render(
                site,
                &state.readings,
                &state.intervals,
                state.totals.as_ref(),
            );
        }
    });
}

fn start_polling() {
    if STATE.with_borrow_mut(|state| std::mem::replace(&mut state.poll_started, true)) {
        return;
    }
    // The charts follow the table: a window that ends at the latest
    // reading moves on with it.
    let closure = Closure::<dyn FnMut()>::new(|| {
        if !by_id::<HtmlElement>("app").hidden() {
            spawn_local(SiteRequests::send().apply(true));
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
    let element = by_id::<HtmlElement>("status");
    element.set_class_name("error");
    element.set_text_content(Some(message));
}

/// A success, in the page's notice colour.
fn notice(message: &str) {
    let element = by_id::<HtmlElement>("status");
    element.set_class_name("");
    element.set_text_content(Some(message));
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

/// The window's controls, labels and download links for `view`.
fn show_window(view: &View, back: i64, meter: Option<&str>) {
    set_text("window", &view.label());
    by_id::<HtmlElement>("next")
        .toggle_attribute_with_force("disabled", back == 0)
        .unwrap();
    let span = view.span;
    for (candidate, id) in Span::ALL {
        by_id::<HtmlElement>(id)
            .set_attribute(
                "aria-pressed",
                if candidate == span { "true" } else { "false" },
            )
            .unwrap();
    }
    by_id::<HtmlInputElement>("custom-start").set_value(&view.first.to_string());
    by_id::<HtmlInputElement>("custom-end").set_value(&view.last.to_string());
    let meter_query = meter.map_or(String::new(), |meter| format!("&meter={}", encode(meter)));
    for format in ["csv", "json", "xml", "yaml"] {
        by_id::<HtmlAnchorElement>(&format!("download-{format}")).set_href(&format!(
            "/file?{}{meter_query}&type={format}",
            view.query()
        ));
    }
}

/// The main chart, the shares and the table's window columns, for the
/// current window.
async fn redraw() {
    let (generation, view, back, meter, compare) = STATE
        .with_borrow_mut(|state| {
            state.generation += 1;
            let anchor = state.anchor?;
            let custom = state.custom.unwrap_or((anchor.add(-6), anchor));
            let view = view::view(state.span, state.back, anchor, custom);
            Some((
                state.generation,
                view,
                state.back,
                state.meter.clone(),
                state.compare,
            ))
        })
        .map_or((0, None, 0, None, false), |(g, v, b, m, c)| {
            (g, Some(v), b, m, c)
        });
    let Some(view) = view else {
        chart::remember(None);
        let canvas: HtmlCanvasElement = by_id("line-chart");
        let size = chart::size(&canvas, MAIN_HEIGHT);
        let empty = Figure {
            title: "Energy".to_owned(),
            subtitle: String::new(),
            chart: Chart::Empty("No readings yet".to_owned()),
        };
        let _ = chart::draw(&canvas, size, &empty);
        return;
    };
    show_window(&view, back, meter.as_deref());
    let stale = move || STATE.with_borrow(|state| state.generation != generation);
    let drawn = match view.shape {
        Shape::Line => draw_line(&view, meter.as_deref(), compare, &stale).await,
        Shape::Days | Shape::Months => draw_columns(&view, meter.as_deref(), compare, &stale).await,
    };
    match drawn {
        Ok(true) => charted(),
        Ok(false) => {}
        Err(error) => status(&error),
    }
}

/// The main chart is drawn: the benchmark's marks.
fn charted() {
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

/// The window's demand lines (`/series`) and, beside them, its `/usage`
/// for the table. Whether the chart was drawn.
async fn draw_line(
    view: &View,
    meter: Option<&str>,
    compare: bool,
    stale: &dyn Fn() -> bool,
) -> Result<bool, String> {
    let canvas: HtmlCanvasElement = by_id("line-chart");
    let (width, height) = chart::size(&canvas, MAIN_HEIGHT);
    let meter_query = meter.map_or(String::new(), |meter| format!("&meter={}", encode(meter)));
    // The last 24 hours are cut from two days: ask for twice the columns.
    let columns = if view.span == Span::Hours24 {
        2 * width
    } else {
        width
    };
    let query = format!(
        "type=line&quantity=demand&{}{meter_query}&width={}&height={}",
        view.query(),
        f64::from(columns.min(4000)) / 100.0,
        f64::from(height) / 100.0
    );
    let interval = view.shape.interval(view.span);
    let usage_query = format!("{}&interval={interval}", view.query());
    let started = now_ms();
    let series = send("GET", &format!("/series?{query}"), None);
    // The period before: the same query a period earlier.
    let previous = compare.then(|| {
        let (first, last) = view.previous;
        send(
            "GET",
            &format!(
                "/series?{}",
                query.replace(&view.query(), &format!("start={first}&end={last}"))
            ),
            None,
        )
    });
    let body = match series.read().await? {
        (200, body) => body,
        (status, body) => return Err(api::refusal(status, &body)),
    };
    // The table's figures, asked for once the chart's have come.
    let usage = send("GET", &format!("/usage?{usage_query}"), None);
    let fetched = now_ms();
    let mut figure: Figure = serde_json::from_str(&body).map_err(|error| error.to_string())?;
    let parsed = now_ms();
    if let Some(previous) = previous {
        let before: Figure = previous.json().await?;
        if let (Chart::Line(line), Chart::Line(before)) = (&mut figure.chart, before.chart) {
            // Onto this window's time axis: yesterday's 10:00 under today's.
            let offset = line.start - before.start;
            line.previous = before.series;
            for bucket in line.previous.iter_mut().flat_map(|s| s.buckets.iter_mut()) {
                bucket.start += offset;
                bucket.end += offset;
            }
        }
    }
    if stale() {
        return Ok(false);
    }
    // The site's zone: from /status, or on a first load that has not
    // answered yet, from the figure's subtitle ("… (America/Toronto)").
    let zone = STATE
        .with_borrow(|state| state.status.as_ref().map(|s| s.zone.clone()))
        .or_else(|| {
            let (_, zone) = figure.subtitle.strip_suffix(')')?.rsplit_once('(')?;
            Some(zone.to_owned())
        });
    // The 24 hours up to the end of the latest reading's hour: the hours
    // the table adds up from `/usage`.
    let mut hours = None;
    if let Chart::Line(line) = &mut figure.chart
        && view.span == Span::Hours24
    {
        let latest = line
            .series
            .iter()
            .filter_map(|series| series.buckets.last().map(|bucket| bucket.end))
            .max()
            .unwrap_or(line.end);
        let back = STATE.with_borrow(|state| state.back);
        let end_hour = STATE.with_borrow_mut(|state| {
            if back == 0 || state.latest_hour.is_none() {
                let hour = (latest - line.start + HOUR - 1).div_euclid(HOUR).max(24);
                if back == 0 {
                    state.latest_hour = Some(hour);
                }
                hour
            } else {
                state.latest_hour.unwrap_or(48)
            }
        });
        clip(
            line,
            line.start + (end_hour - 24) * HOUR,
            line.start + end_hour * HOUR,
        );
        hours = Some((end_hour - 24, end_hour));
    }
    if let (Chart::Line(line), Some(zone)) = (&figure.chart, &zone)
        && view.span == Span::Hours24
    {
        figure.subtitle = format!(
            "Last 24 hours: {} – {}",
            format::local_time(line.start, zone),
            format::local_time(line.end, zone)
        );
    }
    canvas.set_attribute("data-query", &query).unwrap();
    let plot = chart::draw(&canvas, (width, height), &figure)?;
    record_timing(&canvas, (started, fetched, parsed), body.len());
    let unit = match &figure.chart {
        Chart::Line(line) => Some(line.value_label.clone()).filter(|label| label != "demand"),
        _ => None,
    };
    chart::remember(plot.map(|plot| chart::Drawn {
        figure,
        plot,
        zone: zone.unwrap_or_default(),
        unit,
        previous: compare.then(|| view.previous_name()),
        titles: Vec::new(),
        cursor: None,
    }));
    let usage: Usage = usage.json().await?;
    if stale() {
        return Ok(true);
    }
    let label = match view.span {
        Span::Hours24 => "the last 24 hours".to_owned(),
        _ => view.label(),
    };
    let totals = usage
        .meters
        .iter()
        .map(|meter| MeterTotal {
            meter: meter.meter.clone(),
            unit: meter.unit.clone(),
            demand_unit: meter.demand_unit.clone(),
            total: match hours {
                Some((first, end)) => UsageBucket::sum(
                    meter
                        .buckets
                        .iter()
                        .take(end.max(0) as usize)
                        .skip(first.max(0) as usize),
                ),
                None => meter.total.clone(),
            },
        })
        .collect();
    set_totals(Totals {
        label,
        meters: totals,
    });
    Ok(true)
}

/// Keeps the part of `line` in `[start, end)`.
fn clip(line: &mut LineChart, start: i64, end: i64) {
    line.start = start;
    line.end = end;
    line.ticks.retain(|tick| tick.at >= start && tick.at <= end);
    for series in line.series.iter_mut().chain(&mut line.previous) {
        series
            .buckets
            .retain(|bucket| bucket.end > start && bucket.start < end);
    }
    line.series.retain(|series| !series.buckets.is_empty());
    line.previous.retain(|series| !series.buckets.is_empty());
}

/// The window's energy per day or month as stacked columns, with the
/// previous period outlined when asked, from `/usage` (which also gives
/// the table its totals). Whether the chart was drawn.
async fn draw_columns(
    view: &View,
    meter: Option<&str>,
    compare: bool,
    stale: &dyn Fn() -> bool,
) -> Result<bool, String> {
    let canvas: HtmlCanvasElement = by_id("line-chart");
    let size = chart::size(&canvas, MAIN_HEIGHT);
    let interval = view.shape.interval(view.span);
    let query = format!("{}&interval={interval}", view.query());
    let started = now_ms();
    let usage = send("GET", &format!("/usage?{query}"), None);
    let previous = compare.then(|| {
        send(
            "GET",
            &format!(
                "/usage?start={}&end={}&interval={interval}",
                view.previous.0, view.previous.1
            ),
            None,
        )
    });
    let body = match usage.read().await? {
        (200, body) => body,
        (status, body) => return Err(api::refusal(status, &body)),
    };
    let fetched = now_ms();
    let usage: Usage = serde_json::from_str(&body).map_err(|error| error.to_string())?;
    let previous: Option<Usage> = match previous {
        Some(pending) => Some(pending.json().await?),
        None => None,
    };
    let parsed = now_ms();
    if stale() {
        return Ok(false);
    }
    let (figure, unit, titles) = columns_figure(view, &usage, meter, previous.as_ref());
    canvas.set_attribute("data-query", &query).unwrap();
    let plot = chart::draw(&canvas, size, &figure)?;
    record_timing(&canvas, (started, fetched, parsed), body.len());
    chart::remember(plot.map(|plot| chart::Drawn {
        figure,
        plot,
        zone: usage.zone.clone(),
        unit,
        previous: previous.is_some().then(|| view.previous_name()),
        titles,
        cursor: None,
    }));
    set_totals(Totals {
        label: view.label(),
        meters: usage
            .meters
            .iter()
            .map(|meter| MeterTotal {
                meter: meter.meter.clone(),
                unit: meter.unit.clone(),
                demand_unit: meter.demand_unit.clone(),
                total: meter.total.clone(),
            })
            .collect(),
    });
    Ok(true)
}

/// The column chart of `usage` (one meter's when `meter`), its unit and
/// each column's full name.
fn columns_figure(
    view: &View,
    usage: &Usage,
    meter: Option<&str>,
    previous: Option<&Usage>,
) -> (Figure, Option<String>, Vec<String>) {
    let monthly = view.shape == Shape::Months;
    let step = if monthly { "month" } else { "day" };
    // Palette slots by position in the unfiltered list: /usage lists
    // meters in point order, as /series numbers its colours.
    let chosen: Vec<(usize, &site::MeterUsage)> = usage
        .meters
        .iter()
        .enumerate()
        .filter(|(_, m)| meter.is_none_or(|name| m.meter == name))
        .collect();
    let starts: Vec<Day> = chosen
        .first()
        .map(|(_, m)| {
            m.buckets
                .iter()
                .filter_map(|b| Day::parse(&b.start))
                .collect()
        })
        .unwrap_or_default();
    let spans_years = starts.first().map(|d| d.ymd().0) != starts.last().map(|d| d.ymd().0);
    let labels: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(index, day)| {
            if monthly {
                day.month_label(index == 0 && spans_years)
            } else if starts.len() <= 14 {
                day.weekday_label()
            } else {
                day.ymd().2.to_string()
            }
        })
        .collect();
    let titles: Vec<String> = starts
        .iter()
        .map(|day| {
            if monthly {
                day.month_label(true)
            } else {
                format!(
                    "{} {}",
                    day.weekday_label().split(' ').next().unwrap_or(""),
                    day
                )
            }
        })
        .collect();
    let unit = chosen.first().and_then(|(_, m)| m.unit.clone());
    let unit = unit.filter(|unit| chosen.iter().all(|(_, m)| m.unit.as_ref() == Some(unit)));
    // The largest consumers stacked, the rest one grey "other".
    let mut ranked: Vec<&(usize, &site::MeterUsage)> = chosen.iter().collect();
    ranked.sort_by(|a, b| {
        b.1.total
            .energy
            .unwrap_or(0.0)
            .total_cmp(&a.1.total.energy.unwrap_or(0.0))
            .then(a.0.cmp(&b.0))
    });
    let (mut kept, rest) = if ranked.len() > MAX_STACKED {
        let rest = ranked.split_off(MAX_STACKED - 1);
        (ranked, rest)
    } else {
        (ranked, Vec::new())
    };
    kept.sort_by_key(|(slot, _)| *slot);
    let values = |meter: &site::MeterUsage| -> Vec<Option<f64>> {
        meter.buckets.iter().map(|b| b.energy).collect()
    };
    let mut series: Vec<ColumnSeries> = kept
        .iter()
        .map(|(slot, meter)| ColumnSeries {
            name: meter.meter.clone(),
            color: *slot,
            values: values(meter),
        })
        .collect();
    if !rest.is_empty() {
        let mut sum: Vec<Option<f64>> = vec![None; starts.len()];
        for (_, meter) in &rest {
            for (cell, value) in sum.iter_mut().zip(values(meter)) {
                if let Some(value) = value {
                    *cell.get_or_insert(0.0) += value;
                }
            }
        }
        series.push(ColumnSeries {
            name: format!("other ({} meters)", rest.len()),
            color: usize::MAX,
            values: sum,
        });
    }
    let previous: Vec<Option<f64>> = previous
        .map(|previous| {
            let mut sums: Vec<Option<f64>> = vec![None; starts.len()];
            for old in previous
                .meters
                .iter()
                .filter(|m| meter.is_none_or(|name| m.meter == name))
            {
                for (cell, bucket) in sums.iter_mut().zip(&old.buckets) {
                    if let Some(energy) = bucket.energy {
                        *cell.get_or_insert(0.0) += energy;
                    }
                }
            }
            sums
        })
        .unwrap_or_default();
    let any = series.iter().any(|s| s.values.iter().any(Option::is_some));
    let title = match meter {
        Some(name) => format!("{name}: energy per {step}"),
        None => format!("Energy per {step}"),
    };
    let subtitle = format!("{} ({})", view.label(), usage.zone);
    let chart = if any {
        Chart::Columns(ColumnChart {
            labels,
            value_label: format::with_unit(String::new(), unit.as_deref())
                .trim()
                .to_owned()
                + &format!(" per {step}"),
            legend: meter.is_none(),
            series,
            previous,
            previous_name: view.previous_name().to_owned(),
        })
    } else {
        Chart::Empty("No readings in this window".to_owned())
    };
    (
        Figure {
            title,
            subtitle,
            chart,
        },
        unit,
        titles,
    )
}

/// The table's window columns and the shares chart from `totals`.
fn set_totals(totals: Totals) {
    STATE.with_borrow_mut(|state| state.totals = Some(totals));
    render_table();
    draw_shares();
}

/// Each meter's share of the window's energy, as a pie or bars, from the
/// table's totals (no request of its own: the same numbers as the table).
fn draw_shares() {
    let figure = STATE.with_borrow(|state| {
        let totals = state.totals.as_ref()?;
        let shares: Vec<Share> = totals
            .meters
            .iter()
            .enumerate()
            .filter_map(|(slot, meter)| {
                Some(Share {
                    name: meter.meter.clone(),
                    value: meter.total.energy?,
                    color: slot,
                })
            })
            .collect();
        let unit = totals.meters.first().and_then(|m| m.unit.clone());
        let shared = totals.meters.iter().all(|m| m.unit == unit);
        let chart = if shares.is_empty() {
            Chart::Empty("No readings in this window".to_owned())
        } else if state.shares == "bar" {
            Chart::Bar(shares)
        } else {
            Chart::Pie(shares)
        };
        let zone = state.status.as_ref().map_or("", |s| s.zone.as_str());
        Some(Figure {
            title: match (&unit, shared) {
                (Some(unit), true) => format!("Energy per meter ({unit})"),
                _ => "Energy per meter".to_owned(),
            },
            subtitle: format!("{} ({zone})", totals.label),
            chart,
        })
    });
    let shares = STATE.with_borrow(|state| state.shares);
    for (id, kind) in [("shares-pie", "pie"), ("shares-bar", "bar")] {
        by_id::<HtmlElement>(id)
            .set_attribute(
                "aria-pressed",
                if kind == shares { "true" } else { "false" },
            )
            .unwrap();
    }
    let Some(figure) = figure else { return };
    let canvas: HtmlCanvasElement = by_id("shares-chart");
    let size = chart::size(&canvas, 400);
    if let Err(error) = chart::draw(&canvas, size, &figure) {
        status(&error);
    }
    canvas.set_attribute("data-kind", shares).unwrap();
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
            SiteRequests::send().apply(true).await;
            // The renamed meter stays selected, under its new name.
            by_id::<HtmlSelectElement>("rename-point").set_value(new.trim());
        }
        Ok((status, body)) => self::status(&api::refusal(status, &body)),
        Err(error) => status(&error),
    }
}

/// Keeps on the canvas how long its chart's fetch, parse and draw took
/// (`data-timing`, read by the bench), the draw ending now.
fn record_timing(
    canvas: &HtmlCanvasElement,
    (started, fetched, parsed): (f64, f64, f64),
    bytes: usize,
) {
    canvas
        .set_attribute(
            "data-timing",
            &format!(
                "fetch {:.1} ms ({bytes} bytes), parse {:.1} ms, draw {:.1} ms",
                fetched - started,
                parsed - fetched,
                now_ms() - parsed
            ),
        )
        .unwrap();
}
