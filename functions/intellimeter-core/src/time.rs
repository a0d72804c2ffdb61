//! Instants shown in a project's local time zone, and local days turned
//! into instants.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use std::fmt::Write;

/// True when `name` is an IANA time zone this build knows
/// (`America/Toronto`, `UTC`, …).
pub fn is_known_time_zone(name: &str) -> bool {
    !name.is_empty() && TimeZone::get(name).is_ok()
}

/// A project's time zone, formatting instants as `YYYY-mm-dd HH:MM:SS`.
/// Remembers the last instant it formatted: exports write the same time
/// for every point of a row of readings.
pub struct LocalClock {
    zone: TimeZone,
    last: Option<(i64, String)>,
}

impl LocalClock {
    /// The clock of zone `name` (UTC if unknown, which validation at
    /// provisioning prevents).
    pub fn new(name: &str) -> Self {
        LocalClock {
            zone: TimeZone::get(name).unwrap_or(TimeZone::UTC),
            last: None,
        }
    }

    /// `YYYY-mm-dd HH:MM:SS` of `unix_seconds` in this zone.
    pub fn format(&mut self, unix_seconds: i64) -> &str {
        if self.last.as_ref().is_none_or(|(ts, _)| *ts != unix_seconds) {
            let text = self.render(unix_seconds);
            self.last = Some((unix_seconds, text));
        }
        &self.last.as_ref().expect("set above").1
    }

    fn render(&self, unix_seconds: i64) -> String {
        let mut text = String::with_capacity(19);
        match jiff::Timestamp::from_second(unix_seconds) {
            Ok(instant) => {
                let local = self.zone.to_datetime(instant);
                let _ = write!(
                    text,
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                    local.year(),
                    local.month(),
                    local.day(),
                    local.hour(),
                    local.minute(),
                    local.second()
                );
            }
            Err(_) => text.push_str("0000-00-00 00:00:00"),
        }
        text
    }

    /// The instant local day `date` starts (the first instant of the day,
    /// even when DST skips midnight).
    pub fn start_of_day(&self, date: Date) -> Result<i64, String> {
        date.to_zoned(self.zone.clone())
            .map(|zoned| zoned.timestamp().as_second())
            .map_err(|error| format!("{date} has no start in this time zone: {error}"))
    }
}

/// `YYYY-mm-dd HH:MM:SS` of `unix_seconds` in time zone `zone`.
pub fn local_date_time(unix_seconds: i64, zone: &str) -> String {
    LocalClock::new(zone).format(unix_seconds).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_follow_the_zone_and_dst() {
        // 2019-10-29 20:07:17 UTC is 16:07:17 in Toronto (EDT, UTC-4).
        assert_eq!(
            local_date_time(1_572_379_637, "America/Toronto"),
            "2019-10-29 16:07:17"
        );
        // 2019-12-01 12:00:00 UTC is 07:00 in Toronto (EST, UTC-5).
        assert_eq!(
            local_date_time(1_575_201_600, "America/Toronto"),
            "2019-12-01 07:00:00"
        );
        assert_eq!(local_date_time(0, "UTC"), "1970-01-01 00:00:00");
        assert!(is_known_time_zone("Europe/Paris"));
        assert!(!is_known_time_zone("Mars/Olympus"));
        assert!(!is_known_time_zone(""));
    }

    #[test]
    fn days_are_as_long_as_they_really_are() {
        let clock = LocalClock::new("America/Toronto");
        let day = |y, m, d| clock.start_of_day(Date::new(y, m, d).unwrap()).unwrap();
        // 2019-03-10: spring forward, 23 hours; 2019-11-03: fall back, 25.
        assert_eq!(day(2019, 3, 11) - day(2019, 3, 10), 23 * 3600);
        assert_eq!(day(2019, 11, 4) - day(2019, 11, 3), 25 * 3600);
        assert_eq!(day(2019, 10, 31) - day(2019, 10, 30), 24 * 3600);
        assert_eq!(day(2019, 10, 30), 1_572_408_000); // 04:00 UTC
    }

    #[test]
    fn the_clock_caches_only_the_same_instant() {
        let mut clock = LocalClock::new("UTC");
        assert_eq!(clock.format(60), "1970-01-01 00:01:00");
        assert_eq!(clock.format(60), "1970-01-01 00:01:00");
        assert_eq!(clock.format(61), "1970-01-01 00:01:01");
    }
}
