//! Local calendar days, as `/file`, `/usage` and `/series` take them
//! (`YYYY-mm-dd`), counted from 1970-01-01 so windows pan by whole days
//! and months. The calendar is the browser's (`Date.UTC`, `toISOString`).

use js_sys::Date;
use std::fmt;
use wasm_bindgen::JsValue;

const DAY_MS: f64 = 86_400_000.0;
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Day(i64);

impl Day {
    /// The day of `YYYY-mm-dd…` (the start of a `TimeStamping`).
    pub fn parse(text: &str) -> Option<Day> {
        let mut parts = text.get(..10)?.split('-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(Day::from_ymd(year, month, day))
    }

    /// `month` from 1; a day past the month's end runs into the next.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Day {
        let first = Date::utc(f64::from(year), f64::from(month) - 1.0);
        Day((first / DAY_MS) as i64 + i64::from(day) - 1)
    }

    pub fn add(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    /// Days from `self` to `other` (positive when `other` is later).
    pub fn until(self, other: Day) -> i64 {
        other.0 - self.0
    }

    fn date(self) -> Date {
        Date::new(&JsValue::from_f64(self.0 as f64 * DAY_MS))
    }

    /// (year, month from 1, day from 1).
    pub fn ymd(self) -> (i32, u32, u32) {
        let date = self.date();
        (
            date.get_utc_full_year() as i32,
            date.get_utc_month() + 1,
            date.get_utc_date(),
        )
    }

    /// The first day of this day's month, `months` months later.
    pub fn month_start(self, months: i64) -> Day {
        let (year, month, _) = self.ymd();
        let index = i64::from(year) * 12 + i64::from(month) - 1 + months;
        Day::from_ymd(
            index.div_euclid(12) as i32,
            index.rem_euclid(12) as u32 + 1,
            1,
        )
    }

    /// "Mon 28".
    pub fn weekday_label(self) -> String {
        let weekday = (self.0 + 4).rem_euclid(7) as usize;
        format!("{} {}", WEEKDAYS[weekday], self.ymd().2)
    }

    /// "Oct", or "Jan 2020" for a January or when `with_year`.
    pub fn month_label(self, with_year: bool) -> String {
        let (year, month, _) = self.ymd();
        let name = MONTHS[month as usize - 1];
        if with_year || month == 1 {
            format!("{name} {year}")
        } else {
            name.to_owned()
        }
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = String::from(self.date().to_iso_string());
        f.write_str(iso.get(..10).unwrap_or(&iso))
    }
}
