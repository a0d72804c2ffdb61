//! Readings: cumulative register values per point and time, the latest of
//! them, and the interval rule.

use crate::error::ApiError;
use crate::storage::{Sql, SqlValue};

/// Readings per multi-row INSERT (4 parameters each, far below SQLite's
/// 32766-parameter limit).
const ROWS_PER_INSERT: usize = 1000;

/// One reading ready to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewReading {
    pub point_id: i64,
    pub ts: i64,
    pub value: f64,
}

/// Stores readings; a (point, time) already stored is left as it is.
/// Returns how many were new, from SQLite's change counter of this
/// connection (a skipped duplicate is no change), so no row comes back.
pub fn insert(db: &dyn Sql, project_id: i64, readings: &[NewReading]) -> Result<u64, ApiError> {
    let before = total_changes(db)?;
    for chunk in readings.chunks(ROWS_PER_INSERT) {
        let mut statement = String::with_capacity(80 + chunk.len() * 12);
        statement.push_str("INSERT INTO readings (project_id, ts, point_id, value) VALUES ");
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for (index, reading) in chunk.iter().enumerate() {
            statement.push_str(if index == 0 {
                "(?,?,?,?)"
            } else {
                ",(?,?,?,?)"
            });
            params.push(SqlValue::Integer(project_id));
            params.push(SqlValue::Integer(reading.ts));
            params.push(SqlValue::Integer(reading.point_id));
            params.push(SqlValue::Real(reading.value));
        }
        statement.push_str(" ON CONFLICT DO NOTHING");
        db.execute(&statement, &params)?;
    }
    Ok((total_changes(db)? - before) as u64)
}

fn total_changes(db: &dyn Sql) -> Result<i64, ApiError> {
    db.execute("SELECT total_changes()", &[])?
        .first()
        .ok_or_else(|| ApiError::internal("SELECT total_changes() returned no row"))?
        .int(0)
        .map_err(ApiError::from)
}

/// The latest reading and the latest interval of every point of a project,
/// each `(point id, time, value)` in point order.
#[derive(Debug, Default, PartialEq)]
pub struct Latest {
    /// Every point that has a reading.
    pub readings: Vec<(i64, i64, f64)>,
    /// Every point that has two readings or more; see [`interval`].
    pub intervals: Vec<(i64, i64, f64)>,
}

/// [`Latest`] of a project, in one statement: the last three readings of
/// each point, oldest first.
pub fn latest(db: &dyn Sql, project_id: i64) -> Result<Latest, ApiError> {
    let rows = db.execute(
        "SELECT p.id, r.ts, r.value FROM points p \
         JOIN readings r ON r.point_id = p.id \
          AND r.ts >= COALESCE((SELECT ts FROM readings WHERE point_id = p.id \
                                ORDER BY ts DESC LIMIT 1 OFFSET 2), -9223372036854775808) \
         WHERE p.project_id = ? ORDER BY p.id, r.ts",
        &[project_id.into()],
    )?;
    let mut latest = Latest::default();
    let mut current: Option<i64> = None;
    let mut values: Vec<f64> = Vec::with_capacity(3);
    let mut last_ts = 0;
    let mut flush = |point: Option<i64>, values: &[f64], ts: i64| {
        if let (Some(point_id), Some(&value)) = (point, values.last()) {
            latest.readings.push((point_id, ts, value));
            if let Some(interval) = interval(values) {
                latest.intervals.push((point_id, ts, interval));
            }
        }
    };
    for row in rows.iter() {
        let point_id = row.int(0)?;
        if current.is_some_and(|id| id != point_id) {
            flush(current.take(), &values, last_ts);
            values.clear();
        }
        current = Some(point_id);
        last_ts = row.int(1)?;
        values.push(real(&row.0[2])?);
    }
    flush(current, &values, last_ts);
    Ok(latest)
}

fn real(value: &SqlValue) -> Result<f64, ApiError> {
    match value {
        SqlValue::Real(x) => Ok(*x),
        SqlValue::Integer(n) => Ok(*n as f64),
        other => Err(ApiError::internal(format!(
            "a reading's value is {other:?}"
        ))),
    }
}

/// The interval at the latest of a point's last readings (oldest first,
/// up to three): what the meter counted since the reading before.
///
/// A cumulative counter can go backwards: a reset, a replaced meter, a
/// register rollover or a one-reading glitch (a read of 0). The rule never
/// yields a negative or absurd interval:
/// - the counter went backwards at the latest reading → `0` (what was
///   counted across the drop is unknown; the new value is the new base);
/// - the reading before was a drop and the latest is back at or above the
///   value before the drop → that drop was a glitch: the interval is
///   measured from the value before it;
/// - otherwise the plain difference.
///
/// Fewer than two readings → `None`.
pub fn interval(values: &[f64]) -> Option<f64> {
    // Readings are bounded at ingest, so a difference is always finite;
    // values stored before that bound still never give a non-finite answer.
    let difference = match *values {
        [.., previous, latest] if latest < previous => Some(0.0),
        [before, dropped, latest] if dropped < before && latest >= before => Some(latest - before),
        [.., previous, latest] => Some(latest - previous),
        _ => None,
    };
    difference.map(|value| if value.is_finite() { value } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::interval;

    #[test]
    fn intervals_never_go_negative_or_absurd() {
        assert_eq!(interval(&[]), None);
        assert_eq!(interval(&[5.0]), None);
        assert_eq!(interval(&[28540.24, 28540.74]), Some(28540.74 - 28540.24));
        assert_eq!(interval(&[1.0, 2.0, 2.5]), Some(0.5));
        // Reset, replacement or rollover: the drop itself counts 0 …
        assert_eq!(interval(&[100.0, 200.0, 3.0]), Some(0.0));
        // … and counting resumes from the new base.
        assert_eq!(interval(&[200.0, 3.0, 3.4]), Some(3.4 - 3.0));
        // A glitch to 0 and back: measured from the value before it.
        assert_eq!(interval(&[28540.0, 0.0]), Some(0.0));
        assert_eq!(interval(&[28540.0, 0.0, 28540.5]), Some(0.5));
        // Unchanged counter.
        assert_eq!(interval(&[7.0, 7.0, 7.0]), Some(0.0));
        // Absurd values stored before ingest bounded them: never Infinity.
        assert_eq!(interval(&[-1e308, 1e308]), Some(0.0));
        assert_eq!(interval(&[1e308, -1e308, 1e308]), Some(0.0));
    }
}
