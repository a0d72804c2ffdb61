//! `/usage`'s local days and hours, kept in SQL (`usage_buckets`,
//! migrations 0008 and 0009): a row per day or hour holds every point's
//! bucket of it, each packed ([`PackedBucket`]). A year of days of 100
//! meters is 365 rows read as one value, where computing them from the
//! rollups sums 330,000 rollups and sorts them into days; a month of
//! hours is 744 rows, where reading the hour rollups lowers 74,400 rows
//! into the component. A bucket is computed for every point of the
//! project the first time a request for every point needs it
//! ([`tallies`], under the write lock, from the rollups as
//! [`usage::bucket_tallies`] sums them; one meter's request sums its own
//! missing buckets and stores nothing) and forgotten by every write of
//! readings that may change it ([`forget_from`], in the write's
//! transaction). So a stored bucket is always what the rollups give now.

use crate::domain::ids::{PointId, ProjectId};
use crate::domain::readings::{Peak, Scope, Tally};
use crate::domain::usage::{self, BucketCell, BucketTallies};
use crate::error::ApiError;
use crate::storage::{Sql, SqlValue, in_transaction};

/// The most rows one request computes and stores (a year of days of 270
/// meters, a month of hours of 130); a request that misses more is
/// answered from the rollups directly, as before buckets were kept.
pub const MAX_FILL: usize = 100_000;
/// About how many bytes of buckets one insert carries (at most 1,000 rows
/// of 4 parameters, below SQLite's 32,766; at least one row).
const BYTES_PER_INSERT: usize = 1 << 20;

/// Which buckets are kept: local days or hours (`usage_buckets.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Days = 1,
    Hours = 2,
}

impl Kept {
    fn kind(self) -> SqlValue {
        SqlValue::Integer(self as i64)
    }
}

/// Each point's tally per bucket, `(point, index) → tally` of the buckets
/// `[days[i], days[i+1])` (local days or hours, as `kept` says; a bucket
/// without intervals has none), of the points `points` (all in `scope`;
/// every point of the project when `scope` names none). Stored buckets
/// are read. Missing ones are computed: for every point, and stored
/// first, when the request is for every point; for the request's points
/// alone, and not stored, when it names some (a stored row holds a bucket
/// of every point). `None` when more than [`MAX_FILL`] are missing.
pub fn tallies(
    db: &dyn Sql,
    scope: Scope,
    points: &[PointId],
    days: &[i64],
    kept: Kept,
) -> Result<Option<BucketTallies>, ApiError> {
    let mut stored = read(db, scope.project_id, points, days, kept)?;
    if stored.missing.is_empty() {
        return Ok(Some(stored.tallies));
    }
    if stored.missing.len().saturating_mul(points.len()) > MAX_FILL {
        return Ok(None);
    }
    if scope.points.is_some() {
        fill(db, scope, days, &mut stored, None)?;
        return Ok(Some(stored.tallies));
    }
    // Under the write lock: a write between reading the rollups and
    // storing the days would otherwise leave days it changed stored.
    in_transaction(db, |db| {
        let mut stored = read(db, scope.project_id, points, days, kept)?;
        fill(db, scope, days, &mut stored, Some((points, kept)))?;
        Ok::<_, ApiError>(Some(stored.tallies))
    })
}

/// Computes `stored`'s missing days of the points of `scope` from the
/// rollups, storing them as rows of the points `keep` names.
fn fill(
    db: &dyn Sql,
    scope: Scope,
    days: &[i64],
    stored: &mut Stored,
    keep: Option<(&[PointId], Kept)>,
) -> Result<(), ApiError> {
    for run in runs(&stored.missing) {
        let bounds = &days[run.start..=run.end];
        let computed = usage::bucket_tallies(db, scope, bounds)?;
        if let Some((points, kept)) = keep {
            store(db, scope.project_id, points, bounds, &computed, kept)?;
        }
        for ((point, index), tally) in computed.iter() {
            if stored.wanted.binary_search(&point).is_ok() {
                stored.tallies.set(point, run.start + index, tally)?;
            }
        }
    }
    Ok(())
}

/// Forgets the project's stored days and hours that a write of readings
/// from `earliest` on may change: an interval it changes ends at
/// `earliest` or later (a reading changes the intervals ending at it and
/// at the next two readings after it), so it lies in a bucket that ends
/// then or later. Call in the write's transaction.
pub fn forget_from(db: &dyn Sql, project_id: i64, earliest: i64) -> Result<(), ApiError> {
    // Each kind a range of the primary key.
    db.execute(
        "DELETE FROM usage_buckets WHERE project_id = ? AND kind IN (1, 2) AND until >= ?",
        &[project_id.into(), earliest.into()],
    )?;
    Ok(())
}

/// What is stored of some days.
struct Stored {
    tallies: BucketTallies,
    /// The points asked for, ascending.
    wanted: Vec<PointId>,
    /// The days (indices) some wanted point has no bucket of, ascending.
    missing: Vec<usize>,
}

fn read(
    db: &dyn Sql,
    project_id: ProjectId,
    points: &[PointId],
    days: &[i64],
    kept: Kept,
) -> Result<Stored, ApiError> {
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Ok(Stored {
            tallies: BucketTallies::default(),
            wanted: Vec::new(),
            missing: Vec::new(),
        });
    };
    let mut wanted = points.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    // Every stored bucket of the range: a row per bucket, each holding
    // its points' packed buckets end to end (a month of hours is 744
    // rows). Each names its point and bounds, so their order does not
    // matter; a row holds a bucket of every point, so one point's
    // request reads the others' too and leaves them.
    let sql = "SELECT buckets FROM usage_buckets \
               WHERE project_id = ?1 AND kind = ?2 AND until > ?3 AND until <= ?4";
    let params = [project_id.into(), kept.kind(), first.into(), last.into()];
    let stored_rows = db.execute(sql, &params)?;
    let buckets = days.len() - 1;
    let mut found = vec![0usize; buckets];
    // A row per wanted point, in `wanted`'s order.
    let mut rows = vec![vec![BucketCell::EMPTY; buckets]; wanted.len()];
    let mut index = 0;
    // Where each place in a stored row was found in `wanted` (rows
    // stored together list their points in one order).
    let mut places: Vec<Option<(PointId, usize)>> = Vec::new();
    for stored in stored_rows.iter() {
        let packed = match stored.0.first() {
            Some(SqlValue::Blob(bytes)) => &bytes[..],
            other => {
                return Err(ApiError::internal(format!(
                    "kept buckets came back as {other:?}"
                )));
            }
        };
        if packed.len() % PackedBucket::BYTES != 0 {
            return Err(ApiError::internal(format!(
                "{} bytes of kept buckets, not a whole number of buckets",
                packed.len()
            )));
        }
        for (place, bytes) in packed.chunks_exact(PackedBucket::BYTES).enumerate() {
            let day = PackedBucket::read(bytes);
            // They come in the order of their ends (the primary key's), so
            // most end where the one before did.
            if days.get(index + 1) != Some(&day.until) {
                // A day stored with other bounds (not of these days) is not
                // used.
                let Ok(found_at) = days[1..].binary_search(&day.until) else {
                    continue;
                };
                index = found_at;
            }
            if day.start != days[index] {
                continue;
            }
            if places.len() <= place {
                places.resize(place + 1, None);
            }
            let row = match places[place] {
                Some((point, row)) if point == day.point => row,
                _ => {
                    let Ok(row) = wanted.binary_search(&day.point) else {
                        continue;
                    };
                    places[place] = Some((day.point, row));
                    row
                }
            };
            found[index] += 1;
            rows[row][index] = BucketCell::of(&day.tally);
        }
    }
    let missing = (0..found.len())
        .filter(|&index| found[index] < wanted.len())
        .collect();
    let tallies = BucketTallies::from_rows(buckets, wanted.iter().copied().zip(rows));
    Ok(Stored {
        tallies,
        wanted,
        missing,
    })
}

/// One stored day or hour of one point, as a `buckets` row holds one per
/// point, end to end: eight
/// little-endian 8-byte numbers, `point, start, until, total, count,
/// peak demand, peak start, peak end` (the floats as their IEEE bits, so
/// a day reads back exactly as it was computed).
#[derive(Debug, Clone, Copy, PartialEq)]
struct PackedBucket {
    point: PointId,
    start: i64,
    until: i64,
    tally: Tally,
}

impl PackedBucket {
    const BYTES: usize = 64;

    fn to_bytes(self) -> [u8; Self::BYTES] {
        let mut bytes = [0u8; Self::BYTES];
        let fields = [
            self.point.get().to_le_bytes(),
            self.start.to_le_bytes(),
            self.until.to_le_bytes(),
            self.tally.total.to_le_bytes(),
            self.tally.count.to_le_bytes(),
            self.tally.peak.demand.to_le_bytes(),
            self.tally.peak.start.to_le_bytes(),
            self.tally.peak.end.to_le_bytes(),
        ];
        for (slot, field) in bytes.chunks_exact_mut(8).zip(fields) {
            slot.copy_from_slice(&field);
        }
        bytes
    }

    /// The day in `bytes` ([`Self::BYTES`] of them).
    fn read(bytes: &[u8]) -> Self {
        let field = |index: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
            word
        };
        let int = |index: usize| i64::from_le_bytes(field(index));
        let float = |index: usize| f64::from_le_bytes(field(index));
        let total = float(3);
        PackedBucket {
            point: PointId(int(0)),
            start: int(1),
            until: int(2),
            tally: Tally {
                total,
                low: total,
                high: total,
                count: int(4),
                peak: Peak {
                    demand: float(5),
                    start: int(6),
                    end: int(7),
                },
            },
        }
    }
}

/// Runs of consecutive indices (the days of a run `r` are bounded by
/// `days[r.start..=r.end]`).
fn runs(indices: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    for &index in indices {
        match runs.last_mut() {
            Some(run) if run.end == index => run.end = index + 1,
            _ => runs.push(index..index + 1),
        }
    }
    runs
}

/// Stores the days `[bounds[i], bounds[i+1])`, a row each holding every
/// point of `points` (the project's), from their tallies (a day without
/// one is stored empty).
fn store(
    db: &dyn Sql,
    project_id: ProjectId,
    points: &[PointId],
    bounds: &[i64],
    computed: &BucketTallies,
    kept: Kept,
) -> Result<(), ApiError> {
    let empty = Tally {
        total: 0.0,
        low: 0.0,
        high: 0.0,
        count: 0,
        peak: Peak {
            demand: 0.0,
            start: 0,
            end: 0,
        },
    };
    let rows_per_insert =
        (BYTES_PER_INSERT / (points.len().max(1) * PackedBucket::BYTES)).clamp(1, 1_000);
    let indices: Vec<usize> = (0..bounds.len() - 1).collect();
    for chunk in indices.chunks(rows_per_insert) {
        let mut sql = String::with_capacity(80 + chunk.len() * 10);
        sql.push_str(
            "INSERT OR REPLACE INTO usage_buckets (project_id, kind, until, buckets) VALUES ",
        );
        let mut params: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 4);
        for (position, &index) in chunk.iter().enumerate() {
            sql.push_str(if position == 0 {
                "(?,?,?,?)"
            } else {
                ",(?,?,?,?)"
            });
            let mut row = Vec::with_capacity(points.len() * PackedBucket::BYTES);
            for &point in points {
                let day = PackedBucket {
                    point,
                    start: bounds[index],
                    until: bounds[index + 1],
                    tally: computed.get(point, index).unwrap_or(empty),
                };
                row.extend_from_slice(&day.to_bytes());
            }
            params.extend([
                project_id.into(),
                kept.kind(),
                bounds[index + 1].into(),
                SqlValue::Blob(row),
            ]);
        }
        db.execute(&sql, &params)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_bucket_reads_back_as_it_was() {
        let day = PackedBucket {
            point: PointId(-3),
            start: i64::MIN,
            until: i64::MAX,
            tally: Tally {
                total: 0.1 + 0.2,
                low: 0.1 + 0.2,
                high: 0.1 + 0.2,
                count: 287,
                peak: Peak {
                    demand: -0.0,
                    start: 1_572_393_600,
                    end: 1_572_393_900,
                },
            },
        };
        let read = PackedBucket::read(&day.to_bytes());
        assert_eq!(read, day);
        assert!(read.tally.peak.demand.is_sign_negative());
    }

    #[test]
    fn runs_join_consecutive_days() {
        assert_eq!(runs(&[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(runs(&[0, 1, 2, 5, 7, 8]), vec![0..3, 5..6, 7..9]);
    }
}
