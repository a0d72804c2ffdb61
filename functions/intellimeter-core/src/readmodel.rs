//! Read models: what every authenticated read needs, kept in the key-value
//! store so that a hot read runs no SQL at all (ARCHITECTURE.md, "Read
//! models").
//!
//! - `rm1:account:<user id>`: the [`Account`] (no password hash), for
//!   authentication and `/session`.
//! - `rm1:project:<project id>`: the project's points with their latest
//!   reading and interval, for `/data`, `/interval` and `/point`.
//!
//! **Invariant:** an entry is written only by a writer that holds SQLite's
//! write lock (inside `BEGIN IMMEDIATE … COMMIT`), from what SQL holds at
//! that moment, before it commits. Writers hold the lock one at a time, so
//! entries are written in commit order and the last write reflects the
//! last commit. A missing entry is rebuilt the same way, under the lock. A
//! write whose commit then fails deletes the entries it wrote, so the next
//! read rebuilds them. The key prefix carries the layout version: a build
//! with another layout never reads an old entry.

use crate::accounts::{self, Account};
use crate::context::Ctx;
use crate::error::ApiError;
use crate::points::{self, Point};
use crate::readings;
use crate::storage::{Sql, in_transaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

fn account_key(user_id: i64) -> String {
    format!("rm1:account:{user_id}")
}

fn project_key(project_id: i64) -> String {
    format!("rm1:project:{project_id}")
}

/// A project's points, each with its latest reading and interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectView {
    pub points: Vec<PointView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointView {
    pub point: Point,
    /// `(time, value)`; the value as `f64::to_bits`, so it survives the
    /// round trip through JSON bit for bit.
    latest: Option<(i64, u64)>,
    interval: Option<(i64, u64)>,
}

impl PointView {
    pub fn latest(&self) -> Option<(i64, f64)> {
        self.latest.map(|(ts, bits)| (ts, f64::from_bits(bits)))
    }

    pub fn interval(&self) -> Option<(i64, f64)> {
        self.interval.map(|(ts, bits)| (ts, f64::from_bits(bits)))
    }
}

impl ProjectView {
    /// What SQL holds now: three statements.
    fn load(db: &dyn Sql, project_id: i64) -> Result<Self, ApiError> {
        let latest: HashMap<i64, (i64, u64)> = readings::latest(db, project_id)?
            .into_iter()
            .map(|(point_id, ts, value)| (point_id, (ts, value.to_bits())))
            .collect();
        let intervals: HashMap<i64, (i64, u64)> = readings::latest_intervals(db, project_id)?
            .into_iter()
            .map(|(point_id, ts, value)| (point_id, (ts, value.to_bits())))
            .collect();
        let points = points::all(db, project_id)?
            .into_iter()
            .map(|point| PointView {
                latest: latest.get(&point.id).copied(),
                interval: intervals.get(&point.id).copied(),
                point,
            })
            .collect();
        Ok(ProjectView { points })
    }
}

/// The account of `user_id`, from its read model, rebuilt from SQL when
/// missing. `None` when there is no such user.
pub fn account(ctx: &Ctx, user_id: i64) -> Result<Option<Account>, ApiError> {
    if let Some(bytes) = ctx.kv().get(&account_key(user_id))?
        && let Ok(account) = serde_json::from_slice::<Account>(&bytes)
    {
        return Ok(Some(account));
    }
    let db = ctx.db()?;
    in_transaction(db, |db| refresh_account(ctx, db, user_id))
}

/// The project's view, from its read model, rebuilt from SQL when missing.
pub fn project(ctx: &Ctx, project_id: i64) -> Result<ProjectView, ApiError> {
    if let Some(bytes) = ctx.kv().get(&project_key(project_id))?
        && let Ok(view) = serde_json::from_slice::<ProjectView>(&bytes)
    {
        return Ok(view);
    }
    let db = ctx.db()?;
    in_transaction(db, |db| refresh_project(ctx, db, project_id))
}

/// Rewrites the account's read model from SQL (or removes it when the user
/// is gone). Call inside the write transaction that changed the user.
pub fn refresh_account(ctx: &Ctx, db: &dyn Sql, user_id: i64) -> Result<Option<Account>, ApiError> {
    let account = accounts::by_id(db, user_id)?;
    match &account {
        Some(account) => ctx.kv().set(&account_key(user_id), &to_json(account)?)?,
        None => ctx.kv().delete(&account_key(user_id))?,
    }
    Ok(account)
}

/// Rewrites the project's read model from SQL. Call inside the write
/// transaction that changed its points or readings.
pub fn refresh_project(ctx: &Ctx, db: &dyn Sql, project_id: i64) -> Result<ProjectView, ApiError> {
    let view = ProjectView::load(db, project_id)?;
    ctx.kv().set(&project_key(project_id), &to_json(&view)?)?;
    Ok(view)
}

/// What a write transaction's read models are about, so that a failed
/// commit can take back what it wrote.
#[derive(Clone, Copy)]
pub enum Touched {
    Account(i64),
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
        for touched in touched {
            let key = match *touched {
                Touched::Account(id) => account_key(id),
                Touched::Project(id) => project_key(id),
            };
            if let Err(error) = ctx.kv().delete(&key) {
                ctx.env().log(&format!(
                    "could not drop read model {key} after a failed write: {error}"
                ));
            }
        }
    }
    result
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|error| ApiError::internal(error.to_string()))
}
