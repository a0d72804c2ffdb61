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
//! | `rm4:key-data:<sha256 of an API key>` | the [`Account`], and for the project's first [`KEY_VIEWS_PER_PROJECT`] users `/data`'s parts of `rm3:latest` | `/data` by API key |
//! | `rm4:key-interval:…` | likewise, `/interval`'s parts | `/interval` by API key |
//! | `rm4:key-status-json:…`, `-status-xml:…` | likewise, `/status`'s template in one format and the clock | `/status` by API key |
//! | `rm4:key-points-json:…`, `-points-xml:…`, `-points-lookup:…` | likewise, `/point` in one format, or the points, from `rm1:points` | `/point` by API key |
//!
//! An [`Account`] holds no password hash: only a login reads that, from SQL.
//!
//! **A key's view** makes a hot read by API key one key-value read: on
//! Redis, one round trip instead of two (the account, then the project's
//! listing). Every write of a project's listings writes its first users'
//! views in the same `set_many` (one MSET, one transaction), and every
//! write of an account writes or deletes its key's views with its account
//! entries; the reader takes a view only when its account's current key
//! is the one presented. A project's later users' views hold the account
//! alone (their reads take the listing in a second read, as before), so
//! that a project with many users does not multiply what ingest writes
//! (nor does a large one: past [`KEY_VIEW_MAX_ENTRY_BYTES`] of listing,
//! every view holds the account alone);
//! a deletion rewrites the first users' views, so the user who moves up
//! among them reads in one at once.
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
//! write whose commit then fails deletes every entry it wrote ([`write`]),
//! so the next read rebuilds them. The key prefix carries the layout
//! version: a build with another layout never reads an old entry.

use crate::context::Ctx;
use crate::domain::accounts::{self, Account};
use crate::domain::ids::{PointId, ProjectId, UserId};
use crate::domain::points::{self, Point};
use crate::domain::readings::{self, LatestValue};
use crate::domain::status::{
    CollectorContact, MeterBrief, MeterLine, SiteStatus, StatusTemplate, StatusTemplates,
};
use crate::domain::time::LocalClock;
use crate::error::ApiError;
use crate::format::{Format, Rendered};
use crate::storage::{KeyValue, Sql, StorageError, in_transaction};
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

/// The parts of a `points` entry: `/point` JSON and XML, the points (JSON).
const POINTS_PARTS: usize = 3;

fn points_key(project_id: ProjectId) -> String {
    format!("rm1:points:{project_id}")
}

/// How many of a project's users (the first, by id) have their key's
/// views hold the listings: what one ingest batch writes grows with it.
pub const KEY_VIEWS_PER_PROJECT: usize = 8;

/// The largest project entry (packed) that keys' views copy: about 450
/// points. A larger project's views hold the account alone, so that what
/// an ingest batch writes stays within a few megabytes (a project may have
/// 10,000 points: 10 MB of listings, which 8 copies would make 90).
pub const KEY_VIEW_MAX_ENTRY_BYTES: usize = 512 * 1024;

/// Whether keys' views copy the parts of a project entry this large.
fn copies_into_views(packed_entry: &[u8]) -> bool {
    packed_entry.len() <= KEY_VIEW_MAX_ENTRY_BYTES
}

/// A project entry that keys' views copy parts of.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Entry {
    /// `rm3:latest`.
    Latest,
    /// `rm1:points`.
    Points,
}

impl Entry {
    fn key(self, project_id: ProjectId) -> String {
        match self {
            Entry::Latest => latest_key(project_id),
            Entry::Points => points_key(project_id),
        }
    }

    fn parts(self) -> usize {
        match self {
            Entry::Latest => LATEST_PARTS,
            Entry::Points => POINTS_PARTS,
        }
    }

    /// The views that copy parts of this entry.
    fn views(self) -> &'static [View] {
        match self {
            Entry::Latest => &[
                View::Data,
                View::Interval,
                View::StatusJson,
                View::StatusXml,
            ],
            Entry::Points => &[View::PointsJson, View::PointsXml, View::PointsLookup],
        }
    }
}

/// What a read by API key wants with the account, in one key-value read:
/// one answer's parts, so that the read moves no more than it answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum View {
    /// `/data` (JSON, XML).
    Data,
    /// `/interval` (JSON, XML).
    Interval,
    /// `/status`'s JSON template and clock.
    StatusJson,
    /// `/status`'s XML template and clock.
    StatusXml,
    /// `/point` in JSON.
    PointsJson,
    /// `/point` in XML.
    PointsXml,
    /// The points, for `/point?id=` and `?name=`.
    PointsLookup,
}

impl View {
    const ALL: [View; 7] = [
        View::Data,
        View::Interval,
        View::StatusJson,
        View::StatusXml,
        View::PointsJson,
        View::PointsXml,
        View::PointsLookup,
    ];

    /// The view `/data` or `/interval` is read from.
    pub fn of(listing: Listing) -> View {
        match listing {
            Listing::Data => View::Data,
            Listing::Interval => View::Interval,
            Listing::Points => View::PointsJson,
        }
    }

    /// The view `/status` is read from, for a request that asks for
    /// `explicit` (as [`View::of_points`]).
    pub fn of_status(explicit: Option<Format>) -> View {
        match explicit.map(Format::of_answer) {
            Some(Format::Xml) => View::StatusXml,
            _ => View::StatusJson,
        }
    }

    /// The view `/point` is read from: the points for a `lookup` of one,
    /// else the list in the format the request asks for, `explicit` (the
    /// caller's preference, read with it, may still want the other: then
    /// the view does not answer).
    pub fn of_points(explicit: Option<Format>, lookup: bool) -> View {
        match explicit.map(Format::of_answer) {
            _ if lookup => View::PointsLookup,
            Some(Format::Xml) => View::PointsXml,
            _ => View::PointsJson,
        }
    }

    fn key(self, key_hash: &str) -> String {
        let name = match self {
            View::Data => "data",
            View::Interval => "interval",
            View::StatusJson => "status-json",
            View::StatusXml => "status-xml",
            View::PointsJson => "points-json",
            View::PointsXml => "points-xml",
            View::PointsLookup => "points-lookup",
        };
        format!("rm4:key-{name}:{key_hash}")
    }

    /// The parts of its entry that the view holds.
    fn parts(self) -> &'static [usize] {
        match self {
            View::Data => &[0, 1],
            View::Interval => &[2, 3],
            View::StatusJson => &[4, 6],
            View::StatusXml => &[5, 6],
            View::PointsJson => &[0],
            View::PointsXml => &[1],
            View::PointsLookup => &[2],
        }
    }

    /// The view's value: the account, then its parts of the entry when
    /// the entry's `parts` are known.
    fn value(self, account_json: &[u8], parts: Option<&[&[u8]]>) -> Vec<u8> {
        let mut held = vec![account_json];
        if let Some(parts) = parts {
            held.extend(self.parts().iter().map(|&index| parts[index]));
        }
        pack(&held)
    }
}

/// A key's view as read, holding its answer's parts.
pub struct KeyView {
    view: View,
    bytes: Vec<u8>,
}

impl KeyView {
    fn parts(&self) -> Option<Vec<&[u8]>> {
        let mut parts = unpack(&self.bytes, 1 + self.view.parts().len())?;
        parts.remove(0);
        Some(parts)
    }

    /// `/data` or `/interval`, when this view holds it.
    pub fn listing(&self, listing: Listing) -> Option<StoredListing> {
        if listing == Listing::Points || self.view != View::of(listing) {
            return None;
        }
        let parts = self.parts()?;
        Some(StoredListing {
            rendered: Rendered {
                json: parts[0].to_vec(),
                xml: parts[1].to_vec(),
            },
            points_json: Vec::new(),
        })
    }

    /// `/point`'s list for an answer in `format`, when this view holds
    /// it: the body in that format only.
    pub fn point_list(&self, format: Format) -> Option<Rendered> {
        if self.view != View::of_points(Some(format), false) {
            return None;
        }
        Some(Rendered::only(format, self.parts()?[0].to_vec()))
    }

    /// The points (JSON), when this view holds them.
    fn points_json(&self) -> Option<&[u8]> {
        if self.view != View::PointsLookup {
            return None;
        }
        Some(self.parts()?[0])
    }

    /// `/status`'s template for an answer in `format`, when this view
    /// holds it.
    pub fn status(&self, format: Format) -> Option<StatusTemplate<'_>> {
        if self.view != View::of_status(Some(format)) {
            return None;
        }
        let parts = self.parts()?;
        StatusTemplate::from_parts(parts[0], parts[1])
    }
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
    /// The listing from its entry's parts ([`LATEST_PARTS`] or
    /// [`POINTS_PARTS`]), copying only those it answers with.
    fn of_parts(listing: Listing, parts: &[&[u8]]) -> Self {
        let first = if listing == Listing::Interval { 2 } else { 0 };
        StoredListing {
            rendered: Rendered {
                json: parts[first].to_vec(),
                xml: parts[first + 1].to_vec(),
            },
            points_json: if listing == Listing::Points {
                parts[2].to_vec()
            } else {
                Vec::new()
            },
        }
    }

    pub fn points(&self) -> Result<Vec<Point>, ApiError> {
        parse_points(&self.points_json)
    }
}

/// The points as a listing stores them (JSON).
fn parse_points(points_json: &[u8]) -> Result<Vec<Point>, ApiError> {
    serde_json::from_slice(points_json)
        .map_err(|error| ApiError::internal(format!("stored points: {error}")))
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
    rebuild_account_of_key(ctx, key_hash)
}

/// The account of a key with no entry (or a damaged one), from SQL, and
/// its entries rebuilt. Not under the write lock until the key is known to
/// be real: a stream of made-up keys must not queue every writer behind it.
fn rebuild_account_of_key(ctx: &Ctx, key_hash: &str) -> Result<Option<Account>, ApiError> {
    let Some(account) = accounts::by_api_key_hash(ctx.db()?, key_hash)? else {
        return Ok(None);
    };
    let account = write(ctx, |db, kv| refresh_account(kv, db, account.user_id, None))?;
    Ok(account.filter(|account| account.api_key_hash == key_hash))
}

/// [`account_by_api_key_hash`] with the key's `view`: one key-value read
/// when hot, and the view holds the listing when the key's user is one of
/// its project's first [`KEY_VIEWS_PER_PROJECT`]. A missing view is
/// rebuilt under the lock (the key's first read, or after a failed write).
pub fn account_and_view_by_api_key_hash(
    ctx: &Ctx,
    key_hash: &str,
    view: View,
) -> Result<Option<(Account, Option<KeyView>)>, ApiError> {
    if let Some(bytes) = ctx.kv().get(&view.key(key_hash))?
        && let Some((account, whole)) = view_account(&bytes, view)
        // Written only for the key the account had at that moment, with
        // its account entry; a rotation deletes both under the same lock.
        && account.api_key_hash == key_hash
    {
        let view = whole.then_some(KeyView { view, bytes });
        return Ok(Some((account, view)));
    }
    Ok(rebuild_account_of_key(ctx, key_hash)?.map(|account| (account, None)))
}

/// The account a view's value holds, and whether it holds the listing too.
fn view_account(bytes: &[u8], view: View) -> Option<(Account, bool)> {
    let parts = unpack(bytes, 1).or_else(|| unpack(bytes, 1 + view.parts().len()))?;
    let account = serde_json::from_slice::<Account>(parts[0]).ok()?;
    Some((account, parts.len() > 1))
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
    write(ctx, |db, kv| refresh_account(kv, db, user_id, None))
}

fn stored_account(ctx: &Ctx, key: &str) -> Result<Option<Account>, ApiError> {
    Ok(ctx
        .kv()
        .get(key)?
        .and_then(|bytes| serde_json::from_slice::<Account>(&bytes).ok()))
}

/// Rewrites the account's read models from SQL (its key's views with the
/// project's listings as stored, when it is one of the project's first
/// users), or removes them when the user is gone; `stale_key_hash` names a
/// key the user may have had before this write (a rotation, a deletion),
/// whose entries go too. Call inside the write transaction that changed
/// the user.
fn refresh_account(
    kv: &dyn KeyValue,
    db: &dyn Sql,
    user_id: UserId,
    stale_key_hash: Option<&str>,
) -> Result<Option<Account>, ApiError> {
    let account = accounts::by_id(db, user_id)?;
    match &account {
        Some(account) => {
            let bytes = account_json(account)?;
            let holds_listings =
                accounts::first_of_project(db, account.project_id, KEY_VIEWS_PER_PROJECT)?
                    .iter()
                    .any(|first| first.user_id == user_id);
            let mut entries = vec![
                (account_key(user_id), bytes.clone()),
                (api_key_key(&account.api_key_hash), bytes.clone()),
            ];
            entries.extend(key_views(
                kv,
                account.project_id,
                &[(bytes, account.api_key_hash.clone())],
                holds_listings,
            )?);
            kv.set_many(&entries)?;
        }
        None => kv.delete(&account_key(user_id))?,
    }
    if let Some(stale) = stale_key_hash
        && account
            .as_ref()
            .is_none_or(|account| account.api_key_hash != stale)
    {
        let mut keys = vec![api_key_key(stale)];
        keys.extend(View::ALL.map(|view| view.key(stale)));
        kv.delete_many(&keys)?;
    }
    Ok(account)
}

/// The views of the keys of `accounts` (each its JSON and its key's
/// digest), holding the project's listings as stored when `with_listings`,
/// else the account alone.
fn key_views(
    kv: &dyn KeyValue,
    project_id: ProjectId,
    accounts: &[(Vec<u8>, String)],
    with_listings: bool,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let mut views = Vec::new();
    for entry in [Entry::Latest, Entry::Points] {
        let stored = if with_listings {
            kv.get(&entry.key(project_id))?
        } else {
            None
        };
        let parts = stored
            .as_deref()
            .filter(|stored| copies_into_views(stored))
            .and_then(|stored| unpack(stored, entry.parts()));
        for (account_json, key_hash) in accounts {
            for view in entry.views() {
                views.push((
                    view.key(key_hash),
                    view.value(account_json, parts.as_deref()),
                ));
            }
        }
    }
    Ok(views)
}

/// Rewrites the views of the project's first users' keys from the
/// listings as stored: after a deletion, the user who takes the deleted
/// one's place among them reads in one key-value read at once.
fn refresh_first_users_views(
    kv: &dyn KeyValue,
    db: &dyn Sql,
    project_id: ProjectId,
) -> Result<(), ApiError> {
    let first = first_users(db, project_id)?;
    kv.set_many(&key_views(kv, project_id, &first, true)?)?;
    Ok(())
}

/// The project's first [`KEY_VIEWS_PER_PROJECT`] users: each one's
/// account (JSON) and key's digest.
fn first_users(db: &dyn Sql, project_id: ProjectId) -> Result<Vec<(Vec<u8>, String)>, ApiError> {
    accounts::first_of_project(db, project_id, KEY_VIEWS_PER_PROJECT)?
        .into_iter()
        .map(|account| Ok((account_json(&account)?, account.api_key_hash)))
        .collect()
}

fn account_json(account: &Account) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(account).map_err(|error| ApiError::internal(error.to_string()))
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
        POINTS_PARTS
    } else {
        LATEST_PARTS
    };
    if let Some(bytes) = ctx.kv().get(&key)?
        && let Some(parts) = unpack(&bytes, count)
    {
        return Ok(StoredListing::of_parts(listing, &parts));
    }
    Ok(rebuild_project(ctx, project_id)?.take(listing))
}

/// [`listing`], from the key's view when it holds it (read with the
/// account, [`account_and_view_by_api_key_hash`]).
pub fn listing_or_view(
    ctx: &Ctx,
    project_id: ProjectId,
    listing: Listing,
    view: Option<&KeyView>,
) -> Result<StoredListing, ApiError> {
    match view.and_then(|view| view.listing(listing)) {
        Some(stored) => Ok(stored),
        None => self::listing(ctx, project_id, listing),
    }
}

/// `/point`'s list for an answer in `format` (as the answer will be
/// negotiated: [`crate::http::request::answer_format`]), from the key's
/// view when it holds it.
pub fn point_list_or_view(
    ctx: &Ctx,
    project_id: ProjectId,
    view: Option<&KeyView>,
    format: Format,
) -> Result<Rendered, ApiError> {
    match view.and_then(|view| view.point_list(format)) {
        Some(rendered) => Ok(rendered),
        None => Ok(listing(ctx, project_id, Listing::Points)?.rendered),
    }
}

/// The project's points, from the key's view when it holds them.
pub fn points_or_view(
    ctx: &Ctx,
    project_id: ProjectId,
    view: Option<&KeyView>,
) -> Result<Vec<Point>, ApiError> {
    match view.and_then(KeyView::points_json) {
        Some(points_json) => parse_points(points_json),
        None => listing(ctx, project_id, Listing::Points)?.points(),
    }
}

/// [`status`]'s template for an answer in `format` (as
/// [`point_list_or_view`]), from the key's view when it holds it.
pub fn status_or_view<'a>(
    ctx: &Ctx,
    project_id: ProjectId,
    view: Option<&'a KeyView>,
    format: Format,
) -> Result<StatusTemplate<'a>, ApiError> {
    match view.and_then(|view| view.status(format)) {
        Some(status) => Ok(status),
        None => Ok(status(ctx, project_id)?.in_format(format)),
    }
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
    write(ctx, |db, kv| {
        refresh_project(ctx, kv, db, project_id, None, Changed::Points, None)
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
/// (read when `None`), with the collector's `contact` (read when `None`),
/// and its first users' key views, in one `set_many`. Readings only, from
/// ingest: two statements; points changed: four. Call inside the write
/// transaction that changed its points or readings.
fn refresh_project(
    ctx: &Ctx,
    kv: &dyn KeyValue,
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
    let first_users = first_users(db, project_id)?;
    let mut entries = Vec::with_capacity(1 + 3 * first_users.len());
    // The entry (its parts, and them packed) and the first users' views.
    let mut add = |entry: Entry, parts: &[&[u8]], packed: Vec<u8>| {
        let copied = copies_into_views(&packed).then_some(parts);
        entries.push((entry.key(project_id), packed));
        for (account_json, key_hash) in &first_users {
            for view in entry.views() {
                entries.push((view.key(key_hash), view.value(account_json, copied)));
            }
        }
    };
    let latest_parts: [&[u8]; LATEST_PARTS] = [
        &data.json,
        &data.xml,
        &interval.json,
        &interval.xml,
        &status_json,
        &status_xml,
        &status_clock,
    ];
    add(Entry::Latest, &latest_parts, pack(&latest_parts));
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
            let parts: [&[u8]; POINTS_PARTS] = [
                &listing.rendered.json,
                &listing.rendered.xml,
                &listing.points_json,
            ];
            let packed = pack(&parts);
            if kv
                .get(&points_key(project_id))?
                .is_none_or(|old| old != packed)
            {
                add(Entry::Points, &parts, packed);
            }
            Some(listing)
        }
        None => None,
    };
    kv.set_many(&entries)?;
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
    write(ctx, |db, kv| {
        let handle = AccountWrite {
            db,
            user_id,
            project_id: account.project_id,
        };
        let value = body(&handle)?;
        let stored = refresh_account(kv, db, user_id, Some(old_key_hash))?;
        if stored.is_none() {
            refresh_first_users_views(kv, db, handle.project_id)?;
        }
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
    write(ctx, |db, kv| {
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
        let listings = refresh_project(ctx, kv, db, project_id, timezone, changed, contact)?;
        Ok((value, listings))
    })
}

/// Runs `body` in a `BEGIN IMMEDIATE` transaction (see
/// [`in_transaction`]) with the key-value store through a [`Journal`]; when
/// it fails, commit included, every entry it wrote is deleted (best
/// effort), so the next read rebuilds it from what SQL really holds. What
/// it deleted stays deleted: a missing entry is rebuilt, never trusted.
fn write<T>(
    ctx: &Ctx,
    mut body: impl FnMut(&dyn Sql, &dyn KeyValue) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let journal = Journal {
        kv: ctx.kv(),
        written: RefCell::new(Vec::new()),
    };
    let result = in_transaction(ctx.db()?, |db| body(db, &journal));
    if result.is_err() {
        let mut written = journal.written.into_inner();
        written.sort();
        written.dedup();
        if let Err(error) = ctx.kv().delete_many(&written) {
            ctx.env().log(&format!(
                "could not drop read models {written:?} after a failed write: {error}"
            ));
        }
    }
    result
}

/// The key-value store as a write transaction uses it: every key it sets
/// is noted before the store sees it (a failed `set_many` may have written
/// part), so that a failed commit can take all of them back.
struct Journal<'a> {
    kv: &'a dyn KeyValue,
    written: RefCell<Vec<String>>,
}

impl KeyValue for Journal<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.kv.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.written.borrow_mut().push(key.to_owned());
        self.kv.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.kv.delete(key)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        self.written
            .borrow_mut()
            .extend(entries.iter().map(|(key, _)| key.clone()));
        self.kv.set_many(entries)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), StorageError> {
        self.kv.delete_many(keys)
    }
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
