//! One module per route, each a [`crate::http::Handler`]. The Spin
//! component of a route calls exactly one of these.

pub mod admin;
pub mod data;
pub mod file;
pub mod graphics;
pub mod ingest;
pub mod key;
pub mod not_found;
pub mod point;
pub mod series;
pub mod session;
pub mod user;

use crate::context::Ctx;
use crate::domain::accounts::{self, NewUser};
use crate::domain::validate;
use crate::error::ApiError;
use crate::security::auth;
use crate::security::secrets;
use crate::storage::in_transaction;

/// What a new user is given at creation (by `PUT /user` or provisioning).
pub(crate) struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

/// A validated new user with its password hashed and API key drawn: the
/// slow work (argon2, sealing key) is done before the write lock is taken.
pub(crate) struct PreparedAccount<'a> {
    fields: NewAccount<'a>,
    password_hash: String,
    api_key: String,
    sealing_key: secrets::SealingKey,
}

impl<'a> PreparedAccount<'a> {
    pub fn prepare(ctx: &Ctx, fields: NewAccount<'a>) -> Result<Self, ApiError> {
        validate::username(fields.username)?;
        validate::email(fields.email)?;
        validate::password(fields.password)?;
        let password_hash =
            secrets::hash_password(ctx.env(), fields.password).map_err(ApiError::internal)?;
        Ok(PreparedAccount {
            fields,
            password_hash,
            api_key: secrets::new_api_key(ctx.env()),
            sealing_key: auth::sealing_key(ctx)?,
        })
    }

    /// Inserts the user; returns its id. 409 when the username is taken.
    pub fn insert(
        &self,
        ctx: &Ctx,
        db: &dyn crate::storage::Sql,
        project_id: i64,
    ) -> Result<i64, ApiError> {
        let key_hash = secrets::digest_hex(&self.api_key);
        let user_id = accounts::insert_user(
            db,
            &NewUser {
                project_id,
                username: self.fields.username,
                email: self.fields.email,
                password_hash: &self.password_hash,
                joined_at: ctx.now(),
                api_key_hash: &key_hash,
                session_stamp: &auth::new_session_stamp(ctx),
            },
        )?;
        let sealed = self.sealing_key.seal(
            ctx.env(),
            &accounts::Account::seal_owner(user_id),
            &self.api_key,
        );
        accounts::set_api_key(db, user_id, &key_hash, sealed)?;
        Ok(user_id)
    }
}

/// Creates one user of `project_id` in its own transaction.
pub(crate) fn create_user(ctx: &Ctx, project_id: i64, fields: NewAccount) -> Result<i64, ApiError> {
    let prepared = PreparedAccount::prepare(ctx, fields)?;
    in_transaction(ctx.db()?, |db| prepared.insert(ctx, db, project_id))
}
