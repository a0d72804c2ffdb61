//! Wall-clock boundaries: a meter that saves every 5 minutes is read at
//! 13:15:00, 13:20:00, … UTC (and so local time in every zone whose offset
//! is whole quarter hours), and its reading is stamped with that boundary,
//! however long the bus took to reach it.

/// The first boundary of `every` seconds strictly after `now`.
pub fn next_boundary(now: i64, every: i64) -> i64 {
    (now.div_euclid(every) + 1) * every
}

/// The last boundary of `every` seconds at or before `now`.
pub fn last_boundary(now: i64, every: i64) -> i64 {
    now.div_euclid(every) * every
}

/// Whether a meter read every `every` seconds is due at `boundary`.
pub fn is_due(boundary: i64, every: i64) -> bool {
    boundary.rem_euclid(every) == 0
}

/// The next time any of `periods` is due after `now`, and which of them
/// (indices) are due then.
pub fn next_cycle(now: i64, periods: &[i64]) -> Option<(i64, Vec<usize>)> {
    let at = periods.iter().map(|&p| next_boundary(now, p)).min()?;
    let due = (0..periods.len())
        .filter(|&i| is_due(at, periods[i]))
        .collect();
    Some((at, due))
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2019-10-30T13:12:34Z
    const T: i64 = 1_572_441_154;

    #[test]
    fn boundaries_are_on_the_wall_clock() {
        assert_eq!(
            ingest_wire::format_utc(next_boundary(T, 300)),
            "2019-10-30T13:15:00Z"
        );
        assert_eq!(
            ingest_wire::format_utc(last_boundary(T, 300)),
            "2019-10-30T13:10:00Z"
        );
        assert_eq!(
            ingest_wire::format_utc(next_boundary(T, 900)),
            "2019-10-30T13:15:00Z"
        );
        assert_eq!(
            ingest_wire::format_utc(next_boundary(T, 3600)),
            "2019-10-30T14:00:00Z"
        );
        assert_eq!(
            ingest_wire::format_utc(next_boundary(T, 86_400)),
            "2019-10-31T00:00:00Z"
        );
        // Exactly on a boundary: the next one, never the same one twice.
        let on = 1_572_441_300; // 13:15:00
        assert_eq!(next_boundary(on, 300), on + 300);
        assert_eq!(last_boundary(on, 300), on);
    }

    #[test]
    fn a_cycle_takes_every_meter_due_at_its_boundary() {
        // 1, 5 and 15 minutes, at 13:12:34: next is 13:13, only the first.
        assert_eq!(next_cycle(T, &[60, 300, 900]), Some((T - 34 + 60, vec![0])));
        // At 13:14:59: 13:15 is due for all three.
        assert_eq!(
            next_cycle(T + 145, &[60, 300, 900]),
            Some((1_572_441_300, vec![0, 1, 2]))
        );
        // At 13:15:00 the next is 13:16 again.
        assert_eq!(
            next_cycle(1_572_441_300, &[60, 300, 900]),
            Some((1_572_441_360, vec![0]))
        );
        assert_eq!(next_cycle(T, &[]), None);
    }
}
