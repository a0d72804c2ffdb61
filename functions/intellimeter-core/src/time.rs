//! Instants shown in a project's local time zone.

/// True when `name` is an IANA time zone this build knows
/// (`America/Toronto`, `UTC`, …).
pub fn is_known_time_zone(name: &str) -> bool {
    !name.is_empty() && jiff::tz::TimeZone::get(name).is_ok()
}

/// `YYYY-mm-dd HH:MM:SS` of `unix_seconds` in time zone `zone` (UTC if the
/// zone is unknown, which validation at provisioning prevents).
pub fn local_date_time(unix_seconds: i64, zone: &str) -> String {
    let zone = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_second(unix_seconds) {
        Ok(instant) => instant
            .to_zoned(zone)
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => "0000-00-00 00:00:00".to_owned(),
    }
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
}
