//! Local days and ranges of them, as `/file`, `/graphics` and `/series`
//! take them: `YYYY-mm-dd` from 1970, either order, at most
//! [`MAX_RANGE_DAYS`], and the instants a range starts and ends in a time
//! zone (DST days are 23 or 25 hours long).

use crate::domain::time::LocalClock;
use crate::error::ApiError;
use jiff::civil::Date;

/// The longest range one request may ask for.
pub const MAX_RANGE_DAYS: i32 = 3_660;

/// The range of local days `start` and `end` name (the texts of those
/// parameters), as `(first, last)`: 400 for a day that is not one, or a
/// range longer than [`MAX_RANGE_DAYS`].
pub fn range(start: &str, end: &str) -> Result<(Date, Date), ApiError> {
    day_range(parse_day("start", start)?, parse_day("end", end)?)
}

/// Two local days in either order as `(first, last)`, at most
/// [`MAX_RANGE_DAYS`] apart.
pub fn day_range(a: Date, b: Date) -> Result<(Date, Date), ApiError> {
    let (first, last) = if a <= b { (a, b) } else { (b, a) };
    let days = (last - first).get_days() + 1;
    if days > MAX_RANGE_DAYS {
        return Err(ApiError::bad_request(format!(
            "the range has {days} days; at most {MAX_RANGE_DAYS} per request"
        )));
    }
    Ok((first, last))
}

/// The instants local days `first` to `last` (inclusive) start and end:
/// `[start of first, start of the day after last)`.
pub fn instants(clock: &LocalClock, first: Date, last: Date) -> Result<(i64, i64), ApiError> {
    let start = clock.start_of_day(first).map_err(ApiError::bad_request)?;
    let day_after = last
        .tomorrow()
        .map_err(|_| ApiError::bad_request("end is the last day there is"))?;
    let end = clock
        .start_of_day(day_after)
        .map_err(ApiError::bad_request)?;
    Ok((start, end))
}

/// A local day as `YYYY-mm-dd`, from 1970.
pub fn parse_day(field: &str, text: &str) -> Result<Date, ApiError> {
    let valid_shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    valid_shape
        .then(|| text.parse::<Date>().ok())
        .flatten()
        .filter(|date| date.year() >= 1970)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{field} must be a day as YYYY-mm-dd (from 1970), not {text:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_strict() {
        assert!(parse_day("start", "2019-10-30").is_ok());
        for bad in [
            "2019-10-3",
            "2019/10/30",
            "2019-13-01",
            "2019-02-30",
            "30-10-2019",
            "1969-12-31",
            "",
            "2019-10-30T00:00",
        ] {
            assert_eq!(parse_day("start", bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_date() -> impl Strategy<Value = Date> {
        (-9999i16..=9999, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
    }

    fn stored_date() -> impl Strategy<Value = Date> {
        (1970i16..=9999, 1i8..=12, 1i8..=31).prop_map(|(y, m, d)| {
            Date::new(y, m, 1)
                .unwrap()
                .with()
                .day(d.min(Date::new(y, m, 1).unwrap().days_in_month()))
                .build()
                .unwrap()
        })
    }

    proptest! {
        #![proptest_config(test_support::proptest_config(1000))]

        #[test]
        fn a_day_is_parsed_only_from_its_own_text(
            text in prop_oneof!["[0-9]{4}-[0-9]{2}-[0-9]{2}", "[0-9-]{8,12}", any::<String>()],
        ) {
            match parse_day("start", &text) {
                Ok(day) => prop_assert!(day.to_string() == text && day.year() >= 1970),
                Err(error) => {
                    prop_assert_eq!(error.status(), 400);
                    prop_assert!(error.message.starts_with("start must be a day"));
                }
            }
        }

        #[test]
        fn every_day_since_1970_round_trips(day in stored_date()) {
            prop_assert_eq!(parse_day("end", &day.to_string()).unwrap(), day);
        }

        #[test]
        fn ranges_take_either_order_and_are_bounded(a in prop_oneof![stored_date(), any_date()], b in prop_oneof![stored_date(), any_date()]) {
            let days = ((b - a).get_days().abs()) + 1;
            match day_range(a, b) {
                Ok((first, last)) => {
                    prop_assert!(first <= last);
                    prop_assert!((first, last) == (a, b) || (first, last) == (b, a));
                    prop_assert!(days <= MAX_RANGE_DAYS);
                    prop_assert_eq!(day_range(b, a).unwrap(), (first, last));
                }
                Err(error) => {
                    prop_assert_eq!(error.status(), 400);
                    prop_assert!(days > MAX_RANGE_DAYS);
                }
            }
        }

        #[test]
        fn a_range_of_days_is_a_span_of_instants(
            zone in prop::sample::select(&["UTC", "America/Toronto", "Pacific/Apia", "Australia/Lord_Howe"][..]),
            a in stored_date(),
            length in 0i32..MAX_RANGE_DAYS,
        ) {
            let clock = LocalClock::new(zone);
            let b = a.checked_add(jiff::Span::new().days(length)).unwrap_or(a);
            let (first, last) = day_range(a, b).unwrap();
            match instants(&clock, first, last) {
                Ok((start, end)) => prop_assert!(start < end && end - start <= (i64::from(length) + 2) * 86_400),
                Err(error) => prop_assert!(error.status() == 400 && last.year() == 9999),
            }
        }
    }
}
