//! Read models: what every authenticated read needs, kept in the key-value
//! store so that a hot read runs no SQL at all (ARCHITECTURE.md, "Read
//! models").
//!
//! | key | holds | read by |
//! |---|---|---|
//! | `rm1:key:<sha256 of an API key>` | the [`Account`] whose current key it is | bearer authentication |
//! | `rm1:account:<user id>` | the [`Account`] | session authentication |
//! | `rm1:data:<project id>` | `/data`'s body, rendered in JSON and XML | `/data` |
//! | `rm1:interval:<project id>` | `/interval`'s body, likewise | `/interval` |
//! | `rm1:points:<project id>` | `/point`'s list, likewise, and the points | `/point` |
//!
//! An [`Account`] holds no password hash: only a login reads that, from SQL.
//!
//! **Invariant:** an entry is written only by a writer that holds SQLite's
//! write lock (inside `BEGIN IMMEDIATE … COMMIT`), from what SQL holds at
//! that moment, before it commits. Writers hold the lock one at a time, so
//! entries are written in commit order and the last write reflects the
//! last commit. A missing entry is rebuilt the same way, under the lock. A
//! write whose commit then fails deletes the entries it wrote ([`write`]),
//! so the next read rebuilds them. The key prefix carries the layout
//! version: a build with another layout never reads an old entry.

use crate::accounts::{self, Account};
use crate::context::Ctx;
use crate::error::ApiError;
use crate::format::Format;
use crate::points::{self, Point};
use crate::readings;
use crate::storage::{Sql, in_transaction};
use crate::time::LocalClock;
use crate::value::Value;
use std::collections::HashMap;

fn account_key(user_id: i64) -> String {
    format!("rm1:account:{user_id}")
}

fn api_key_key(key_hash: &str) -> String {
    format!("rm1:key:{key_hash}")
}

fn listing_key(listing: Listing, project_id: i64) -> String {
    let name = match listing {
        Listing::Data => "data",
        Listing::Interval => "interval",
        Listing::Points => "points",
    };
    format!("rm1:{name}:{project_id}")
}

/// The project-wide answers kept rendered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Listing {
    /// `/data`: the latest reading of each point.
    Data,
    /// `/interval`: the latest interval of each point.
    Interval,
    /// `/point`: every point.
    Points,
}

/// A body rendered once in each format, chosen per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub json: Vec<u8>,
    pub xml: Vec<u8>,
}

impl Rendered {
    fn of(value: &Value) -> Self {
        Rendered {
            json: Format::Json.render(value).into_bytes(),
            xml: Format::Xml.render(value).into_bytes(),
        }
    }
}

/// A listing as stored: its rendered bodies, and for [`Listing::Points`]
/// the points themselves (JSON), for lookups by id or name.
pub struct StoredListing {
    pub rendered: Rendered,
    points_json: Vec<u8>,
}

impl StoredListing {
    pub fn points(&self) -> Result<Vec<Point>, ApiError> {
        serde_json::from_slice(&self.points_json)
            .map_err(|error| ApiError::internal(format!("stored points: {error}")))
    }

    fn pack(&self) -> Vec<u8> {
        let parts = [&self.rendered.json, &self.rendered.xml, &self.points_json];
        let mut bytes = Vec::with_capacity(12 + parts.iter().map(|p| p.len()).sum::<usize>());
        for part in parts {
            bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
        }
        for part in parts {
            bytes.extend_from_slice(part);
        }
        bytes
    }

    fn unpack(bytes: &[u8]) -> Option<Self> {
        let length = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let (json, xml, points) = (length(0)?, length(4)?, length(8)?);
        let rest = bytes.get(12..)?;
        if rest.len() != json + xml + points {
            return None;
        }
        let (json_part, rest) = rest.split_at(json);
        let (xml_part, points_part) = rest.split_at(xml);
        Some(StoredListing {
            rendered: Rendered {
                json: json_part.to_vec(),
                xml: xml_part.to_vec(),
            },
            points_json: points_part.to_vec(),
        })
    }
}

/// The account whose current API key has digest `key_hash`, from its read
/// model, rebuilt from SQL when missing. `None` when no user has that key.
pub fn account_by_api_key_hash(ctx: &Ctx, key_hash: &str) -> Result<Option<Account>, ApiError> {
    if let Some(account) = stored_account(ctx, &api_key_key(key_hash))? {
        // Written only for the key the account had at that moment; a
        // rotation deletes it under the same lock.
        if account.api_key_hash == key_hash {
            return Ok(Some(account));
        }
    }
    // Not under the write lock: a stream of made-up keys must not queue
    // every writer behind it. Only a real key's account is rebuilt (under
    // the lock, then re-read there).
    let Some(account) = accounts::by_api_key_hash(ctx.db()?, key_hash)? else {
        return Ok(None);
    };
    let account = in_transaction(ctx.db()?, |db| {
        refresh_account(ctx, db, account.user_id, None)
    })?;
    Ok(account.filter(|account| account.api_key_hash == key_hash))
}

/// The account of `user_id`, from its read model, rebuilt from SQL when
/// missing. `None` when there is no such user.
pub fn account(ctx: &Ctx, user_id: i64) -> Result<Option<Account>, ApiError> {
    if let Some(account) = stored_account(ctx, &account_key(user_id))? {
        return Ok(Some(account));
    }
    // A deleted user's sessions end here, without the write lock.
    if accounts::by_id(ctx.db()?, user_id)?.is_none() {
        return Ok(None);
    }
    in_transaction(ctx.db()?, |db| refresh_account(ctx, db, user_id, None))
}

fn stored_account(ctx: &Ctx, key: &str) -> Result<Option<Account>, ApiError> {
    Ok(ctx
        .kv()
        .get(key)?
        .and_then(|bytes| serde_json::from_slice::<Account>(&bytes).ok()))
}

/// Rewrites the account's read models from SQL, or removes them when the
/// user is gone; `stale_key_hash` names a key the user may have had before
/// this write (a rotation, a deletion), whose entry goes too. Call inside
/// the write transaction that changed the user.
pub fn refresh_account(
    ctx: &Ctx,
    db: &dyn Sql,
    user_id: i64,
    stale_key_hash: Option<&str>,
) -> Result<Option<Account>, ApiError> {
    let account = accounts::by_id(db, user_id)?;
    let kv = ctx.kv();
    match &account {
        Some(account) => {
            let bytes = serde_json::to_vec(account)
                .map_err(|error| ApiError::internal(error.to_string()))?;
            kv.set(&account_key(user_id), &bytes)?;
            kv.set(&api_key_key(&account.api_key_hash), &bytes)?;
        }
        None => kv.delete(&account_key(user_id))?,
    }
    if let Some(stale) = stale_key_hash
        && account
            .as_ref()
            .is_none_or(|account| account.api_key_hash != stale)
    {
        kv.delete(&api_key_key(stale))?;
    }
    Ok(account)
}

/// One of the project's listings, from its read model, rebuilt from SQL
/// (all three) when missing.
pub fn listing(ctx: &Ctx, project_id: i64, listing: Listing) -> Result<StoredListing, ApiError> {
    if let Some(bytes) = ctx.kv().get(&listing_key(listing, project_id))?
        && let Some(stored) = StoredListing::unpack(&bytes)
    {
        return Ok(stored);
    }
    let listings = in_transaction(ctx.db()?, |db| refresh_project(ctx, db, project_id))?;
    Ok(listings.take(listing))
}

/// A project's three listings, as just stored.
pub struct Listings {
    data: StoredListing,
    interval: StoredListing,
    points: StoredListing,
}

impl Listings {
    pub fn take(self, listing: Listing) -> StoredListing {
        match listing {
            Listing::Data => self.data,
            Listing::Interval => self.interval,
            Listing::Points => self.points,
        }
    }

    pub fn points(&self) -> Result<Vec<Point>, ApiError> {
        self.points.points()
    }
}

/// Rewrites the project's listings from SQL (four statements). Call inside
/// the write transaction that changed its points or readings.
pub fn refresh_project(ctx: &Ctx, db: &dyn Sql, project_id: i64) -> Result<Listings, ApiError> {
    let timezone = db
        .execute(
            "SELECT timezone FROM projects WHERE id = ?",
            &[project_id.into()],
        )?
        .first()
        .map(|row| row.text(0))
        .transpose()?
        .unwrap_or_else(|| "UTC".to_owned());
    let mut clock = LocalClock::new(&timezone);
    let points = points::all(db, project_id)?;
    let names: HashMap<i64, &str> = points.iter().map(|p| (p.id, p.name.as_str())).collect();
    let mut rows = |latest: Vec<(i64, i64, f64)>| -> Value {
        Value::List(
            latest
                .into_iter()
                .filter_map(|(point_id, ts, value)| {
                    let name = names.get(&point_id)?;
                    Some(reading_value(name, clock.format(ts), value))
                })
                .collect(),
        )
    };
    let data = rows(readings::latest(db, project_id)?);
    let interval = rows(readings::latest_intervals(db, project_id)?);
    let point_list = Value::List(points.iter().map(Point::to_value).collect());
    let points_json =
        serde_json::to_vec(&points).map_err(|error| ApiError::internal(error.to_string()))?;

    let store = |listing: Listing, value: &Value, points_json: Vec<u8>| {
        let stored = StoredListing {
            rendered: Rendered::of(value),
            points_json,
        };
        ctx.kv()
            .set(&listing_key(listing, project_id), &stored.pack())?;
        Ok::<_, ApiError>(stored)
    };
    Ok(Listings {
        data: store(Listing::Data, &data, Vec::new())?,
        interval: store(Listing::Interval, &interval, Vec::new())?,
        points: store(Listing::Points, &point_list, points_json)?,
    })
}

/// The page's `/data` and `/interval` row: `MeterParam`, `TimeStamping`,
/// `value`.
pub fn reading_value(meter: &str, local_time: &str, value: f64) -> Value {
    Value::dict([
        ("MeterParam", Value::str(meter)),
        ("TimeStamping", Value::LocalDateTime(local_time.to_owned())),
        ("value", Value::Float(value)),
    ])
}

/// What a write transaction's read models are about, so that a failed
/// commit can take back what it wrote.
#[derive(Clone, Copy)]
pub enum Touched<'a> {
    /// A user, and the API key it had before the write.
    Account(i64, &'a str),
    Project(i64),
}

/// Runs `body` in a `BEGIN IMMEDIATE` transaction (see
/// [`in_transaction`]); when it fails, commit included, the read models of
/// `touched` are deleted (best effort), so the next read rebuilds them from
/// what SQL really holds.
pub fn write<T>(
    ctx: &Ctx,
    touched: &[Touched],
    body: impl FnOnce(&dyn Sql) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let result = in_transaction(ctx.db()?, body);
    if result.is_err() {
        let mut keys = Vec::new();
        for touched in touched {
            match *touched {
                Touched::Account(id, key_hash) => {
                    keys.push(account_key(id));
                    keys.push(api_key_key(key_hash));
                }
                Touched::Project(id) => {
                    for listing in [Listing::Data, Listing::Interval, Listing::Points] {
                        keys.push(listing_key(listing, id));
                    }
                }
            }
        }
        for key in keys {
            if let Err(error) = ctx.kv().delete(&key) {
                ctx.env().log(&format!(
                    "could not drop read model {key} after a failed write: {error}"
                ));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_listings_round_trip_and_refuse_damage() {
        let stored = StoredListing {
            rendered: Rendered {
                json: b"[1]".to_vec(),
                xml: b"<x/>".to_vec(),
            },
            points_json: b"[]".to_vec(),
        };
        let bytes = stored.pack();
        let back = StoredListing::unpack(&bytes).unwrap();
        assert_eq!(back.rendered, stored.rendered);
        assert_eq!(back.points_json, b"[]");
        assert!(StoredListing::unpack(&bytes[..bytes.len() - 1]).is_none());
        assert!(StoredListing::unpack(&[1, 2, 3]).is_none());
        assert!(StoredListing::unpack(b"{\"points\": []}").is_none());
    }
}
