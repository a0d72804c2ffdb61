//! RFC 3339 times on the wire. The collector writes `YYYY-mm-ddTHH:MM:SSZ`
//! ([`format_utc`]); ingest reads any RFC 3339 time with an offset, that
//! form without the general parser (it is most of the CPU time of a large
//! batch).

/// An RFC 3339 time with an offset (`2019-10-30T17:15:00Z`), as whole
/// seconds since the epoch (fractions are dropped), from 1970 on.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let before_1970 = || format!("{text:?} is before 1970");
    let seconds = match parse_utc_seconds(text) {
        Some(seconds) => seconds,
        None => {
            let instant = text.parse::<jiff::Timestamp>().map_err(|_| {
                format!("{text:?} is not an RFC 3339 time such as 2019-10-30T17:15:00Z")
            })?;
            // Before dropping the fraction, which rounds toward zero.
            if instant < jiff::Timestamp::UNIX_EPOCH {
                return Err(before_1970());
            }
            instant.as_second()
        }
    };
    if seconds < 0 {
        return Err(before_1970());
    }
    Ok(seconds)
}

/// `unix_seconds` as `YYYY-mm-ddTHH:MM:SSZ` (years 0 to 9999).
pub fn format_utc(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    // Civil date of a day count since 1970-01-01 (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The collector's own form, `YYYY-mm-ddTHH:MM:SSZ`, parsed without the
/// general RFC 3339 parser. `None` for anything else, which then goes
/// through jiff.
fn parse_utc_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_and_the_writer_agree_with_jiff() {
        let mut ts = -86_400i64;
        while ts < 4_102_444_800 {
            let text = jiff::Timestamp::from_second(ts).unwrap().to_string();
            assert_eq!(parse_utc_seconds(&text), Some(ts), "{text}");
            assert_eq!(format_utc(ts), text);
            ts += 86_400 * 7 + 3_599;
        }
        for odd in [
            "2019-02-29T00:00:00Z",
            "2019-13-01T00:00:00Z",
            "2019-10-30T24:00:00Z",
            "2019-10-30T17:15:60Z",
            "2019-10-30t17:15:00Z",
            "2019-10-30T17:15:0xZ",
        ] {
            assert_eq!(parse_utc_seconds(odd), None, "{odd}");
        }
        assert_eq!(
            parse_utc_seconds("2020-02-29T00:00:00Z"),
            Some(1_582_934_400)
        );
        assert_eq!(format_utc(1_582_934_400), "2020-02-29T00:00:00Z");
    }

    #[test]
    fn times_are_rfc3339_with_an_offset() {
        assert_eq!(parse_time("2019-10-30T17:15:00Z"), Ok(1_572_455_700));
        assert_eq!(parse_time("2019-10-30T13:15:00-04:00"), Ok(1_572_455_700));
        assert_eq!(parse_time("2019-10-30T17:15:00.999Z"), Ok(1_572_455_700));
        assert!(parse_time("2019-10-30 17:15:00").is_err());
        assert!(parse_time("2019-10-30T17:15:00").is_err(), "no offset");
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn a_fraction_of_a_second_before_1970_is_before_1970() {
        // Dropping the fraction rounds toward zero: this was read as 0.
        assert!(parse_time("1969-12-31T23:59:59.5Z").is_err());
        assert!(parse_time("1970-01-01T00:59:59.5+01:00").is_err());
        assert_eq!(parse_time("1970-01-01T00:00:00.5Z"), Ok(0));
    }
}
