//! Users and projects in the SQL database: the queries, always scoped by
//! user or project id, and the shapes the page shows for them.

use crate::domain::time::local_date_time;
use crate::error::ApiError;
use crate::storage::{Row, Sql, SqlValue, StorageError};
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A user together with their project, as the account routes show it and
/// authentication checks it (its read model, `readmodel::account`). The
/// password hash is not part of it: only a login reads that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub user_id: i64,
    pub project_id: i64,
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
            user_id: row.int(0)?,
            project_id: row.int(1)?,
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
            ("uuid", Value::Int(self.user_id)),
            ("project", Value::Int(self.project_id)),
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
    pub fn seal_owner(user_id: i64) -> String {
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

pub fn by_id(db: &dyn Sql, user_id: i64) -> Result<Option<Account>, ApiError> {
    one_account(db, "u.id = ?", &[user_id.into()])
}

/// The id and password hash of the user called `username` (any case).
pub fn login_by_username(db: &dyn Sql, username: &str) -> Result<Option<(i64, String)>, ApiError> {
    let rows = db.execute(
        "SELECT id, password_hash FROM users WHERE username = ?",
        &[username.into()],
    )?;
    Ok(rows
        .first()
        .map(|row| Ok::<_, StorageError>((row.int(0)?, row.text(1)?)))
        .transpose()?)
}

/// The password hash of a user.
pub fn password_hash(db: &dyn Sql, user_id: i64) -> Result<Option<String>, ApiError> {
    let rows = db.execute(
        "SELECT password_hash FROM users WHERE id = ?",
        &[user_id.into()],
    )?;
    Ok(rows.first().map(|row| row.text(0)).transpose()?)
}

pub fn by_api_key_hash(db: &dyn Sql, key_hash: &str) -> Result<Option<Account>, ApiError> {
    one_account(db, "u.api_key_hash = ?", &[key_hash.into()])
}

/// The sealed API key of a user.
pub fn sealed_api_key(db: &dyn Sql, user_id: i64) -> Result<Option<Vec<u8>>, ApiError> {
    let rows = db.execute(
        "SELECT api_key_sealed FROM users WHERE id = ?",
        &[user_id.into()],
    )?;
    Ok(rows.first().map(|row| row.blob(0)).transpose()?)
}

/// Every user of one project, by id: the `/user` GET shape.
pub fn public_users(db: &dyn Sql, project_id: i64, timezone: &str) -> Result<Value, ApiError> {
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
    pub project_id: i64,
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub joined_at: i64,
    pub api_key_hash: &'a str,
    pub session_stamp: &'a str,
}

/// Inserts a user; its sealed key is set by [`set_api_key`] once the id is
/// known (the seal is bound to the id). 409 when the username is taken.
pub fn insert_user(db: &dyn Sql, user: &NewUser) -> Result<i64, ApiError> {
    let rows = db
        .execute(
            "INSERT INTO users (project_id, username, email, password_hash, joined_at, api_key_hash, \
             api_key_sealed, session_stamp) VALUES (?, ?, ?, ?, ?, ?, x'', ?) RETURNING id",
            &[
                user.project_id.into(),
                user.username.into(),
                user.email.into(),
                user.password_hash.into(),
                user.joined_at.into(),
                user.api_key_hash.into(),
                user.session_stamp.into(),
            ],
        )
        .map_err(|error| username_conflict(error, user.username))?;
    rows.first()
        .ok_or_else(|| ApiError::internal("INSERT … RETURNING id returned no row"))?
        .int(0)
        .map_err(ApiError::from)
}

pub fn set_api_key(
    db: &dyn Sql,
    user_id: i64,
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

pub fn update_user(db: &dyn Sql, user_id: i64, changes: &AccountChanges) -> Result<(), ApiError> {
    db.execute(
        "UPDATE users SET username = COALESCE(?, username), email = COALESCE(?, email), \
         password_hash = COALESCE(?, password_hash), prefers_xml = COALESCE(?, prefers_xml), \
         session_stamp = COALESCE(?, session_stamp) WHERE id = ?",
        &[
            optional(changes.username.map(SqlValue::from)),
            optional(changes.email.map(SqlValue::from)),
            optional(changes.password_hash.clone().map(SqlValue::from)),
            optional(changes.prefers_xml.map(SqlValue::from)),
            optional(changes.session_stamp.clone().map(SqlValue::from)),
            user_id.into(),
        ],
    )
    .map_err(|error| username_conflict(error, changes.username.unwrap_or("")))?;
    Ok(())
}

/// Deletes a user unless it is the last of its project, in one statement:
/// SQLite runs a write statement under the database's write lock, so two
/// users of a two-user project deleting themselves at once cannot both
/// pass the count. Returns whether the user was deleted.
pub fn delete_user_unless_last(
    db: &dyn Sql,
    user_id: i64,
    project_id: i64,
) -> Result<bool, ApiError> {
    let rows = db.execute(
        "DELETE FROM users WHERE id = ?1 AND project_id = ?2 \
         AND (SELECT COUNT(*) FROM users WHERE project_id = ?2) > 1 RETURNING id",
        &[user_id.into(), project_id.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

pub fn insert_project(
    db: &dyn Sql,
    name: &str,
    timezone: &str,
    ingest_token_hash: &str,
    created_at: i64,
) -> Result<i64, ApiError> {
    let rows = db.execute(
        "INSERT INTO projects (name, timezone, ingest_token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        &[name.into(), timezone.into(), ingest_token_hash.into(), created_at.into()],
    )?;
    rows.first()
        .ok_or_else(|| ApiError::internal("INSERT … RETURNING id returned no row"))?
        .int(0)
        .map_err(ApiError::from)
}

/// Replaces a project's ingest token digest; false when there is no such
/// project.
pub fn set_ingest_token_hash(
    db: &dyn Sql,
    project_id: i64,
    token_hash: &str,
) -> Result<bool, ApiError> {
    let rows = db.execute(
        "UPDATE projects SET ingest_token_hash = ? WHERE id = ? RETURNING id",
        &[token_hash.into(), project_id.into()],
    )?;
    Ok(!rows.rows.is_empty())
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
