//! Instants shown in a project's local time zone, and local days turned
//! into instants.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use std::cell::Cell;
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
    /// The offset of the last instant written and how long it holds: the
    /// next instants (rows come in time order) are written without the
    /// zone's lookup.
    span: Cell<OffsetSpan>,
    /// The date of the last instant written, as its day number and its
    /// `YYYY-mm-dd ` (most instants of an answer share their day with the
    /// one before).
    day: Cell<DayText>,
}

impl LocalClock {
    /// The clock of zone `name` (UTC if unknown, which validation at
    /// provisioning prevents).
    pub fn new(name: &str) -> Self {
        LocalClock {
            zone: TimeZone::get(name).unwrap_or(TimeZone::UTC),
            last: None,
            span: Cell::new(OffsetSpan::EMPTY),
            day: Cell::new(DayText::NONE),
        }
    }

    /// The zone itself.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
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
        self.write(unix_seconds, &mut text);
        text
    }

    /// Appends `YYYY-mm-dd HH:MM:SS` of `unix_seconds` in this zone to
    /// `out`, allocating nothing (answers of many rows format two times a
    /// row).
    pub fn write(&self, unix_seconds: i64, out: &mut String) {
        let mut span = self.span.get();
        if !span.holds(unix_seconds) {
            span = self.offset_span(unix_seconds);
            self.span.set(span);
        }
        if span.holds(unix_seconds) {
            let mut day = self.day.get();
            let written = write_local_seconds_on(
                unix_seconds + i64::from(span.offset_seconds),
                &mut day,
                out,
            );
            self.day.set(day);
            if written {
                return;
            }
        }
        match jiff::Timestamp::from_second(unix_seconds) {
            Ok(instant) => write_civil(self.zone.to_datetime(instant), out),
            Err(_) => out.push_str("0000-00-00 00:00:00"),
        }
    }

    /// The zone's offset at `at` and until when it holds (its next
    /// transition; forever for a zone without one).
    pub fn offset_span(&self, at: i64) -> OffsetSpan {
        let Ok(instant) = jiff::Timestamp::from_second(at) else {
            return OffsetSpan::EMPTY;
        };
        let until = self
            .zone
            .following(instant)
            .next()
            .map_or(i64::MAX, |transition| transition.timestamp().as_second());
        OffsetSpan {
            offset_seconds: self.zone.to_offset(instant).seconds(),
            from: at,
            until,
        }
    }

    /// The instant local day `date` starts (the first instant of the day,
    /// even when DST skips midnight).
    pub fn start_of_day(&self, date: Date) -> Result<i64, String> {
        date.to_zoned(self.zone.clone())
            .map(|zoned| zoned.timestamp().as_second())
            .map_err(|error| format!("{date} has no start in this time zone: {error}"))
    }
}

/// `YYYY-mm-dd HH:MM:SS` of a civil date-time, appended without
/// allocating (answers of many rows format two times a row).
fn write_civil(local: jiff::civil::DateTime, out: &mut String) {
    if local.year() < 0 {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second()
        );
        return;
    }
    let mut digits = |number: u32, width: usize, after: Option<char>| {
        let mut buffer = [b'0'; 4];
        let mut rest = number;
        for place in (0..width).rev() {
            buffer[place] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend(buffer[..width].iter().map(|&digit| char::from(digit)));
        if let Some(separator) = after {
            out.push(separator);
        }
    };
    digits(local.year().unsigned_abs().into(), 4, Some('-'));
    digits(local.month().unsigned_abs().into(), 2, Some('-'));
    digits(local.day().unsigned_abs().into(), 2, Some(' '));
    digits(local.hour().unsigned_abs().into(), 2, Some(':'));
    digits(local.minute().unsigned_abs().into(), 2, Some(':'));
    digits(local.second().unsigned_abs().into(), 2, None);
}

/// Local seconds since 1970-01-01 00:00 (an instant plus its offset) as
/// `YYYY-mm-dd HH:MM:SS`, by arithmetic (the proleptic Gregorian
/// calendar, as jiff's civil dates): for years 1 to 9999; `false` (and
/// nothing written) outside them.
fn write_local_seconds(local_seconds: i64, out: &mut String) -> bool {
    let mut day = DayText::NONE;
    write_local_seconds_on(local_seconds, &mut day, out)
}

/// A local day's number (days since 1970-01-01) and its `YYYY-mm-dd `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayText {
    day: i64,
    text: [u8; 11],
}

impl DayText {
    /// Of no day.
    const NONE: DayText = DayText {
        day: i64::MIN,
        text: *b"0000-00-00 ",
    };

    /// Day `day` (days since 1970-01-01), by Hinnant's `civil_from_days`:
    /// eras of 400 years, each starting on a 1 March.
    fn of(day: i64) -> Self {
        let z = day + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day_of_month = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        let mut text = *b"0000-00-00 ";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day_of_month);
        DayText { day, text }
    }
}

/// `number`'s last `places.len()` decimal digits into `places`.
fn put_digits(places: &mut [u8], mut number: i64) {
    for place in places.iter_mut().rev() {
        *place = b'0' + (number % 10) as u8;
        number /= 10;
    }
}

/// [`write_local_seconds`], taking the date from `day` when it is the
/// instant's and leaving the instant's there.
fn write_local_seconds_on(local_seconds: i64, day: &mut DayText, out: &mut String) -> bool {
    /// 0001-01-01 and 10000-01-01 in local seconds.
    const RANGE: std::ops::Range<i64> = -62_135_596_800..253_402_300_800;
    if !RANGE.contains(&local_seconds) {
        return false;
    }
    let (days, second_of_day) = (
        local_seconds.div_euclid(86_400),
        local_seconds.rem_euclid(86_400),
    );
    if day.day != days {
        *day = DayText::of(days);
    }
    let mut text = *b"0000-00-00 00:00:00";
    text[..11].copy_from_slice(&day.text);
    put_digits(&mut text[11..13], second_of_day / 3_600);
    put_digits(&mut text[14..16], second_of_day / 60 % 60);
    put_digits(&mut text[17..19], second_of_day % 60);
    out.push_str(std::str::from_utf8(&text).unwrap_or("0000-00-00 00:00:00"));
    true
}

/// A stretch of time `[from, until)` over which a zone keeps one offset:
/// instants in it are formatted without the zone (whose lookup costs
/// more than a whole `/status` answer otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSpan {
    pub offset_seconds: i32,
    pub from: i64,
    pub until: i64,
}

impl OffsetSpan {
    /// A span that holds no instant.
    pub const EMPTY: OffsetSpan = OffsetSpan {
        offset_seconds: 0,
        from: 0,
        until: 0,
    };

    /// Whether `unix_seconds` is in the span.
    pub fn holds(&self, unix_seconds: i64) -> bool {
        (self.from..self.until).contains(&unix_seconds)
    }

    /// Appends `unix_seconds` as `YYYY-mm-dd HH:MM:SS` when it is in the
    /// span; whether it was.
    pub fn write(&self, unix_seconds: i64, out: &mut String) -> bool {
        if !self.holds(unix_seconds) {
            return false;
        }
        write_local_seconds(unix_seconds + i64::from(self.offset_seconds), out)
    }
}

impl LocalClock {
    /// `YYYY-mm-dd HH:MM` of `unix_seconds` in this zone.
    pub fn format_minutes(&mut self, unix_seconds: i64) -> String {
        let text = self.format(unix_seconds);
        text[..text.len().min(16)].to_owned()
    }

    /// Labelled instants for a time axis over `[from, to)`, on local
    /// boundaries that suit its length: hours for a day, days for a week,
    /// Mondays for a month or two, months for a year, years beyond.
    pub fn ticks(&self, from: i64, to: i64) -> Vec<(i64, String)> {
        const HOUR: i64 = 3600;
        const DAY: i64 = 24 * HOUR;
        let length = to - from;
        let Ok(start) = jiff::Timestamp::from_second(from) else {
            return Vec::new();
        };
        let start = start.to_zoned(self.zone.clone());
        let Ok(midnight) = start.start_of_day() else {
            return Vec::new();
        };
        let step = if length <= 12 * HOUR {
            Step::Hours(1)
        } else if length <= 2 * DAY {
            Step::Hours(3)
        } else if length <= 14 * DAY {
            Step::Days
        } else if length <= 92 * DAY {
            Step::Weeks
        } else if length <= 3 * 366 * DAY {
            Step::Months
        } else {
            Step::Years
        };
        let first = match step {
            Step::Hours(_) | Step::Days => Ok(midnight),
            Step::Weeks => midnight.checked_sub(
                jiff::Span::new().days(i64::from(midnight.weekday().to_monday_zero_offset())),
            ),
            Step::Months => midnight.first_of_month(),
            Step::Years => midnight.first_of_year(),
        };
        let Ok(mut at) = first else {
            return Vec::new();
        };
        let mut ticks = Vec::new();
        // Bounded: a window is at most ten years, at most a few hundred ticks.
        while ticks.len() < 500 {
            let second = at.timestamp().as_second();
            if second >= to {
                break;
            }
            if second >= from {
                let label = match step {
                    Step::Hours(_) if at.hour() == 0 => at.strftime("%b %-d").to_string(),
                    Step::Hours(_) => at.strftime("%H:%M").to_string(),
                    Step::Days | Step::Weeks => at.strftime("%b %-d").to_string(),
                    Step::Months if at.month() == 1 || ticks.is_empty() => {
                        at.strftime("%b %Y").to_string()
                    }
                    Step::Months => at.strftime("%b").to_string(),
                    Step::Years => at.strftime("%Y").to_string(),
                };
                ticks.push((second, label));
            }
            let next = match step {
                Step::Hours(hours) => at.checked_add(jiff::Span::new().hours(hours)),
                Step::Days => at.checked_add(jiff::Span::new().days(1)),
                Step::Weeks => at.checked_add(jiff::Span::new().weeks(1)),
                Step::Months => at.checked_add(jiff::Span::new().months(1)),
                Step::Years => at.checked_add(jiff::Span::new().years(1)),
            };
            match next {
                Ok(next) => at = next,
                Err(_) => break,
            }
        }
        ticks
    }
}

/// The spacing of time-axis ticks.
#[derive(Clone, Copy)]
enum Step {
    Hours(i64),
    Days,
    Weeks,
    Months,
    Years,
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
    fn ticks_fall_on_local_boundaries() {
        let clock = LocalClock::new("America/Toronto");
        let day = clock
            .start_of_day(Date::new(2019, 10, 30).unwrap())
            .unwrap();
        let ticks = clock.ticks(day, day + 86_400);
        assert_eq!(ticks.len(), 8);
        assert_eq!(ticks[0], (day, "Oct 30".to_owned()));
        assert_eq!(ticks[1], (day + 3 * 3600, "03:00".to_owned()));
        let week = clock.ticks(day, day + 7 * 86_400);
        assert_eq!(week.len(), 7);
        assert_eq!(week[1].1, "Oct 31");
        // A year: months, the year named at January and at the first tick.
        let year = clock.ticks(day, day + 365 * 86_400);
        let labels: Vec<&str> = year.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels[..4], ["Nov 2019", "Dec", "Jan 2020", "Feb"]);
        // DST: the day after the fall-back still starts at local midnight.
        let november = clock.ticks(day, day + 10 * 86_400);
        let fourth = clock.start_of_day(Date::new(2019, 11, 4).unwrap()).unwrap();
        assert!(
            november
                .iter()
                .any(|(at, label)| *at == fourth && label == "Nov 4")
        );
        // Mondays for two months.
        let weeks = clock.ticks(day, day + 60 * 86_400);
        assert_eq!(weeks[0].1, "Nov 4");
    }

    #[test]
    fn the_clock_caches_only_the_same_instant() {
        let mut clock = LocalClock::new("UTC");
        assert_eq!(clock.format(60), "1970-01-01 00:01:00");
        assert_eq!(clock.format(60), "1970-01-01 00:01:00");
        assert_eq!(clock.format(61), "1970-01-01 00:01:01");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Zones with odd days: DST at midnight (Havana, Santiago, Sao Paulo
    /// until 2019), a skipped day (Apia, Kwajalein), half-hour DST (Lord
    /// Howe), odd offsets (Kathmandu, St Johns).
    const ZONES: &[&str] = &[
        "UTC",
        "America/Toronto",
        "America/Havana",
        "America/Santiago",
        "America/Sao_Paulo",
        "Pacific/Apia",
        "Pacific/Kwajalein",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Asia/Gaza",
        "Europe/London",
    ];

    /// Up to the last second of 9999-12-31 UTC.
    const LAST_SECOND: i64 = 253_402_300_799;

    fn date() -> impl Strategy<Value = Date> {
        (1970i16..=9999, 1i8..=12, 1i8..=31).prop_map(|(y, m, d)| {
            Date::new(
                y,
                m,
                d.min(jiff::civil::Date::new(y, m, 1).unwrap().days_in_month()),
            )
            .unwrap()
        })
    }

    proptest! {
        #![proptest_config(test_support::proptest_config(512))]

        /// The digit writer is jiff's own `%Y-%m-%d %H:%M:%S`, and an
        /// offset span formats what the zone formats, inside the span only,
        /// and ends at the zone's next transition.
        #[test]
        fn offset_spans_format_as_the_zone_until_its_next_transition(
            zone in prop::sample::select(ZONES),
            made in 0i64..2_000_000_000,
            later in 0i64..40_000_000,
        ) {
            let clock = LocalClock::new(zone);
            let span = clock.offset_span(made);
            let at = made + later;
            let mut by_zone = String::new();
            clock.write(at, &mut by_zone);
            let tz = TimeZone::get(zone).unwrap();
            let instant = jiff::Timestamp::from_second(at).unwrap();
            prop_assert_eq!(&by_zone, &instant.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string());
            let mut by_span = String::new();
            let inside = span.write(at, &mut by_span);
            prop_assert_eq!(inside, at < span.until);
            if inside {
                prop_assert_eq!(&by_span, &by_zone);
            } else {
                prop_assert!(by_span.is_empty());
                // The span ends at a transition of the zone (some keep
                // the offset and change only the abbreviation).
                let before = jiff::Timestamp::from_second(span.until - 1).unwrap();
                let next = tz.following(before).next().unwrap();
                prop_assert_eq!(next.timestamp().as_second(), span.until);
            }
            prop_assert!(!span.write(made - 1, &mut String::new()));
        }

        /// One clock writing many instants, in any order (its remembered
        /// offset is used only where it holds), writes what jiff's own
        /// conversion gives, over all years jiff has.
        #[test]
        fn a_clock_writes_each_instant_as_the_zone_names_it(
            zone in prop::sample::select(ZONES),
            instants in prop::collection::vec(
                prop_oneof![
                    1_500_000_000i64..1_700_000_000,
                    -62_135_596_800i64..=LAST_SECOND,
                    -63_000_000_000i64..-62_000_000_000,
                ],
                1..40,
            ),
            steps in prop::collection::vec(0i64..100_000, 1..40),
        ) {
            let clock = LocalClock::new(zone);
            let tz = TimeZone::get(zone).unwrap();
            let walk = instants.iter().zip(steps.iter().cycle()).flat_map(|(&at, &step)| [at, at + step]);
            for at in walk {
                let mut written = String::new();
                clock.write(at, &mut written);
                let local = tz.to_datetime(jiff::Timestamp::from_second(at).unwrap());
                let expected = if local.year() < 0 {
                    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", local.year(), local.month(), local.day(), local.hour(), local.minute(), local.second())
                } else {
                    local.strftime("%Y-%m-%d %H:%M:%S").to_string()
                };
                prop_assert_eq!(written, expected, "{} in {}", at, zone);
            }
        }

        #[test]
        fn formatted_times_name_the_instant(
            zone in prop::sample::select(ZONES),
            seconds in prop_oneof![0..=LAST_SECOND, 1_500_000_000i64..1_700_000_000, any::<i64>()],
        ) {
            let mut clock = LocalClock::new(zone);
            let text = clock.format(seconds).to_owned();
            prop_assert!(clock.format_minutes(seconds).len() <= 16);
            let Ok(instant) = jiff::Timestamp::from_second(seconds) else {
                prop_assert_eq!(text, "0000-00-00 00:00:00");
                return Ok(());
            };
            let tz = TimeZone::get(zone).unwrap();
            if tz.to_datetime(instant).year() < 0 {
                return Ok(());
            }
            prop_assert_eq!(text.len(), 19);
            // Back from the text: the instant is one of the (one or two, in
            // a fold) instants the local time names.
            let local = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", &text).unwrap();
            let ambiguous = tz.to_ambiguous_timestamp(local);
            let candidates = [
                ambiguous.earlier().unwrap(),
                ambiguous.later().unwrap(),
            ];
            prop_assert!(candidates.contains(&instant), "{} {:?}", text, candidates);
        }

        #[test]
        fn a_day_starts_at_its_first_instant(zone in prop::sample::select(ZONES), day in date()) {
            let mut clock = LocalClock::new(zone);
            let Ok(start) = clock.start_of_day(day) else {
                // Only at the end of time.
                prop_assert!(day.year() == 9999);
                return Ok(());
            };
            let name = day.to_string();
            // Every instant before it is on an earlier local day, and it is
            // on this day (or, for a day the zone skipped, a later one).
            prop_assert!(clock.format(start)[..10] >= *name, "{}", clock.format(start));
            prop_assert!(clock.format(start - 1)[..10] < *name, "{}", clock.format(start - 1));
            if let Ok(next) = day.tomorrow()
                && let Ok(next_start) = clock.start_of_day(next)
            {
                prop_assert!(next_start >= start && next_start - start <= 26 * 3600);
            }
        }

        #[test]
        fn ticks_are_in_the_window_in_order(
            zone in prop::sample::select(ZONES),
            from in prop_oneof![0..=LAST_SECOND, any::<i64>()],
            length in prop_oneof![0i64..=4 * 86_400, 0i64..=20 * 366 * 86_400, any::<i64>()],
        ) {
            let clock = LocalClock::new(zone);
            let to = from.saturating_add(length);
            let ticks = clock.ticks(from, to);
            prop_assert!(ticks.len() <= 500);
            prop_assert!(ticks.iter().all(|(at, label)| (from..to).contains(at) && !label.is_empty()));
            prop_assert!(ticks.windows(2).all(|pair| pair[0].0 < pair[1].0));
        }
    }
}
