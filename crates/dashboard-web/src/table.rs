//! The meters table: per meter its state (a badge: "silent, last seen
//! 3 h ago"), latest reading, register and last interval with units, and
//! for the window shown its energy and peak demand with when. From
//! `/status`, `/data`, `/interval` and the window's `/usage`.

use crate::format;
use crate::site::{MeterStatus, Reading, Status, UsageBucket};
use web_sys::{Element, HtmlElement};

/// The window's figures per meter (by name) and the units they are in.
pub struct Totals {
    pub label: String,
    pub meters: Vec<MeterTotal>,
}

pub struct MeterTotal {
    pub meter: String,
    pub unit: Option<String>,
    pub demand_unit: Option<String>,
    pub total: UsageBucket,
}

/// The badge of a meter's state: its class and text.
pub fn badge(status: &MeterStatus) -> (&'static str, String) {
    let seen = status.age.map(format::age);
    match status.state.as_str() {
        "ok" => ("ok", "reporting".to_owned()),
        "late" => (
            "late",
            format!("late, last seen {}", seen.unwrap_or_default()),
        ),
        "silent" => (
            "silent",
            format!("silent, last seen {}", seen.unwrap_or_default()),
        ),
        "never" => ("never", "never reported".to_owned()),
        other => ("late", other.to_owned()),
    }
}

/// Fills `#meters-body`, one row per meter `/status` lists.
pub fn render(
    status: &Status,
    readings: &[Reading],
    intervals: &[Reading],
    totals: Option<&Totals>,
) {
    let document = crate::document();
    let body: HtmlElement = crate::by_id("meters-body");
    body.set_text_content(None);
    crate::set_text("zone", &status.zone);
    crate::set_text(
        "totals-window",
        totals.map_or("", |totals| totals.label.as_str()),
    );
    let cell = |row: &Element, text: &str, class: &str| {
        let td = document.create_element("td").unwrap();
        td.set_text_content(Some(text));
        if !class.is_empty() {
            td.set_class_name(class);
        }
        row.append_child(&td).unwrap();
        td
    };
    for meter in &status.meters {
        let row = document.create_element("tr").unwrap();
        let th = document.create_element("th").unwrap();
        th.set_attribute("scope", "row").unwrap();
        th.set_text_content(Some(&meter.meter));
        row.append_child(&th).unwrap();
        let (class, text) = badge(meter);
        let state = cell(&row, "", "state");
        let span = document.create_element("span").unwrap();
        span.set_class_name(&format!("badge {class}"));
        span.set_text_content(Some(&text));
        state.append_child(&span).unwrap();
        let unit = meter.unit.as_deref();
        let reading = readings.iter().find(|r| r.meter == meter.meter);
        cell(
            &row,
            reading.map_or("—", |r| r.time.get(..16).unwrap_or(&r.time)),
            "time",
        );
        cell(
            &row,
            &reading.and_then(|r| r.value).map_or("—".to_owned(), |v| {
                format::with_unit(format::number(v, 3), unit)
            }),
            "number",
        );
        // A quantity in its unit, or a dash.
        let quantity = |value: Option<f64>, unit: Option<&str>| {
            value.map_or("—".to_owned(), |v| format::quantity(v, unit))
        };
        let interval = intervals.iter().find(|r| r.meter == meter.meter);
        cell(
            &row,
            &quantity(interval.and_then(|r| r.value), unit),
            "number",
        );
        // The window's energy and peak demand, each in its unit.
        let total = totals.and_then(|totals| totals.meters.iter().find(|t| t.meter == meter.meter));
        cell(
            &row,
            &quantity(
                total.and_then(|t| t.total.energy),
                total.and_then(|t| t.unit.as_deref()),
            ),
            "number",
        );
        cell(
            &row,
            &quantity(
                total.and_then(|t| t.total.peak),
                total.and_then(|t| t.demand_unit.as_deref()),
            ),
            "number",
        );
        cell(
            &row,
            total
                .and_then(|t| t.total.peak_start.as_deref())
                .map_or("—", |at| at.get(..16).unwrap_or(at)),
            "time",
        );
        body.append_child(&row).unwrap();
    }
    crate::set_text("updated", &format!("{} meters", status.meters.len()));
}
