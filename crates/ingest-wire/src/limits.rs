//! What one batch and one project may hold. The ingest component refuses
//! more; the collector never sends more.

/// Largest body of `POST /ingest`. 10,000 readings take about 0.8 MB of
/// JSON; this leaves room for more.
pub const MAX_INGEST_BODY_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_READINGS_PER_BATCH: usize = 50_000;
pub const MAX_POINTS_PER_BATCH: usize = 1_000;
/// Points one batch may create, announced or not: a collector with a few
/// hundred meters never comes near it.
pub const MAX_NEW_POINTS_PER_BATCH: u64 = 1_000;
/// Points one project may have.
pub const MAX_POINTS_PER_PROJECT: usize = 10_000;
/// The largest reading magnitude accepted: more than any energy register
/// holds (a 64-bit Wh counter is below 2e16 kWh only by using all its bits),
/// and small enough that differences of readings are always finite.
pub const MAX_READING_MAGNITUDE: f64 = 1e15;
/// Longest `MeterId` (and point name), and longest text of an announcement.
pub const MAX_ID_CHARS: usize = 64;
/// Readings may not claim to be from further in the future than this
/// (a collector with a wrong clock).
pub const MAX_FUTURE_SECONDS: i64 = 24 * 60 * 60;
/// Longest unit of a point's value (`kWh`, `m³`, `kvarh`).
pub const MAX_UNIT_CHARS: usize = 16;
/// The largest spool backlog a collector may report: far beyond any spool,
/// and exact in every store's integers.
pub const MAX_BACKLOG: u64 = 1_000_000_000_000;
