//! Read models: what every authenticated read needs, kept in the key-value
//! store so that a hot read runs no SQL at all (ARCHITECTURE.md, "Read
//! models").
//!
//! | key | holds | read by |
//! |---|---|---|
//! | `rm1:key:<sha256 of an API key>` | the [`Account`] whose current key it is | bearer authentication |
//! | `rm1:account:<user id>` | the [`Account`] | session authentication |
//! | `rm3:latest:<project id>` | the bodies of `/data` and `/interval`, rendered in JSON and XML, and `/status`'s [`StatusTemplates`] | `/data`, `/interval`, `/status` |
//! | `rm1:points:<project id>` | `/point`'s list, likewise, and the points | `/point` |
//!
//! An [`Account`] holds no password hash: only a login reads that, from SQL.
//!
//! **Invariant:** an entry is written only by a writer that holds SQLite's
//! write lock (inside `BEGIN IMMEDIATE … COMMIT`), from what SQL holds at
//! that moment, before it commits. Writers of what an entry holds get a
//! write handle ([`write_account`] → [`AccountWrite`], [`write_project`] →
//! [`ProjectWrite`]) and the domain's write functions take one, so no
//! write can skip the refresh: the handle's function refreshes the entries
//! after the writer's body, inside its transaction. Writers hold the lock
//! one at a time, so entries are written in commit order and the last write reflects the
//! last commit. A missing entry is rebuilt the same way, under the lock. A
//! write whose commit then fails deletes the entries it wrote ([`write`]),
//! so the next read rebuilds them. The key prefix carries the layout
//! version: a build with another layout never reads an old entry.

use crate::context::Ctx;
use crate::domain::accounts::{self, Account};
use crate::domain::ids::{PointId, ProjectId, UserId};
use crate::domain::points::{self, Point};
use crate::domain::readings::{self, LatestValue};
use crate::domain::status::{CollectorContact, MeterBrief, MeterLine, SiteStatus, StatusTemplates};
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use crate::format::Rendered;
use crate::storage::{Sql, in_transaction};
use crate::value::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

fn account_key(user_id: UserId) -> String {
    format!("rm1:account:{user_id}")
}

fn api_key_key(key_hash: &str) -> String {
    format!("rm1:key:{key_hash}")
}

fn latest_key(project_id: ProjectId) -> String {
    format!("rm3:latest:{project_id}")
}

/// The parts of a `latest` entry: `/data` JSON and XML, `/interval` JSON
/// and XML, the status templates (JSON, XML, clock).
const LATEST_PARTS: usize = 7;

fn points_key(project_id: ProjectId) -> String {
    format!("rm1:points:{project_id}")
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

/// A listing as read: its rendered bodies, and for [`Listing::Points`]
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
}

/// Several byte strings in one value: their count and lengths (u32, little
/// endian), then the bytes.
fn pack(parts: &[&[u8]]) -> Vec<u8> {
    let total: usize = parts.iter().map(|part| part.len()).sum();
    let mut bytes = Vec::with_capacity(4 + 4 * parts.len() + total);
    bytes.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for part in parts {
        bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
    }
    for part in parts {
        bytes.extend_from_slice(part);
    }
    bytes
}

/// The parts of a [`pack`]ed value, borrowed from it, when it has `count`
/// of them and is whole.
fn unpack(bytes: &[u8], count: usize) -> Option<Vec<&[u8]>> {
    let number = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    if number(0)? != count {
        return None;
    }
    let lengths: Vec<usize> = (0..count)
        .map(|i| number(4 + 4 * i))
        .collect::<Option<_>>()?;
    let mut rest = bytes.get(4 + 4 * count..)?;
    if rest.len() != lengths.iter().sum::<usize>() {
        return None;
    }
    let mut parts = Vec::with_capacity(count);
    for length in lengths {
        let (part, tail) = rest.split_at(length);
        parts.push(part);
        rest = tail;
    }
    Some(parts)
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
pub fn account(ctx: &Ctx, user_id: UserId) -> Result<Option<Account>, ApiError> {
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
fn refresh_account(
    ctx: &Ctx,
    db: &dyn Sql,
    user_id: UserId,
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
/// (all of them) when missing.
pub fn listing(
    ctx: &Ctx,
    project_id: ProjectId,
    listing: Listing,
) -> Result<StoredListing, ApiError> {
    let key = match listing {
        Listing::Data | Listing::Interval => latest_key(project_id),
        Listing::Points => points_key(project_id),
    };
    let count = if listing == Listing::Points {
        3
    } else {
        LATEST_PARTS
    };
    if let Some(bytes) = ctx.kv().get(&key)?
        && let Some(parts) = unpack(&bytes, count)
    {
        // Only the parts this listing answers with are copied out.
        let first = if listing == Listing::Interval { 2 } else { 0 };
        return Ok(StoredListing {
            rendered: Rendered {
                json: parts[first].to_vec(),
                xml: parts[first + 1].to_vec(),
            },
            points_json: if listing == Listing::Points {
                parts[2].to_vec()
            } else {
                Vec::new()
            },
        });
    }
    Ok(rebuild_project(ctx, project_id)?.take(listing))
}

/// The project's [`StatusTemplates`], from its read model, rebuilt from
/// SQL (with the listings) when missing.
pub fn status(ctx: &Ctx, project_id: ProjectId) -> Result<StatusTemplates, ApiError> {
    if let Some(bytes) = ctx.kv().get(&latest_key(project_id))?
        && let Some(parts) = unpack(&bytes, LATEST_PARTS)
        && let Some(status) = StatusTemplates::from_parts(parts[4], parts[5], parts[6])
    {
        return Ok(status);
    }
    Ok(rebuild_project(ctx, project_id)?.status)
}

/// Rewrites every listing of the project from SQL, under the write lock.
fn rebuild_project(ctx: &Ctx, project_id: ProjectId) -> Result<Listings, ApiError> {
    in_transaction(ctx.db()?, |db| {
        refresh_project(ctx, db, project_id, None, Changed::Points, None)
    })
}

/// A project's listings, as just stored.
pub struct Listings {
    data: Rendered,
    interval: Rendered,
    points: Option<StoredListing>,
    pub status: StatusTemplates,
}

impl Listings {
    pub fn take(self, listing: Listing) -> StoredListing {
        let rendered = |rendered| StoredListing {
            rendered,
            points_json: Vec::new(),
        };
        match listing {
            Listing::Data => rendered(self.data),
            Listing::Interval => rendered(self.interval),
            Listing::Points => self.points.expect("refreshed with Changed::Points"),
        }
    }

    pub fn points(&self) -> Result<Vec<Point>, ApiError> {
        match &self.points {
            Some(points) => points.points(),
            None => Err(ApiError::internal("the point list was not refreshed")),
        }
    }
}

/// What a write changed in a project.
#[derive(Debug, Clone, PartialEq)]
enum Changed {
    /// Readings only: the point list stays as it is. The writer knows the
    /// points (id → brief), read under the same lock.
    Readings {
        points: HashMap<PointId, MeterBrief>,
    },
    /// Points (names, configuration, new points), perhaps readings too.
    Points,
}

/// Rewrites the project's listings from SQL, in the project's time zone
/// (read when `None`), with the collector's `contact` (read when `None`).
/// Readings only, from ingest: one statement; points changed: three.
/// Call inside the write transaction that changed its points or readings.
fn refresh_project(
    ctx: &Ctx,
    db: &dyn Sql,
    project_id: ProjectId,
    timezone: Option<&str>,
    changed: Changed,
    contact: Option<CollectorContact>,
) -> Result<Listings, ApiError> {
    let timezone = match timezone {
        Some(timezone) => timezone.to_owned(),
        None => db
            .execute(
                "SELECT timezone FROM projects WHERE id = ?",
                &[project_id.into()],
            )?
            .first()
            .map(|row| row.text(0))
            .transpose()?
            .unwrap_or_else(|| "UTC".to_owned()),
    };
    let mut clock = LocalClock::new(&timezone);
    let (briefs, points) = match changed {
        Changed::Readings { points } => (points, None),
        Changed::Points => {
            let points = points::all(db, project_id)?;
            let briefs = points.iter().map(|p| (p.id, p.brief())).collect();
            (briefs, Some(points))
        }
    };
    let contact = match contact {
        Some(contact) => Some(contact),
        None => CollectorContact::of_project(db, project_id)?,
    };
    let latest = readings::latest(db, project_id)?;
    let mut last_reading: HashMap<PointId, i64> =
        latest.readings.iter().map(|l| (l.point, l.ts)).collect();
    let mut meters: Vec<MeterLine> = briefs
        .iter()
        .map(|(&id, brief)| MeterLine {
            id,
            brief: brief.clone(),
            last_reading: last_reading.remove(&id),
        })
        .collect();
    meters.sort_by_key(|line| line.id);
    let status = SiteStatus {
        timezone: timezone.clone(),
        collector: contact,
        meters,
    };
    let status = StatusTemplates::of(&status, ctx.now());
    let [status_json, status_xml, status_clock] = status.to_parts();
    let mut rows = |latest: Vec<LatestValue>| -> Rendered {
        Rendered::of(&Value::List(
            latest
                .into_iter()
                .filter_map(|latest| {
                    let name = &briefs.get(&latest.point)?.name;
                    Some(reading_value(name, clock.format(latest.ts), latest.value))
                })
                .collect(),
        ))
    };
    let data = rows(latest.readings);
    let interval = rows(latest.intervals);
    let kv = ctx.kv();
    kv.set(
        &latest_key(project_id),
        &pack(&[
            &data.json,
            &data.xml,
            &interval.json,
            &interval.xml,
            &status_json,
            &status_xml,
            &status_clock,
        ]),
    )?;
    let points = match points {
        Some(points) => {
            let listing = StoredListing {
                rendered: Rendered::of(&Value::List(points.iter().map(Point::to_value).collect())),
                points_json: serde_json::to_vec(&points)
                    .map_err(|error| ApiError::internal(error.to_string()))?,
            };
            // A collector announces the same configuration batch after
            // batch: an unchanged point list is not written again (a write
            // syncs the store, a read does not).
            let packed = pack(&[
                &listing.rendered.json,
                &listing.rendered.xml,
                &listing.points_json,
            ]);
            if kv
                .get(&points_key(project_id))?
                .is_none_or(|old| old != packed)
            {
                kv.set(&points_key(project_id), &packed)?;
            }
            Some(listing)
        }
        None => None,
    };
    Ok(Listings {
        data,
        interval,
        points,
        status,
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
enum Touched<'a> {
    /// A user, and the API key it had before the write.
    Account(UserId, &'a str),
    Project(ProjectId),
}

/// An open write transaction that changes one user's account (its row in
/// `users`). The account writes of [`crate::domain::accounts`] take it;
/// only [`write_account`] makes one.
pub struct AccountWrite<'a> {
    db: &'a dyn Sql,
    user_id: UserId,
    project_id: ProjectId,
}

impl AccountWrite<'_> {
    /// The transaction's connection, for the domain's statements.
    pub(crate) fn db(&self) -> &dyn Sql {
        self.db
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    pub fn project_id(&self) -> ProjectId {
        self.project_id
    }
}

/// Runs `body` on `account`'s row in one write transaction, then rewrites
/// the account's read models from what SQL holds (or removes them when the
/// user is gone, and the entry of the key it had before, when that
/// changed), before COMMIT. Returns the body's value and the account as
/// now stored.
pub fn write_account<T>(
    ctx: &Ctx,
    account: &Account,
    mut body: impl FnMut(&AccountWrite) -> Result<T, ApiError>,
) -> Result<(T, Option<Account>), ApiError> {
    let (user_id, old_key_hash) = (account.user_id, account.api_key_hash.as_str());
    write(ctx, &[Touched::Account(user_id, old_key_hash)], |db| {
        let handle = AccountWrite {
            db,
            user_id,
            project_id: account.project_id,
        };
        let value = body(&handle)?;
        let stored = refresh_account(ctx, db, user_id, Some(old_key_hash))?;
        Ok((value, stored))
    })
}

/// An open write transaction that changes one project's points or
/// readings. The point and reading writes of [`crate::domain`] take it;
/// only [`write_project`] makes one.
pub struct ProjectWrite<'a> {
    db: &'a dyn Sql,
    project_id: ProjectId,
    points_changed: Cell<bool>,
    /// The points as read in this transaction, offered by a writer that
    /// changed no point (saves the refresh a statement).
    points: RefCell<Option<HashMap<PointId, MeterBrief>>>,
    /// The collector's contact as this transaction stored it (ingest).
    contact: RefCell<Option<CollectorContact>>,
}

impl ProjectWrite<'_> {
    /// The transaction's connection, for the domain's statements.
    pub(crate) fn db(&self) -> &dyn Sql {
        self.db
    }

    pub fn project_id(&self) -> ProjectId {
        self.project_id
    }

    /// Called by every write to `points`: the point list is rewritten too.
    pub(crate) fn points_changed(&self) {
        self.points_changed.set(true);
    }

    /// The project's points (id → brief), read in this transaction; used
    /// only if no point was written.
    pub fn offer_points(&self, points: HashMap<PointId, MeterBrief>) {
        *self.points.borrow_mut() = Some(points);
    }

    /// The collector's contact, as this transaction stored it.
    pub(crate) fn offer_contact(&self, contact: CollectorContact) {
        *self.contact.borrow_mut() = Some(contact);
    }
}

/// Runs `body` on the project's points and readings in one write
/// transaction, then rewrites the project's listings (`/data`,
/// `/interval`, and `/point` when a point was written) from what SQL
/// holds, in `timezone` (read when `None`), before COMMIT.
pub fn write_project<T>(
    ctx: &Ctx,
    project_id: ProjectId,
    timezone: Option<&str>,
    mut body: impl FnMut(&ProjectWrite) -> Result<T, ApiError>,
) -> Result<(T, Listings), ApiError> {
    write(ctx, &[Touched::Project(project_id)], |db| {
        let handle = ProjectWrite {
            db,
            project_id,
            points_changed: Cell::new(false),
            points: RefCell::new(None),
            contact: RefCell::new(None),
        };
        let value = body(&handle)?;
        let changed = match handle.points.take() {
            Some(points) if !handle.points_changed.get() => Changed::Readings { points },
            _ => Changed::Points,
        };
        let contact = handle.contact.take();
        let listings = refresh_project(ctx, db, project_id, timezone, changed, contact)?;
        Ok((value, listings))
    })
}

/// Runs `body` in a `BEGIN IMMEDIATE` transaction (see
/// [`in_transaction`]); when it fails, commit included, the read models of
/// `touched` are deleted (best effort), so the next read rebuilds them from
/// what SQL really holds.
fn write<T>(
    ctx: &Ctx,
    touched: &[Touched],
    body: impl FnMut(&dyn Sql) -> Result<T, ApiError>,
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
                    keys.push(latest_key(id));
                    keys.push(points_key(id));
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
    fn packed_values_round_trip_and_refuse_damage() {
        let bytes = pack(&[b"[1]", b"<x/>", b""]);
        assert_eq!(
            unpack(&bytes, 3).unwrap(),
            [&b"[1]"[..], &b"<x/>"[..], &b""[..]]
        );
        assert!(unpack(&bytes, 4).is_none(), "another layout");
        assert!(unpack(&bytes[..bytes.len() - 1], 3).is_none());
        assert!(unpack(&[1, 2, 3], 3).is_none());
        assert!(unpack(b"{\"points\": []}", 3).is_none());
    }
}
