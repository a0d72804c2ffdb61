//! Exports of past readings (`/file`): the project's readings of a range
//! of local days, one point or all, read page by page with keyset
//! pagination and written in the chosen format as they are read, so
//! memory stays flat however long the range.

use crate::context::Ctx;
use crate::domain::accounts::Account;
use crate::domain::days;
use crate::domain::ids::{PointId, ProjectId};
use crate::domain::points;
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use crate::format::Format;
use crate::format::export::ExportWriter;
use crate::format::row::ExportRow;
use crate::http::ChunkStream;
use crate::storage::{Sql, SqlValue};
use jiff::civil::Date;
use std::collections::HashMap;

/// Rows read per page: enough to amortise a host call, small enough that a
/// page is a few hundred kilobytes.
pub const PAGE_ROWS: i64 = 5_000;

/// What an export is of.
pub struct ExportRequest<'a> {
    /// The first and last local day (both included; [`days::range`]).
    pub days: (Date, Date),
    pub format: Format,
    /// One point by name, or every point of the project.
    pub meter: Option<&'a str>,
}

/// A ready export: its file name and the stream of its bytes.
pub struct Export {
    /// `<project>_<first>_<last>[_<meter>].<ext>`, safe in a header.
    pub filename: String,
    pub stream: Box<dyn ChunkStream>,
}

/// The caller's project's export: 404 for a meter the project does not
/// have.
pub fn export(ctx: &Ctx, account: &Account, asked: ExportRequest) -> Result<Export, ApiError> {
    let (first, last) = asked.days;
    let db = ctx.db()?;
    let project_id = account.project_id;
    let meter = match asked.meter {
        Some(name) => Some(
            points::by_name(db, project_id, name)?
                .ok_or_else(|| ApiError::not_found(format!("no metering point named {name:?}")))?,
        ),
        None => None,
    };
    let clock = LocalClock::new(&account.timezone);
    let (start_ts, end_ts) = days::instants(&clock, first, last)?;
    let mut filename = format!("{}_{first}_{last}", account.project_name);
    if let Some(point) = &meter {
        filename = format!("{filename}_{}", point.name);
    }
    let filename = format!("{}.{}", safe_filename(&filename), asked.format.extension());
    let names = points::names(db, project_id)?;
    let stream = ExportStream {
        project_id,
        point_id: meter.map(|point| point.id),
        end_ts,
        after: (start_ts, -1),
        names,
        clock,
        writer: ExportWriter::new(asked.format),
        started: false,
        finished: false,
    };
    Ok(Export {
        filename,
        stream: Box::new(stream),
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
    project_id: ProjectId,
    point_id: Option<PointId>,
    end_ts: i64,
    /// The last `(ts, point id)` written.
    after: (i64, i64),
    names: HashMap<PointId, String>,
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
            let meter = self
                .names
                .get(&PointId(point_id))
                .map_or("", String::as_str);
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
    fn filenames_are_safe() {
        assert_eq!(
            safe_filename("my Project\"/../x_2019"),
            "my_Project__.._x_2019"
        );
    }
}
