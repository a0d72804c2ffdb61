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
    // rows). A row names its bounds and each bucket its point, so their
    // order does not matter; a row holds a bucket of every point, so one
    // point's request reads the others' too and leaves them.
    let sql = "SELECT until, buckets FROM usage_buckets \
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
        let until = stored.int(0)?;
        // A row this code did not write (another layout) is missing.
        let Some((start, packed)) = stored.0.get(1).and_then(KeptRow::read) else {
            continue;
        };
        // They come in the order of their ends (the primary key's), so
        // most end where the one before did.
        if days.get(index + 1) != Some(&until) {
            // A bucket stored with other bounds (not of these) is not
            // used.
            let Ok(found_at) = days[1..].binary_search(&until) else {
                continue;
            };
            index = found_at;
        }
        if start != days[index] {
            continue;
        }
        for (place, bytes) in packed.iter().enumerate() {
            let bucket = PackedBucket::read(bytes, start);
            if places.len() <= place {
                places.resize(place + 1, None);
            }
            let row = match places[place] {
                Some((point, row)) if point == bucket.point => row,
                _ => {
                    let Ok(row) = wanted.binary_search(&bucket.point) else {
                        continue;
                    };
                    places[place] = Some((bucket.point, row));
                    row
                }
            };
            found[index] += 1;
            rows[row][index] = BucketCell::of(&bucket.tally);
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

/// A kept row's `buckets`: [`KeptRow::MARK`], the bucket's start (a
/// little-endian `i64`), then each point's [`PackedBucket`] end to end.
struct KeptRow;

impl KeptRow {
    /// What a row of this layout starts with (0009's rows, of 64-byte
    /// buckets, did not: they are missing to this code, and computed
    /// again).
    const MARK: [u8; 8] = *b"usage:2\0";
    const HEADER_BYTES: usize = 16;

    /// The row of the bucket that starts at `start`, of `buckets` packed.
    fn bytes(start: i64, buckets: &[[u8; PackedBucket::BYTES]]) -> Vec<u8> {
        let mut row = Vec::with_capacity(Self::HEADER_BYTES + buckets.len() * PackedBucket::BYTES);
        row.extend_from_slice(&Self::MARK);
        row.extend_from_slice(&start.to_le_bytes());
        for bucket in buckets {
            row.extend_from_slice(bucket);
        }
        row
    }

    /// The bucket's start and its points' packed buckets; `None` for a
    /// value that is not such a row.
    fn read(value: &SqlValue) -> Option<(i64, &[[u8; PackedBucket::BYTES]])> {
        let SqlValue::Blob(bytes) = value else {
            return None;
        };
        let (header, packed) = bytes.split_first_chunk::<{ Self::HEADER_BYTES }>()?;
        let (mark, start) = header.split_first_chunk::<8>()?;
        let start: [u8; 8] = start.try_into().ok()?;
        if *mark != Self::MARK {
            return None;
        }
        let (buckets, rest) = packed.as_chunks::<{ PackedBucket::BYTES }>();
        rest.is_empty()
            .then_some((i64::from_le_bytes(start), buckets))
    }
}

/// One stored day or hour of one point, in 32 bytes (a kept row holds
/// one per point, [`KeptRow`]), little-endian: the point (`u32`), the
/// number of intervals (`u32`), the total and the peak demand (`f64`, as
/// their IEEE bits, so a bucket reads back exactly as it was computed),
/// the peak's start in seconds from the bucket's (`i32`) and its length
/// (`u32`). Half of the 64 bytes of writing each as an `i64`, which a
/// month of hours reads 74,400 of.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PackedBucket {
    point: PointId,
    tally: Tally,
}

impl PackedBucket {
    const BYTES: usize = 32;

    /// The bucket of the bucket row that starts at `start`; `None` when a
    /// number does not fit its place (a row holding such a bucket is not
    /// kept: it is computed on every request).
    fn to_bytes(self, start: i64) -> Option<[u8; Self::BYTES]> {
        let Tally {
            total, count, peak, ..
        } = self.tally;
        // The peak of no intervals is none.
        let (offset, length) = if count == 0 {
            (0, 0)
        } else {
            (
                i32::try_from(peak.start.checked_sub(start)?).ok()?,
                u32::try_from(peak.end.checked_sub(peak.start)?).ok()?,
            )
        };
        let mut bytes = [0u8; Self::BYTES];
        bytes[0..4].copy_from_slice(&u32::try_from(self.point.get()).ok()?.to_le_bytes());
        bytes[4..8].copy_from_slice(&u32::try_from(count).ok()?.to_le_bytes());
        bytes[8..16].copy_from_slice(&total.to_le_bytes());
        bytes[16..24].copy_from_slice(&peak.demand.to_le_bytes());
        bytes[24..28].copy_from_slice(&offset.to_le_bytes());
        bytes[28..32].copy_from_slice(&length.to_le_bytes());
        Some(bytes)
    }

    /// The bucket in `bytes`, of the row that starts at `start`.
    fn read(bytes: &[u8; Self::BYTES], start: i64) -> Self {
        let word =
            |at: usize| -> [u8; 4] { [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]] };
        let double = |at: usize| -> [u8; 8] {
            let mut field = [0u8; 8];
            field.copy_from_slice(&bytes[at..at + 8]);
            field
        };
        let total = f64::from_le_bytes(double(8));
        let peak_start = start + i64::from(i32::from_le_bytes(word(24)));
        PackedBucket {
            point: PointId(i64::from(u32::from_le_bytes(word(0)))),
            tally: Tally {
                total,
                low: total,
                high: total,
                count: i64::from(u32::from_le_bytes(word(4))),
                peak: Peak {
                    demand: f64::from_le_bytes(double(16)),
                    start: peak_start,
                    end: peak_start + i64::from(u32::from_le_bytes(word(28))),
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
    // Each bucket's row; a row holding a number that does not fit its
    // place is left out (and computed on every request).
    let rows: Vec<(i64, Vec<u8>)> = bounds
        .windows(2)
        .enumerate()
        .filter_map(|(index, pair)| {
            let buckets = points
                .iter()
                .map(|&point| {
                    PackedBucket {
                        point,
                        tally: computed.get(point, index).unwrap_or(empty),
                    }
                    .to_bytes(pair[0])
                })
                .collect::<Option<Vec<_>>>()?;
            Some((pair[1], KeptRow::bytes(pair[0], &buckets)))
        })
        .collect();
    let rows_per_insert = (BYTES_PER_INSERT
        / (KeptRow::HEADER_BYTES + points.len() * PackedBucket::BYTES))
        .clamp(1, 1_000);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<(i64, Vec<u8>)> = rows.by_ref().take(rows_per_insert).collect();
        let mut sql = String::with_capacity(80 + chunk.len() * 10);
        sql.push_str(
            "INSERT OR REPLACE INTO usage_buckets (project_id, kind, until, buckets) VALUES ",
        );
        let mut params: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 4);
        sql.push_str(&vec!["(?,?,?,?)"; chunk.len()].join(","));
        for (until, row) in chunk {
            params.extend([
                project_id.into(),
                kept.kind(),
                until.into(),
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

    fn tally(count: i64, peak_start: i64, peak_end: i64) -> Tally {
        Tally {
            total: 0.1 + 0.2,
            low: 0.1 + 0.2,
            high: 0.1 + 0.2,
            count,
            peak: Peak {
                demand: -0.0,
                start: peak_start,
                end: peak_end,
            },
        }
    }

    #[test]
    fn a_packed_bucket_reads_back_as_it_was() {
        let start = 1_572_393_600;
        for (point, tally) in [
            (3, tally(287, start - 300, start)),
            (
                u32::MAX.into(),
                tally(u32::MAX.into(), start + 86_100, start + 86_400),
            ),
            // A silent meter's one interval, years long.
            (1, tally(1, start - 300, start + 3 * 365 * 86_400)),
        ] {
            let bucket = PackedBucket {
                point: PointId(point),
                tally,
            };
            let read = PackedBucket::read(&bucket.to_bytes(start).unwrap(), start);
            assert_eq!(read, bucket);
            assert!(read.tally.peak.demand.is_sign_negative());
        }
        // Nothing's peak is not stored, wherever it says it was.
        let empty = PackedBucket {
            point: PointId(1),
            tally: tally(0, 0, 0),
        };
        let read = PackedBucket::read(&empty.to_bytes(start).unwrap(), start);
        assert_eq!((read.tally.count, read.tally.total), (0, 0.1 + 0.2));
    }

    #[test]
    fn a_bucket_whose_numbers_do_not_fit_is_not_packed() {
        let start = 1_572_393_600;
        for (point, tally) in [
            (-3, tally(1, start, start + 300)),
            (i64::from(u32::MAX) + 1, tally(1, start, start + 300)),
            (1, tally(i64::from(u32::MAX) + 1, start, start + 300)),
            (1, tally(1, start - (1 << 31) - 1, start)),
            (1, tally(1, start + (1 << 31), start + (1 << 31) + 300)),
            (1, tally(1, start, start - 1)),
            (1, tally(1, i64::MIN, i64::MAX)),
        ] {
            let bucket = PackedBucket {
                point: PointId(point),
                tally,
            };
            assert_eq!(bucket.to_bytes(start), None, "{bucket:?}");
        }
    }

    #[test]
    fn a_kept_row_reads_back_and_other_bytes_are_no_row() {
        let start = -86_400;
        let buckets: Vec<[u8; PackedBucket::BYTES]> = (1..=3)
            .map(|point| {
                PackedBucket {
                    point: PointId(point),
                    tally: tally(point, start, start + 900),
                }
                .to_bytes(start)
                .unwrap()
            })
            .collect();
        let row = SqlValue::Blob(KeptRow::bytes(start, &buckets));
        assert_eq!(KeptRow::read(&row), Some((start, &buckets[..])));
        let SqlValue::Blob(bytes) = &row else {
            unreachable!()
        };
        let mut other_mark = bytes.clone();
        other_mark[0] ^= 1;
        for other in [
            SqlValue::Blob(other_mark),
            SqlValue::Blob(bytes[..bytes.len() - 1].to_vec()),
            SqlValue::Blob(bytes[..KeptRow::HEADER_BYTES - 1].to_vec()),
            // 0009's layout: 64-byte buckets with no header.
            SqlValue::Blob(
                [1i64, start, start + 3600, 0, 1, 0, start, start + 300]
                    .iter()
                    .flat_map(|n| n.to_le_bytes())
                    .collect(),
            ),
            SqlValue::Text("usage:2".into()),
            SqlValue::Null,
        ] {
            assert_eq!(KeptRow::read(&other), None, "{other:?}");
        }
        // No buckets is a row of none.
        let empty = SqlValue::Blob(KeptRow::bytes(start, &[]));
        assert_eq!(KeptRow::read(&empty), Some((start, &[][..])));
    }

    #[test]
    fn runs_join_consecutive_days() {
        assert_eq!(runs(&[]), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(runs(&[0, 1, 2, 5, 7, 8]), vec![0..3, 5..6, 7..9]);
    }
}
