//! Local calendar days, as `/file` and `/series` take them (`YYYY-mm-dd`),
//! counted from 1970-01-01 so windows pan by whole days. The calendar is
//! the browser's (`Date.UTC`, `toISOString`).

use js_sys::Date;
use std::fmt;
use wasm_bindgen::JsValue;

const DAY_MS: f64 = 86_400_000.0;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Day(i64);

impl Day {
    /// The day of `YYYY-mm-dd…` (the start of a `TimeStamping`).
    pub fn parse(text: &str) -> Option<Day> {
        let mut parts = text.get(..10)?.split('-');
        let year: u16 = parts.next()?.parse().ok()?;
        let month: u8 = parts.next()?.parse().ok()?;
        let day: u8 = parts.next()?.parse().ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let first = Date::utc(f64::from(year), f64::from(month - 1));
        Some(Day((first / DAY_MS) as i64 + i64::from(day) - 1))
    }

    pub fn add(self, days: i64) -> Day {
        Day(self.0 + days)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = Date::new(&JsValue::from_f64(self.0 as f64 * DAY_MS));
        let iso = String::from(date.to_iso_string());
        f.write_str(iso.get(..10).unwrap_or(&iso))
    }
}
