//! Who is calling: sessions (cookie) and API keys (bearer), login
//! throttling, and the key that seals stored API keys.

use crate::accounts::{self, Account};
use crate::context::Ctx;
use crate::error::ApiError;
use crate::request::ApiRequest;
use crate::secrets::{self, SealingKey};
use serde::{Deserialize, Serialize};

pub const SESSION_COOKIE: &str = "session";
/// How long a session lives after login.
pub const SESSION_SECONDS: i64 = 24 * 60 * 60;

/// Failed logins are counted per subject in fixed windows of this length;
/// the counts reset when the window ends, so nobody is locked out for good.
pub const THROTTLE_WINDOW_SECONDS: i64 = 15 * 60;
/// Failures per account (username) and window before 429.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failures per client address and window before 429.
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;

/// The Spin variable that, when set, seals API keys; otherwise a random
/// secret is kept in the key-value store (never in the SQL database).
pub const SEALING_SECRET_VARIABLE: &str = "key_seal_secret";
const SEALING_SECRET_KV_KEY: &str = "secret:api-key-seal";

fn session_kv_key(token: &str) -> String {
    format!("session:{}", secrets::digest_hex(token))
}

fn api_key_kv_key(key_hash: &str) -> String {
    format!("api-key:{key_hash}")
}

#[derive(Serialize, Deserialize)]
struct SessionRecord {
    user: i64,
    expires: i64,
}

#[derive(Serialize, Deserialize)]
struct ApiKeyRecord {
    user: i64,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    /// The session token, when the caller came with a session cookie.
    pub session_token: Option<String>,
}

/// Authenticates by `Authorization: Bearer <api key>` or the session
/// cookie; 401 otherwise. Records the caller's XML preference.
pub fn authenticate(ctx: &Ctx, request: &ApiRequest) -> Result<Caller, ApiError> {
    let caller = if let Some(key) = request.bearer_token() {
        let account = account_by_api_key(ctx, key)?
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
        Caller {
            account,
            session_token: None,
        }
    } else if let Some(token) = request.cookie(SESSION_COOKIE).filter(|t| !t.is_empty()) {
        let account = account_by_session(ctx, token)?.ok_or_else(|| {
            ApiError::unauthorized(
                "the session has expired or was logged out; log in with PUT /session",
            )
        })?;
        Caller {
            account,
            session_token: Some(token.to_owned()),
        }
    } else {
        return Err(ApiError::unauthorized(
            "not logged in: log in with PUT /session, or send Authorization: Bearer <api key>",
        ));
    };
    ctx.prefers_xml.set(Some(caller.account.prefers_xml));
    Ok(caller)
}

/// The account an API key belongs to. The key-value store answers the
/// lookup; the SQL row is the truth (a stale entry left by a rotation that
/// failed half-way never lets an old key in), and a missing entry is
/// rebuilt from it.
pub fn account_by_api_key(ctx: &Ctx, key: &str) -> Result<Option<Account>, ApiError> {
    if !secrets::looks_like_api_key(key) {
        return Ok(None);
    }
    let key_hash = secrets::digest_hex(key);
    let kv_key = api_key_kv_key(&key_hash);
    let db = ctx.db()?;
    if let Some(bytes) = ctx.kv().get(&kv_key)? {
        if let Ok(record) = serde_json::from_slice::<ApiKeyRecord>(&bytes)
            && let Some(account) = accounts::by_id(db, record.user)?
            && secrets::constant_time_eq(&account.api_key_hash, &key_hash)
        {
            return Ok(Some(account));
        }
        ctx.kv().delete(&kv_key)?;
        return Ok(None);
    }
    let account = accounts::by_api_key_hash(db, &key_hash)?;
    if let Some(account) = &account {
        remember_api_key(ctx, &key_hash, account.user_id)?;
    }
    Ok(account)
}

pub fn remember_api_key(ctx: &Ctx, key_hash: &str, user_id: i64) -> Result<(), ApiError> {
    let record = serde_json::to_vec(&ApiKeyRecord { user: user_id })
        .map_err(|error| ApiError::internal(error.to_string()))?;
    ctx.kv().set(&api_key_kv_key(key_hash), &record)?;
    Ok(())
}

pub fn forget_api_key(ctx: &Ctx, key_hash: &str) -> Result<(), ApiError> {
    ctx.kv().delete(&api_key_kv_key(key_hash))?;
    Ok(())
}

fn account_by_session(ctx: &Ctx, token: &str) -> Result<Option<Account>, ApiError> {
    let kv_key = session_kv_key(token);
    let Some(bytes) = ctx.kv().get(&kv_key)? else {
        return Ok(None);
    };
    let record = match serde_json::from_slice::<SessionRecord>(&bytes) {
        Ok(record) if record.expires > ctx.now() => record,
        _ => {
            ctx.kv().delete(&kv_key)?;
            return Ok(None);
        }
    };
    let account = accounts::by_id(ctx.db()?, record.user)?;
    if account.is_none() {
        // The user was deleted: the session dies with it.
        ctx.kv().delete(&kv_key)?;
    }
    Ok(account)
}

/// Starts a session; returns the token for the cookie.
pub fn start_session(ctx: &Ctx, user_id: i64) -> Result<String, ApiError> {
    let token = secrets::new_token(ctx.env());
    let record = SessionRecord {
        user: user_id,
        expires: ctx.now() + SESSION_SECONDS,
    };
    let bytes =
        serde_json::to_vec(&record).map_err(|error| ApiError::internal(error.to_string()))?;
    ctx.kv().set(&session_kv_key(&token), &bytes)?;
    Ok(token)
}

pub fn end_session(ctx: &Ctx, token: &str) -> Result<(), ApiError> {
    ctx.kv().delete(&session_kv_key(token))?;
    Ok(())
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(request: &ApiRequest, token: &str) -> String {
    cookie(request, token, SESSION_SECONDS)
}

/// `Set-Cookie` that removes the session cookie.
pub fn expired_session_cookie(request: &ApiRequest) -> String {
    cookie(request, "", 0)
}

fn cookie(request: &ApiRequest, value: &str, max_age: i64) -> String {
    let secure = if request.is_https() { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    )
}

/// The subjects a login attempt is counted against.
pub struct ThrottleSubjects {
    subjects: Vec<(String, i64)>,
}

impl ThrottleSubjects {
    pub fn new(request: &ApiRequest, username: Option<&str>) -> Self {
        let mut subjects = vec![(
            format!("client:{}", request.client_ip()),
            MAX_FAILURES_PER_CLIENT,
        )];
        if let Some(username) = username {
            subjects.push((
                format!("account:{}", username.to_lowercase()),
                MAX_FAILURES_PER_ACCOUNT,
            ));
        }
        ThrottleSubjects { subjects }
    }

    /// 429 (with `Retry-After`) when any subject has used up its window.
    pub fn check(&self, ctx: &Ctx) -> Result<(), ApiError> {
        let db = ctx.db()?;
        let window_open_since = ctx.now() - THROTTLE_WINDOW_SECONDS;
        for (subject, limit) in &self.subjects {
            let rows = db.execute(
                "SELECT window_start, failures FROM login_failures WHERE subject = ? AND window_start > ?",
                &[subject.as_str().into(), window_open_since.into()],
            )?;
            if let Some(row) = rows.first() {
                let (window_start, failures) = (row.int(0)?, row.int(1)?);
                if failures >= *limit {
                    let retry_after = window_start + THROTTLE_WINDOW_SECONDS - ctx.now();
                    return Err(ApiError::too_many_requests(
                        format!(
                            "too many failed logins; try again in {} seconds",
                            retry_after.max(1)
                        ),
                        retry_after,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Counts a failure against every subject, atomically in SQLite.
    pub fn record_failure(&self, ctx: &Ctx) -> Result<(), ApiError> {
        let db = ctx.db()?;
        let now = ctx.now();
        let expired_before = now - THROTTLE_WINDOW_SECONDS;
        for (subject, _) in &self.subjects {
            db.execute(
                "INSERT INTO login_failures (subject, window_start, failures) VALUES (?1, ?2, 1) \
                 ON CONFLICT (subject) DO UPDATE SET \
                   failures = CASE WHEN window_start <= ?3 THEN 1 ELSE failures + 1 END, \
                   window_start = CASE WHEN window_start <= ?3 THEN ?2 ELSE window_start END",
                &[subject.as_str().into(), now.into(), expired_before.into()],
            )?;
        }
        db.execute(
            "DELETE FROM login_failures WHERE window_start <= ?",
            &[expired_before.into()],
        )?;
        Ok(())
    }

    /// A successful login clears the account's count (not the client's).
    pub fn record_success(&self, ctx: &Ctx) -> Result<(), ApiError> {
        let db = ctx.db()?;
        for (subject, _) in self
            .subjects
            .iter()
            .filter(|(s, _)| s.starts_with("account:"))
        {
            db.execute(
                "DELETE FROM login_failures WHERE subject = ?",
                &[subject.as_str().into()],
            )?;
        }
        Ok(())
    }
}

/// The key that seals API keys: from the `key_seal_secret` variable when
/// set, else a random secret kept in the key-value store, created on first
/// use. Neither is in the SQL database, so a copy of it alone reveals no key.
pub fn sealing_key(ctx: &Ctx) -> Result<SealingKey, ApiError> {
    if let Some(secret) = ctx
        .env()
        .variable(SEALING_SECRET_VARIABLE)
        .filter(|s| !s.is_empty())
    {
        return Ok(SealingKey::from_secret(secret.as_bytes()));
    }
    let kv = ctx.kv();
    if let Some(secret) = kv.get(SEALING_SECRET_KV_KEY)? {
        return Ok(SealingKey::from_secret(&secret));
    }
    let fresh = crate::env::random_bytes::<32>(ctx.env());
    kv.set(SEALING_SECRET_KV_KEY, &fresh)?;
    // Read back: if another instance raced us, both use whichever landed.
    let secret = kv
        .get(SEALING_SECRET_KV_KEY)?
        .ok_or_else(|| ApiError::internal("sealing secret vanished from the key-value store"))?;
    Ok(SealingKey::from_secret(&secret))
}

/// A fresh API key for `user_id`, stored hashed and sealed, and
/// registered for lookup. Returns the key.
pub fn issue_api_key(ctx: &Ctx, user_id: i64) -> Result<String, ApiError> {
    let key = secrets::new_api_key(ctx.env());
    let key_hash = secrets::digest_hex(&key);
    let sealed = sealing_key(ctx)?.seal(ctx.env(), &Account::seal_owner(user_id), &key);
    accounts::set_api_key(ctx.db()?, user_id, &key_hash, sealed)?;
    remember_api_key(ctx, &key_hash, user_id)?;
    Ok(key)
}
