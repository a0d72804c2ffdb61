//! Numbers, ages and instants as the page shows them: thousands grouped,
//! a unit after every value, local times with their zone.

use js_sys::{Array, Date, Intl, Object, Reflect};
use std::cell::RefCell;
use wasm_bindgen::JsValue;

/// `value` with `decimals` decimals (trailing zeros dropped) and
/// thousands grouped: `28,540.24`.
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let text = format!("{:.decimals$}", value.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction.trim_end_matches('0')),
        None => (text.as_str(), ""),
    };
    let mut out = String::new();
    if value < 0.0 && (whole.bytes().any(|b| b != b'0') || !fraction.is_empty()) {
        out.push('-');
    }
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A quantity for people: `charts::format_value` (three significant
/// digits, thousands grouped) and its unit when known.
pub fn quantity(value: f64, unit: Option<&str>) -> String {
    with_unit(charts::format_value(value), unit)
}

pub fn with_unit(text: String, unit: Option<&str>) -> String {
    match unit {
        Some(unit) if !unit.is_empty() => format!("{text} {unit}"),
        _ => text,
    }
}

/// "25 min ago", "3 h ago", "2 d ago", "5 mo ago", "7 y ago".
pub fn age(seconds: i64) -> String {
    const DAY: i64 = 86_400;
    let seconds = seconds.max(0);
    if seconds < 90 {
        format!("{seconds} s ago")
    } else if seconds < 90 * 60 {
        format!("{} min ago", (seconds + 30) / 60)
    } else if seconds < 36 * 3600 {
        format!("{} h ago", (seconds + 1800) / 3600)
    } else if seconds < 60 * DAY {
        format!("{} d ago", (seconds + DAY / 2) / DAY)
    } else if seconds < 730 * DAY {
        format!("{} mo ago", (seconds + 15 * DAY) / (30 * DAY))
    } else {
        format!("{} y ago", (seconds + 182 * DAY) / (365 * DAY))
    }
}

thread_local! {
    /// The formatter of the site's zone (making one costs far more than
    /// using it).
    static FORMATTER: RefCell<Option<(String, Intl::DateTimeFormat)>> = const { RefCell::new(None) };
}

fn formatter(zone: &str) -> Intl::DateTimeFormat {
    FORMATTER.with_borrow_mut(|cached| {
        if let Some((name, formatter)) = cached.as_ref()
            && name == zone
        {
            return formatter.clone();
        }
        let options = Object::new();
        for (key, value) in [
            ("timeZone", zone),
            ("year", "numeric"),
            ("month", "2-digit"),
            ("day", "2-digit"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
            ("hourCycle", "h23"),
            ("timeZoneName", "short"),
        ] {
            let _ = Reflect::set(&options, &key.into(), &value.into());
        }
        let formatter = Intl::DateTimeFormat::new(&Array::of1(&"en-CA".into()), &options);
        *cached = Some((zone.to_owned(), formatter.clone()));
        formatter
    })
}

/// Unix seconds in `zone` as "2019-10-30 13:10 EDT" (the zone's
/// abbreviation as the browser knows it, else its offset).
pub fn local_time(seconds: i64, zone: &str) -> String {
    let zone = if zone.is_empty() { "UTC" } else { zone };
    let date = Date::new(&JsValue::from_f64(seconds as f64 * 1000.0));
    let parts = formatter(zone).format_to_parts(&date);
    let field = |name: &str| -> String {
        parts
            .iter()
            .find_map(|part| {
                let kind = Reflect::get(&part, &"type".into()).ok()?.as_string()?;
                (kind == name).then(|| Reflect::get(&part, &"value".into()).ok()?.as_string())?
            })
            .unwrap_or_default()
    };
    format!(
        "{}-{}-{} {}:{} {}",
        field("year"),
        field("month"),
        field("day"),
        field("hour"),
        field("minute"),
        field("timeZoneName")
    )
}

/// Whether the page is shown in dark mode.
pub fn dark() -> bool {
    web_sys::window()
        .and_then(|window| {
            window
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
        })
        .is_some_and(|query| query.matches())
}

/// Makes the browser load its time zone data now (while the page waits
/// for the network), not when the first chart is drawn: the first
/// `Intl.DateTimeFormat` of a page costs tens of milliseconds.
pub fn warm_up() {
    let _ = local_time(0, "UTC");
}
