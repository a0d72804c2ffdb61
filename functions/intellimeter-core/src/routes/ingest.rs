//! `POST /ingest`: the site collector's door. Authenticated by the
//! project's ingest token (and nothing else opens it; the token opens
//! nothing else). A batch announces points and/or delivers readings; it is
//! validated whole and stored in one transaction, or refused whole.

use crate::context::{Ctx, Reply, Route, method_not_allowed};
use crate::error::{ApiError, ErrorKind};
use crate::points::{self, PointConfig};
use crate::readings::{self, NewReading};
use crate::readmodel::{self, Changed, Touched};
use crate::request::ApiRequest;
use crate::secrets;
use crate::storage::Sql;
use crate::value::Value;
use serde::Deserialize;
use std::collections::HashMap;

/// 10,000 readings take about 0.8 MB of JSON; this leaves room for more.
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
const MAX_ID_CHARS: usize = 64;
/// Readings may not claim to be from further in the future than this
/// (a collector with a wrong clock).
const MAX_FUTURE_SECONDS: i64 = 24 * 60 * 60;

/// The route, for the component.
pub const ROUTE: Route = Route {
    handler: handle,
    max_body_bytes: MAX_INGEST_BODY_BYTES,
};

#[derive(Deserialize)]
struct Batch {
    #[serde(default)]
    points: Vec<AnnouncedPoint>,
    #[serde(default)]
    readings: Vec<IncomingReading>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct AnnouncedPoint {
    MeterId: String,
    ModbusId: Option<i64>,
    Port: Option<String>,
    NoPhases: Option<String>,
    MeterType: Option<String>,
    ModbusMap: Option<String>,
    SaveEvery: Option<i64>,
    startAddress: Option<i64>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct IncomingReading {
    MeterId: String,
    TimeStamping: String,
    value: f64,
}

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    if request.method != "POST" {
        return Err(method_not_allowed(request, &["POST"]));
    }
    let (project_id, timezone) = authenticate(ctx, request)?;
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "send the batch as Content-Type: application/json",
        ));
    }
    let batch = parse(&request.body)?;
    let (announced, readings) = validate(ctx, &batch)?;

    let (created, new) = readmodel::write(ctx, &[Touched::Project(project_id)], |db| {
        let mut known = KnownPoints::load(db, project_id)?;
        for (site_meter_id, config) in &announced {
            match known.ids.get(*site_meter_id) {
                Some(&id) => points::update_config(db, id, config)?,
                None => {
                    known.create(db, site_meter_id, config)?;
                }
            }
        }
        let mut rows = Vec::with_capacity(readings.len());
        for (site_meter_id, ts, value) in &readings {
            let point_id = match known.ids.get(*site_meter_id) {
                Some(&id) => id,
                None => known.create(db, site_meter_id, &PointConfig::default())?,
            };
            rows.push(NewReading {
                point_id,
                ts: *ts,
                value: *value,
            });
        }
        let new = readings::insert(db, project_id, &rows)?;
        // The read model of /data, /interval and /point, under the same
        // write lock (readmodel.rs).
        let changed = if announced.is_empty() && known.created == 0 {
            Changed::Readings {
                names: std::mem::take(&mut known.names),
            }
        } else {
            Changed::Points
        };
        readmodel::refresh_project(ctx, db, project_id, Some(&timezone), changed)?;
        Ok::<_, ApiError>((known.created, new))
    })?;
    let total = readings.len() as u64;
    Ok(Reply::ok(Value::dict([
        ("readings", Value::Int(total as i64)),
        ("new", Value::Int(new as i64)),
        ("duplicates", Value::Int((total - new) as i64)),
        ("points_created", Value::Int(created as i64)),
    ])))
}

/// The project's points by site meter id, and the points this batch
/// created, within the bounds of a batch and of a project.
struct KnownPoints {
    project_id: i64,
    /// Site meter id → point id.
    ids: HashMap<String, i64>,
    /// Point id → shown name, of the points that existed before the batch.
    names: HashMap<i64, String>,
    existing: usize,
    created: u64,
}

impl KnownPoints {
    fn load(db: &dyn Sql, project_id: i64) -> Result<Self, ApiError> {
        let identities = points::identities(db, project_id)?;
        let mut ids = HashMap::with_capacity(identities.len());
        let mut names = HashMap::with_capacity(identities.len());
        for (site_meter_id, id, name) in identities {
            ids.insert(site_meter_id, id);
            names.insert(id, name);
        }
        Ok(KnownPoints {
            project_id,
            existing: ids.len(),
            ids,
            names,
            created: 0,
        })
    }

    fn create(
        &mut self,
        db: &dyn Sql,
        site_meter_id: &str,
        config: &PointConfig,
    ) -> Result<i64, ApiError> {
        if self.created >= MAX_NEW_POINTS_PER_BATCH {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "a batch may create at most {MAX_NEW_POINTS_PER_BATCH} new metering points"
                ),
            ));
        }
        if self.existing + self.created as usize >= MAX_POINTS_PER_PROJECT {
            return Err(ApiError::conflict(format!(
                "the project has reached its limit of {MAX_POINTS_PER_PROJECT} metering points"
            )));
        }
        let id = points::create(db, self.project_id, site_meter_id, config)?;
        self.ids.insert(site_meter_id.to_owned(), id);
        self.created += 1;
        Ok(id)
    }
}

/// The project (id and time zone) whose ingest token the request bears;
/// 401 otherwise (user API keys and sessions included).
fn authenticate(ctx: &Ctx, request: &ApiRequest) -> Result<(i64, String), ApiError> {
    let token = request.bearer_token().ok_or_else(|| {
        ApiError::unauthorized("send Authorization: Bearer <the project's ingest token>")
    })?;
    let rows = ctx.db()?.execute(
        "SELECT id, timezone FROM projects WHERE ingest_token_hash = ?",
        &[secrets::digest_hex(token).into()],
    )?;
    match rows.first() {
        Some(row) => Ok((row.int(0)?, row.text(1)?)),
        None => Err(ApiError::unauthorized("the ingest token is not valid")),
    }
}

fn parse(body: &[u8]) -> Result<Batch, ApiError> {
    // The fast path; only a refused batch pays for tracking the path.
    if let Ok(batch) = serde_json::from_slice(body) {
        return Ok(batch);
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::bad_request(format!("{path}: {inner}"))
            }
            _ if path != "." => {
                ApiError::bad_request(format!("the batch is not valid JSON at {path}: {inner}"))
            }
            _ => ApiError::bad_request(format!("the batch is not valid JSON: {inner}")),
        }
    })
}

type Announced<'a> = Vec<(&'a str, PointConfig)>;
type Readings<'a> = Vec<(&'a str, i64, f64)>;

/// Checks every entry before anything is stored; the first bad one is named.
fn validate<'a>(ctx: &Ctx, batch: &'a Batch) -> Result<(Announced<'a>, Readings<'a>), ApiError> {
    if batch.points.len() > MAX_POINTS_PER_BATCH {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("at most {MAX_POINTS_PER_BATCH} points per batch"),
        ));
    }
    if batch.readings.len() > MAX_READINGS_PER_BATCH {
        return Err(ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("at most {MAX_READINGS_PER_BATCH} readings per batch"),
        ));
    }
    let mut announced: HashMap<&str, usize> = HashMap::new();
    let mut points = Vec::with_capacity(batch.points.len());
    for (index, point) in batch.points.iter().enumerate() {
        let at = |field: &str| format!("points[{index}].{field}");
        check_id(&at("MeterId"), &point.MeterId)?;
        for (field, text) in [
            ("Port", &point.Port),
            ("NoPhases", &point.NoPhases),
            ("MeterType", &point.MeterType),
            ("ModbusMap", &point.ModbusMap),
        ] {
            if let Some(text) = text {
                check_text(&at(field), text)?;
            }
        }
        if announced.insert(&point.MeterId, index).is_some() {
            return Err(ApiError::bad_request(format!(
                "{}: {:?} is announced twice in this batch",
                at("MeterId"),
                point.MeterId
            )));
        }
        points.push((
            point.MeterId.as_str(),
            PointConfig {
                modbus_id: point.ModbusId,
                port: point.Port.clone(),
                no_phases: point.NoPhases.clone(),
                meter_type: point.MeterType.clone(),
                modbus_map: point.ModbusMap.clone(),
                save_every: point.SaveEvery,
                start_address: point.startAddress,
            },
        ));
    }
    let latest_allowed = ctx.now() + MAX_FUTURE_SECONDS;
    let mut readings = Vec::with_capacity(batch.readings.len());
    for (index, reading) in batch.readings.iter().enumerate() {
        let at = |field: &str| format!("readings[{index}].{field}");
        check_id(&at("MeterId"), &reading.MeterId)?;
        let ts = parse_time(&reading.TimeStamping)
            .map_err(|why| ApiError::bad_request(format!("{}: {why}", at("TimeStamping"))))?;
        if ts > latest_allowed {
            return Err(ApiError::bad_request(format!(
                "{}: {:?} is in the future",
                at("TimeStamping"),
                reading.TimeStamping
            )));
        }
        if !reading.value.is_finite() || reading.value.abs() > MAX_READING_MAGNITUDE {
            return Err(ApiError::bad_request(format!(
                "{}: must be a number from -1e15 to 1e15",
                at("value")
            )));
        }
        readings.push((reading.MeterId.as_str(), ts, reading.value));
    }
    Ok((points, readings))
}

fn check_id(at: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(ApiError::bad_request(format!(
            "{at}: must have 1 to {MAX_ID_CHARS} characters"
        )));
    }
    check_text(at, id)
}

fn check_text(at: &str, text: &str) -> Result<(), ApiError> {
    if text.chars().count() > MAX_ID_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{at}: at most {MAX_ID_CHARS} characters, no control characters"
        )));
    }
    Ok(())
}

/// An RFC 3339 time with an offset (`2019-10-30T17:15:00Z`), as whole
/// seconds since the epoch (fractions are dropped), from 1970 on.
fn parse_time(text: &str) -> Result<i64, String> {
    let seconds = match parse_utc_seconds(text) {
        Some(seconds) => seconds,
        None => text
            .parse::<jiff::Timestamp>()
            .map_err(|_| format!("{text:?} is not an RFC 3339 time such as 2019-10-30T17:15:00Z"))?
            .as_second(),
    };
    if seconds < 0 {
        return Err(format!("{text:?} is before 1970"));
    }
    Ok(seconds)
}

/// The collector's own form, `YYYY-mm-ddTHH:MM:SSZ`, parsed without the
/// general RFC 3339 parser (it is most of the CPU time of a large batch).
/// `None` for anything else, which then goes through jiff.
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
    use super::{parse_time, parse_utc_seconds};

    #[test]
    fn the_fast_path_agrees_with_jiff() {
        let mut ts = -86_400i64;
        while ts < 4_102_444_800 {
            let text = jiff::Timestamp::from_second(ts).unwrap().to_string();
            assert_eq!(parse_utc_seconds(&text), Some(ts), "{text}");
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
}
