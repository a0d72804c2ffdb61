//! Enrolment: a new user of a project (`PUT /user`), and a new project
//! with its first user and ingest token (`POST /admin/projects`). The slow
//! work (argon2, the key seal) is done before the write lock is taken.

use crate::context::Ctx;
use crate::domain::accounts::{self, Account};
use crate::domain::ids::{ProjectId, UserId};
use crate::domain::time::is_known_time_zone;
use crate::domain::validate;
use crate::error::ApiError;
use crate::security::{auth, secrets};
use crate::storage::{Sql, in_transaction};

/// What a new user is given at creation (by `PUT /user` or provisioning).
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

/// A validated new user with its password hashed and API key drawn: the
/// slow work (argon2, sealing key) is done before the write lock is taken.
pub struct PreparedAccount<'a> {
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
        db: &dyn Sql,
        project_id: ProjectId,
    ) -> Result<UserId, ApiError> {
        let key_hash = secrets::digest_hex(&self.api_key);
        let user_id = accounts::insert_user(
            db,
            &accounts::NewUser {
                project_id,
                username: self.fields.username,
                email: self.fields.email,
                password_hash: &self.password_hash,
                joined_at: ctx.now(),
                api_key_hash: &key_hash,
                session_stamp: &secrets::new_session_stamp(ctx.env()),
            },
        )?;
        let sealed = self
            .sealing_key
            .seal(ctx.env(), &Account::seal_owner(user_id), &self.api_key);
        accounts::store_api_key(db, user_id, &key_hash, sealed)?;
        Ok(user_id)
    }
}

/// Creates one user of `project_id` in its own transaction.
pub fn create_user(
    ctx: &Ctx,
    project_id: ProjectId,
    fields: NewAccount,
) -> Result<UserId, ApiError> {
    let prepared = PreparedAccount::prepare(ctx, fields)?;
    accounts::key_usernames(ctx)?;
    in_transaction(ctx.db()?, |db| prepared.insert(ctx, db, project_id))
}

/// A new project (site) as support provisions it.
pub struct NewProject<'a> {
    pub name: &'a str,
    /// An IANA time zone: the site's local days and times.
    pub timezone: &'a str,
}

/// What provisioning made: the ids, and the collector's ingest token
/// (shown once; only its digest is stored).
pub struct Provisioned {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub ingest_token: String,
}

/// Creates a project, its first user and its ingest token, in one
/// transaction (all or nothing).
pub fn provision(
    ctx: &Ctx,
    project: NewProject,
    first_user: NewAccount,
) -> Result<Provisioned, ApiError> {
    validate::project_name(project.name)?;
    if !is_known_time_zone(project.timezone) {
        return Err(ApiError::bad_request(format!(
            "timezone {:?} is not an IANA time zone such as America/Toronto",
            project.timezone
        )));
    }
    let prepared = PreparedAccount::prepare(ctx, first_user)?;
    accounts::key_usernames(ctx)?;
    let ingest_token = secrets::new_token(ctx.env());
    let (project_id, user_id) = in_transaction(ctx.db()?, |db| {
        let project_id = accounts::insert_project(
            db,
            project.name,
            project.timezone,
            &secrets::digest_hex(&ingest_token),
            ctx.now(),
        )?;
        let user_id = prepared.insert(ctx, db, project_id)?;
        Ok::<_, ApiError>((project_id, user_id))
    })?;
    ctx.env().log(&format!(
        "provisioned project {project_id} ({:?}) with user {user_id}",
        project.name
    ));
    Ok(Provisioned {
        project_id,
        user_id,
        ingest_token,
    })
}
