//! `/file` GET: past readings of a range of local days as a CSV, JSON, XML
//! or YAML download, streamed page by page so memory stays flat however
//! long the range.

use crate::context::Ctx;
use crate::domain::points;
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use crate::format::export::{ExportFormat, ExportRow, ExportWriter};
use crate::http::request::{ApiRequest, Params};
use crate::http::{ChunkStream, Reply, Route};
use crate::routes::{Grants, RouteSpec};
use crate::security::auth;
use crate::storage::{Sql, SqlValue};
use jiff::civil::Date;
use std::collections::HashMap;

pub const SPEC: RouteSpec = RouteSpec {
    path: "/file",
    methods: &["GET"],
    trigger: "/file",
    component: "file",
    grants: Grants::stores(&[]),
};

/// The route, for the component.
pub const ROUTE: Route = Route::new(&SPEC, handle);

/// Rows read per page: enough to amortise a host call, small enough that a
/// page is a few hundred kilobytes.
pub const PAGE_ROWS: i64 = 5_000;
/// The longest range one request may ask for.
pub const MAX_RANGE_DAYS: i32 = 3_660;

fn handle(ctx: &Ctx, request: &ApiRequest) -> Result<Reply, ApiError> {
    let caller = auth::authenticate(ctx, request)?;
    let account = &caller.account;
    let params = Params::parse(request)?;
    let (first, last) = day_range(
        parse_day("start", params.required("start")?)?,
        parse_day("end", params.required("end")?)?,
    )?;
    let type_name = params.get("type").unwrap_or("csv");
    let format = ExportFormat::parse(type_name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "type must be csv, json, xml or yaml, not {type_name:?}"
        ))
    })?;

    let db = ctx.db()?;
    let project_id = account.project_id;
    let meter = match params.get("meter") {
        Some(name) => Some(
            points::by_name(db, project_id, name)?
                .ok_or_else(|| ApiError::not_found(format!("no metering point named {name:?}")))?,
        ),
        None => None,
    };
    let clock = LocalClock::new(&account.timezone);
    let (start_ts, end_ts) = instants(&clock, first, last)?;

    let mut filename = format!("{}_{first}_{last}", account.project_name);
    if let Some(point) = &meter {
        filename = format!("{filename}_{}", point.name);
    }
    let disposition = format!(
        "attachment; filename=\"{}.{}\"",
        safe_filename(&filename),
        format.extension()
    );
    let names = points::names(db, project_id)?;
    let stream = ExportStream {
        project_id,
        point_id: meter.map(|point| point.id),
        end_ts,
        after: (start_ts, -1),
        names,
        clock,
        writer: ExportWriter::new(format),
        started: false,
        finished: false,
    };
    Ok(Reply::stream(format.content_type(), Box::new(stream))
        .with_header("content-disposition", disposition))
}

/// Two local days in either order as `(first, last)`, at most
/// [`MAX_RANGE_DAYS`] apart.
pub(crate) fn day_range(a: Date, b: Date) -> Result<(Date, Date), ApiError> {
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
pub(crate) fn instants(
    clock: &LocalClock,
    first: Date,
    last: Date,
) -> Result<(i64, i64), ApiError> {
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
pub(crate) fn parse_day(field: &str, text: &str) -> Result<Date, ApiError> {
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

/// Keeps letters, digits, `.`, `-` and `_`; anything else becomes `_`, so
/// the header cannot be broken and no path can be smuggled in.
fn safe_filename(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads the export page by page with keyset pagination on
/// `(ts, point_id)` (the readings' primary key order), never OFFSET.
struct ExportStream {
    project_id: i64,
    point_id: Option<i64>,
    end_ts: i64,
    /// The last `(ts, point_id)` written.
    after: (i64, i64),
    names: HashMap<i64, String>,
    clock: LocalClock,
    writer: ExportWriter,
    started: bool,
    finished: bool,
}

impl ExportStream {
    fn page(&self, db: &dyn Sql) -> Result<crate::storage::Rows, ApiError> {
        let (after_ts, after_point) = self.after;
        let rows = match self.point_id {
            Some(point_id) => db.execute(
                "SELECT ts, point_id, value FROM readings \
                 WHERE point_id = ? AND ts > ? AND ts < ? ORDER BY ts LIMIT ?",
                &[
                    point_id.into(),
                    // One point: a time is written once, so `ts > after` it is.
                    if after_point < 0 {
                        after_ts - 1
                    } else {
                        after_ts
                    }
                    .into(),
                    self.end_ts.into(),
                    PAGE_ROWS.into(),
                ],
            )?,
            None => db.execute(
                "SELECT ts, point_id, value FROM readings \
                 WHERE project_id = ? AND (ts, point_id) > (?, ?) AND ts < ? \
                 ORDER BY ts, point_id LIMIT ?",
                &[
                    self.project_id.into(),
                    after_ts.into(),
                    after_point.into(),
                    self.end_ts.into(),
                    PAGE_ROWS.into(),
                ],
            )?,
        };
        Ok(rows)
    }
}

impl ChunkStream for ExportStream {
    fn next_chunk(&mut self, db: &dyn Sql) -> Result<Option<Vec<u8>>, ApiError> {
        if self.finished {
            return Ok(None);
        }
        let rows = self.page(db)?;
        let mut out = Vec::with_capacity(rows.rows.len() * 64 + 128);
        if !self.started {
            self.writer.begin(&mut out);
            self.started = true;
        }
        for row in &rows.rows {
            let (ts, point_id, value) = match row.as_slice() {
                [
                    SqlValue::Integer(ts),
                    SqlValue::Integer(point),
                    SqlValue::Real(value),
                ] => (*ts, *point, *value),
                other => {
                    return Err(ApiError::internal(format!(
                        "unexpected export row {other:?}"
                    )));
                }
            };
            let meter = self.names.get(&point_id).map_or("", String::as_str);
            self.writer.row(
                &mut out,
                &ExportRow {
                    meter,
                    time: self.clock.format(ts),
                    value,
                },
            );
            self.after = (ts, point_id);
        }
        if (rows.rows.len() as i64) < PAGE_ROWS {
            self.writer.end(&mut out);
            self.finished = true;
        }
        Ok(Some(out))
    }
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

    #[test]
    fn filenames_are_safe() {
        assert_eq!(
            safe_filename("my Project\"/../x_2019"),
            "my_Project__.._x_2019"
        );
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
        #![proptest_config(crate::proptest_config(1000))]

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
