//! Users and projects in the SQL database: the queries, always scoped by
//! user or project id, and the shapes the page shows for them.

use crate::context::Ctx;
use crate::domain::ids::{ProjectId, UserId};
use crate::domain::names::username_key;
use crate::domain::time::local_date_time;
use crate::error::ApiError;
use crate::readmodel::{self, AccountWrite};
use crate::security::secrets;
use crate::storage::in_transaction;
use crate::storage::{Row, Sql, SqlValue, StorageError};
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A user together with their project, as the account routes show it and
/// authentication checks it (its read model, `readmodel::account`). The
/// password hash is not part of it: only a login reads that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: UserId,
    pub project_id: ProjectId,
    pub username: String,
    pub email: String,
    pub joined_at: i64,
    pub prefers_xml: bool,
    pub project_name: String,
    pub timezone: String,
    pub api_key_hash: String,
    /// Sessions are valid only while issued with this stamp (see
    /// `auth::start_session`); replacing it ends them all.
    pub session_stamp: String,
}

const ACCOUNT_COLUMNS: &str = "u.id, u.project_id, u.username, u.email, u.joined_at, \
     u.prefers_xml, p.name, p.timezone, u.api_key_hash, u.session_stamp";

impl Account {
    fn from_row(row: Row) -> Result<Self, StorageError> {
        Ok(Account {
            user_id: UserId::from_column(&row, 0)?,
            project_id: ProjectId::from_column(&row, 1)?,
            username: row.text(2)?,
            email: row.text(3)?,
            joined_at: row.int(4)?,
            prefers_xml: row.int(5)? != 0,
            project_name: row.text(6)?,
            timezone: row.text(7)?,
            api_key_hash: row.text(8)?,
            session_stamp: row.text(9)?,
        })
    }

    /// The `/session` shape: `uuid, project, username, email, joined, xml,
    /// project_name` (the key order of the page's XML example).
    pub fn to_value(&self) -> Value {
        Value::dict([
            ("uuid", Value::Int(self.user_id.get())),
            ("project", Value::Int(self.project_id.get())),
            ("username", Value::str(&*self.username)),
            ("email", Value::str(&*self.email)),
            (
                "joined",
                Value::str(local_date_time(self.joined_at, &self.timezone)),
            ),
            ("xml", Value::Bool(self.prefers_xml)),
            ("project_name", Value::str(&*self.project_name)),
        ])
    }

    /// Owner tag that binds this user's sealed API key to this row.
    pub fn seal_owner(user_id: UserId) -> String {
        format!("user:{user_id}")
    }
}

fn one_account(
    db: &dyn Sql,
    condition: &str,
    params: &[SqlValue],
) -> Result<Option<Account>, ApiError> {
    let rows = db.execute(
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users u JOIN projects p ON p.id = u.project_id WHERE {condition}"
        ),
        params,
    )?;
    Ok(rows.first().map(Account::from_row).transpose()?)
}

pub fn by_id(db: &dyn Sql, user_id: UserId) -> Result<Option<Account>, ApiError> {
    one_account(db, "u.id = ?", &[user_id.into()])
}

/// What a password login checks: the user and its password hash.
pub struct StoredLogin {
    pub user_id: UserId,
    pub password_hash: String,
}

/// The user called `username`, compared by its key (`names.rs`: any case,
/// any width), and its password hash. A user older than keys whose key an
/// older user already had has none: it is found by its exact name, first.
pub fn login_by_username(db: &dyn Sql, username: &str) -> Result<Option<StoredLogin>, ApiError> {
    let rows = db.execute(
        "SELECT id, password_hash FROM users \
         WHERE username_key = ?1 OR (username_key IS NULL AND username = ?2) \
         ORDER BY username_key IS NULL DESC LIMIT 1",
        &[username_key(username).into(), username.into()],
    )?;
    Ok(rows
        .first()
        .map(|row| {
            Ok::<_, StorageError>(StoredLogin {
                user_id: UserId::from_column(&row, 0)?,
                password_hash: row.text(1)?,
            })
        })
        .transpose()?)
}

/// The password hash of a user.
pub fn password_hash(db: &dyn Sql, user_id: UserId) -> Result<Option<String>, ApiError> {
    let rows = db.execute(
        "SELECT password_hash FROM users WHERE id = ?",
        &[user_id.into()],
    )?;
    Ok(rows.first().map(|row| row.text(0)).transpose()?)
}

pub fn by_api_key_hash(db: &dyn Sql, key_hash: &str) -> Result<Option<Account>, ApiError> {
    one_account(db, "u.api_key_hash = ?", &[key_hash.into()])
}

/// The project's first `count` users by id (`users_by_project`): a user
/// stays among them from its creation until it is deleted, since ids only
/// grow.
pub fn first_of_project(
    db: &dyn Sql,
    project_id: ProjectId,
    count: usize,
) -> Result<Vec<Account>, ApiError> {
    let rows = db.execute(
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users u JOIN projects p ON p.id = u.project_id \
             WHERE u.project_id = ?1 ORDER BY u.id LIMIT ?2"
        ),
        &[project_id.into(), (count as i64).into()],
    )?;
    Ok(rows
        .iter()
        .map(Account::from_row)
        .collect::<Result<_, _>>()?)
}

/// The sealed API key of a user.
pub fn sealed_api_key(db: &dyn Sql, user_id: UserId) -> Result<Option<Vec<u8>>, ApiError> {
    let rows = db.execute(
        "SELECT api_key_sealed FROM users WHERE id = ?",
        &[user_id.into()],
    )?;
    Ok(rows.first().map(|row| row.blob(0)).transpose()?)
}

/// Every user of one project, by id: the `/user` GET shape.
pub fn public_users(
    db: &dyn Sql,
    project_id: ProjectId,
    timezone: &str,
) -> Result<Value, ApiError> {
    let rows = db.execute(
        "SELECT id, username, email, joined_at FROM users WHERE project_id = ? ORDER BY id",
        &[project_id.into()],
    )?;
    let mut users = Vec::with_capacity(rows.rows.len());
    for row in rows.iter() {
        users.push(Value::dict([
            ("uuid", Value::Int(row.int(0)?)),
            ("username", Value::Str(row.text(1)?)),
            ("email", Value::Str(row.text(2)?)),
            (
                "joined",
                Value::LocalDateTime(local_date_time(row.int(3)?, timezone)),
            ),
        ]));
    }
    Ok(Value::List(users))
}

/// What a new user is made of; secrets already hashed or sealed.
pub struct NewUser<'a> {
    pub project_id: ProjectId,
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub joined_at: i64,
    pub api_key_hash: &'a str,
    pub session_stamp: &'a str,
}

/// Inserts a user; its sealed key is set by [`set_api_key`] once the id is
/// known (the seal is bound to the id). 409 when the username is taken.
pub fn insert_user(db: &dyn Sql, user: &NewUser) -> Result<UserId, ApiError> {
    let rows = db
        .execute(
            "INSERT INTO users (project_id, username, username_key, email, password_hash, joined_at, \
             api_key_hash, api_key_sealed, session_stamp) VALUES (?, ?, ?, ?, ?, ?, ?, x'', ?) RETURNING id",
            &[
                user.project_id.into(),
                user.username.into(),
                username_key(user.username).into(),
                user.email.into(),
                user.password_hash.into(),
                user.joined_at.into(),
                user.api_key_hash.into(),
                user.session_stamp.into(),
            ],
        )
        .map_err(|error| username_conflict(error, user.username))?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::internal("INSERT … RETURNING id returned no row"))?;
    Ok(UserId::from_column(&row, 0)?)
}

/// Replaces the user's API key (digest and sealed copy); the old key
/// stops opening anything when the write commits.
pub fn set_api_key(write: &AccountWrite, key_hash: &str, sealed: Vec<u8>) -> Result<(), ApiError> {
    store_api_key(write.db(), write.user_id(), key_hash, sealed)
}

/// The key of a user created in this transaction (no read model yet), or
/// of [`set_api_key`].
pub(crate) fn store_api_key(
    db: &dyn Sql,
    user_id: UserId,
    key_hash: &str,
    sealed: Vec<u8>,
) -> Result<(), ApiError> {
    db.execute(
        "UPDATE users SET api_key_hash = ?, api_key_sealed = ? WHERE id = ?",
        &[key_hash.into(), sealed.into(), user_id.into()],
    )?;
    Ok(())
}

/// Changes to a user's own account; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountChanges<'a> {
    pub username: Option<&'a str>,
    pub email: Option<&'a str>,
    pub password_hash: Option<String>,
    pub prefers_xml: Option<bool>,
    /// A new session stamp ends every session issued before it.
    pub session_stamp: Option<String>,
}

pub fn update_user(write: &AccountWrite, changes: &AccountChanges) -> Result<(), ApiError> {
    write
        .db()
        .execute(
            "UPDATE users SET username = COALESCE(?, username), \
         username_key = COALESCE(?, username_key), email = COALESCE(?, email), \
         password_hash = COALESCE(?, password_hash), prefers_xml = COALESCE(?, prefers_xml), \
         session_stamp = COALESCE(?, session_stamp) WHERE id = ?",
            &[
                optional(changes.username.map(SqlValue::from)),
                optional(changes.username.map(|name| username_key(name).into())),
                optional(changes.email.map(SqlValue::from)),
                optional(changes.password_hash.clone().map(SqlValue::from)),
                optional(changes.prefers_xml.map(SqlValue::from)),
                optional(changes.session_stamp.clone().map(SqlValue::from)),
                write.user_id().into(),
            ],
        )
        .map_err(|error| username_conflict(error, changes.username.unwrap_or("")))?;
    Ok(())
}

/// Deletes a user unless it is the last of its project, in one statement:
/// SQLite runs a write statement under the database's write lock, so two
/// users of a two-user project deleting themselves at once cannot both
/// pass the count. Returns whether the user was deleted.
pub fn delete_user_unless_last(write: &AccountWrite) -> Result<bool, ApiError> {
    let rows = write.db().execute(
        "DELETE FROM users WHERE id = ?1 AND project_id = ?2 \
         AND (SELECT COUNT(*) FROM users WHERE project_id = ?2) > 1 RETURNING id",
        &[write.user_id().into(), write.project_id().into()],
    )?;
    Ok(!rows.rows.is_empty())
}

pub fn insert_project(
    db: &dyn Sql,
    name: &str,
    timezone: &str,
    ingest_token_hash: &str,
    created_at: i64,
) -> Result<ProjectId, ApiError> {
    let rows = db.execute(
        "INSERT INTO projects (name, timezone, ingest_token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        &[name.into(), timezone.into(), ingest_token_hash.into(), created_at.into()],
    )?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::internal("INSERT … RETURNING id returned no row"))?;
    Ok(ProjectId::from_column(&row, 0)?)
}

/// Replaces a project's ingest token digest; false when there is no such
/// project.
pub fn set_ingest_token_hash(
    db: &dyn Sql,
    project_id: ProjectId,
    token_hash: &str,
) -> Result<bool, ApiError> {
    let rows = db.execute(
        "UPDATE projects SET ingest_token_hash = ? WHERE id = ? RETURNING id",
        &[token_hash.into(), project_id.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// A project and the time zone of its local days.
pub struct ProjectZone {
    pub project_id: ProjectId,
    pub timezone: String,
}

/// The project whose ingest token has digest `token_hash`.
pub fn project_by_ingest_token_hash(
    db: &dyn Sql,
    token_hash: &str,
) -> Result<Option<ProjectZone>, ApiError> {
    let rows = db.execute(
        "SELECT id, timezone FROM projects WHERE ingest_token_hash = ?",
        &[token_hash.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(ProjectZone {
                project_id: ProjectId::from_column(&row, 0)?,
                timezone: row.text(1)?,
            })
        })
        .transpose()
}

/// Gives the users made before migration 5 their username key, oldest
/// first, once: before a login or an account write (a cheap read when
/// there is nothing to do). A key an older user already has is left NULL.
pub fn key_usernames(ctx: &Ctx) -> Result<(), ApiError> {
    let pending = |db: &dyn Sql| -> Result<bool, ApiError> {
        Ok(!db
            .execute(
                "SELECT 1 FROM pending_work WHERE name = 'username_keys'",
                &[],
            )?
            .rows
            .is_empty())
    };
    let db = ctx.db()?;
    if !pending(db)? {
        return Ok(());
    }
    in_transaction(db, |db| {
        if !pending(db)? {
            return Ok(());
        }
        let users = db.execute(
            "SELECT id, username FROM users WHERE username_key IS NULL ORDER BY id",
            &[],
        )?;
        for user in users.iter() {
            db.execute(
                "UPDATE users SET username_key = ?1 WHERE id = ?2 \
                 AND NOT EXISTS (SELECT 1 FROM users WHERE username_key = ?1)",
                &[username_key(&user.text(1)?).into(), user.int(0)?.into()],
            )?;
        }
        db.execute("DELETE FROM pending_work WHERE name = 'username_keys'", &[])?;
        Ok::<_, ApiError>(())
    })
}

/// The caller's project's users, as `GET /user` shows them.
pub fn users_of(ctx: &Ctx, account: &Account) -> Result<Value, ApiError> {
    public_users(ctx.db()?, account.project_id, &account.timezone)
}

/// Applies `changes` to the caller's own account; returns it as stored.
/// 401 when the user was deleted meanwhile, 409 for a taken username.
pub fn update_own(
    ctx: &Ctx,
    account: &Account,
    changes: &AccountChanges,
) -> Result<Account, ApiError> {
    if changes.username.is_some() {
        key_usernames(ctx)?;
    }
    let ((), stored) = readmodel::write_account(ctx, account, |write| update_user(write, changes))?;
    stored.ok_or_else(|| ApiError::unauthorized("the account no longer exists"))
}

/// Ends every session of the account (a new session stamp).
pub fn end_every_session(ctx: &Ctx, account: &Account) -> Result<(), ApiError> {
    let changes = AccountChanges {
        session_stamp: Some(secrets::new_session_stamp(ctx.env())),
        ..AccountChanges::default()
    };
    readmodel::write_account(ctx, account, |write| update_user(write, &changes))?;
    Ok(())
}

/// Deletes the caller's own user; 409 when it is the last of its project.
pub fn delete_own(ctx: &Ctx, account: &Account) -> Result<(), ApiError> {
    let (deleted, _) = readmodel::write_account(ctx, account, delete_user_unless_last)?;
    if deleted {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "the last user of a project cannot delete itself; create another user first (PUT /user)",
        ))
    }
}

fn optional(value: Option<SqlValue>) -> SqlValue {
    value.unwrap_or(SqlValue::Null)
}

fn username_conflict(error: StorageError, username: &str) -> ApiError {
    // The only other unique column a user write sets is the digest of a
    // freshly drawn 256-bit API key.
    if error.is_unique_violation() {
        ApiError::conflict(format!("username {username:?} is already taken"))
    } else {
        error.into()
    }
}
