//! Who is calling: sessions (cookie) and API keys (bearer), the session
//! cookie itself, the same-origin rule for cookie-authenticated writes,
//! and the key that seals stored API keys.

use crate::context::Ctx;
use crate::domain::accounts::{self, Account, ProjectZone};
use crate::domain::ids::{ProjectId, UserId};
use crate::domain::validate;
use crate::error::ApiError;
use crate::http::Reply;
use crate::http::request::ApiRequest;
use crate::readmodel::{self, KeyView, View};
use crate::security::secrets::{self, SealingKey};
use crate::security::throttle::Throttle;
use crate::storage::in_transaction;
use serde::{Deserialize, Serialize};

/// The session cookie's name: the `__Host-` prefix makes browsers refuse it
/// unless it is `Secure`, has `Path=/` and no `Domain`, so no other site of
/// the domain can plant or overwrite it.
pub const SESSION_COOKIE: &str = "__Host-session";
/// The name used before `__Host-session`, and on a site served over plain
/// http (where a `__Host-` cookie cannot be set): still read.
pub const PLAIN_SESSION_COOKIE: &str = "session";
/// How long a session lives after login.
pub const SESSION_SECONDS: i64 = 24 * 60 * 60;
/// The most live sessions one user has: a login beyond it ends that
/// user's oldest session (a script logging in in a loop cannot fill the
/// key-value store, and a stolen session does not outlive twenty logins).
pub const MAX_SESSIONS_PER_USER: usize = 20;

/// The Spin variable that, when set, seals API keys; otherwise a random
/// secret is kept in the key-value store (never in the SQL database).
pub const SEALING_SECRET_VARIABLE: &str = "key_seal_secret";
const SEALING_SECRET_KV_KEY: &str = "secret:api-key-seal";
/// The Spin variable that, when `true`, says the site is served over plain
/// http on a non-loopback address: the session cookie is then sent without
/// `Secure` (and so without the `__Host-` prefix).
pub const PLAIN_HTTP_VARIABLE: &str = "plain_http";
/// The Spin variable naming the header a trusted reverse proxy sets to the
/// client's address (e.g. `x-forwarded-for`); empty when Spin faces the
/// clients itself.
pub const CLIENT_ADDRESS_HEADER_VARIABLE: &str = "client_ip_header";

fn session_kv_key(token: &str) -> String {
    session_kv_key_of_digest(&secrets::digest_hex(token))
}

fn session_kv_key_of_digest(digest: &str) -> String {
    format!("session:{digest}")
}

/// The user's live sessions, oldest first, under `sessions:<user id>`: the
/// digests of their tokens (never a token) and when each expires.
fn session_index_kv_key(user: UserId) -> String {
    format!("sessions:{user}")
}

#[derive(Default, Serialize, Deserialize)]
struct SessionIndex {
    sessions: Vec<IndexedSession>,
}

#[derive(Serialize, Deserialize)]
struct IndexedSession {
    digest: String,
    expires: i64,
}

/// A session in the key-value store, under the SHA-256 of its token. It is
/// valid only while `stamp` is the user's current session stamp, so a
/// password change, "log out everywhere" or the user's deletion ends it.
#[derive(Serialize, Deserialize)]
struct SessionRecord {
    user: UserId,
    stamp: String,
    expires: i64,
}

/// The client's address as the login throttle counts it (see
/// [`ApiRequest::client_address`]).
pub fn client_address(ctx: &Ctx, request: &ApiRequest) -> String {
    let trusted = ctx.env().variable(CLIENT_ADDRESS_HEADER_VARIABLE);
    request.client_address(trusted.as_deref())
}

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    ApiKey,
    /// A session cookie, with its token.
    Session(String),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub credential: Credential,
}

impl Caller {
    pub fn session_token(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session(token) => Some(token),
            Credential::ApiKey => None,
        }
    }
}

/// Authenticates by `Authorization: Bearer <api key>` or the session
/// cookie; 401 otherwise. A state-changing request made with the cookie
/// must come from the site itself ([`refuse_cross_site`]). Records the
/// caller's XML preference.
pub fn authenticate(ctx: &Ctx, request: &ApiRequest) -> Result<Caller, ApiError> {
    authenticate_with_view(ctx, request, None).map(|(caller, _)| caller)
}

/// [`authenticate`] for a read of one of the project's listings: by API
/// key, the key's view (`readmodel.rs`) gives the account and, hot, the
/// listing in one key-value read.
pub fn authenticate_reading(
    ctx: &Ctx,
    request: &ApiRequest,
    view: View,
) -> Result<(Caller, Option<KeyView>), ApiError> {
    authenticate_with_view(ctx, request, Some(view))
}

fn authenticate_with_view(
    ctx: &Ctx,
    request: &ApiRequest,
    view: Option<View>,
) -> Result<(Caller, Option<KeyView>), ApiError> {
    let mut key_view = None;
    let caller = if let Some(key) = request.bearer_token() {
        let account = match view {
            Some(view) if secrets::looks_like_api_key(key) => {
                readmodel::account_and_view_by_api_key_hash(ctx, &secrets::digest_hex(key), view)?
                    .map(|(account, view)| {
                        key_view = view;
                        account
                    })
            }
            _ => account_by_api_key(ctx, key)?,
        }
        .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
        Caller {
            account,
            credential: Credential::ApiKey,
        }
    } else if let Some(token) = session_token(request)? {
        refuse_cross_site(request)?;
        let account = account_by_session(ctx, token)?.ok_or_else(|| {
            ApiError::unauthorized(
                "the session has expired or was logged out; log in with PUT /session",
            )
        })?;
        Caller {
            account,
            credential: Credential::Session(token.to_owned()),
        }
    } else {
        return Err(ApiError::unauthorized(
            "not logged in: log in with PUT /session, or send Authorization: Bearer <api key>",
        ));
    };
    ctx.prefers_xml.set(Some(caller.account.prefers_xml));
    Ok((caller, key_view))
}

/// The session token the request carries: the `__Host-session` cookie, or
/// else the plain `session` cookie. A name sent twice is refused rather than
/// guessed at: the second copy can only come from another site of the
/// domain planting its own.
fn session_token(request: &ApiRequest) -> Result<Option<&str>, ApiError> {
    for name in [SESSION_COOKIE, PLAIN_SESSION_COOKIE] {
        let mut values = request.cookies(name).filter(|value| !value.is_empty());
        if let Some(first) = values.next() {
            if values.next().is_some() {
                return Err(ApiError::unauthorized(format!(
                    "several {name} cookies were sent; clear this site's cookies and log in again"
                )));
            }
            return Ok(Some(first));
        }
    }
    Ok(None)
}

/// Refuses a state-changing request that a browser says comes from another
/// site (`Sec-Fetch-Site`), or whose `Origin` is not the address the request
/// was sent to. Requests without either header (scripts, curl) pass: they
/// are not a browser acting for another site. `SameSite=Strict` already
/// keeps the cookie off cross-site requests; this is the second lock.
pub fn refuse_cross_site(request: &ApiRequest) -> Result<(), ApiError> {
    if !request.is_unsafe_method() {
        return Ok(());
    }
    let refused = || {
        ApiError::forbidden(
            "cross-site request refused: a request that changes something with the session \
             cookie must come from this site",
        )
    };
    if let Some(site) = request.header("sec-fetch-site")
        && !matches!(site.trim(), "same-origin" | "none")
    {
        return Err(refused());
    }
    if let Some(origin) = request.header("origin") {
        let origin_authority = origin
            .trim()
            .split_once("://")
            .map(|(_, authority)| authority);
        match (origin_authority, request.authority()) {
            (Some(origin), Some(own)) if origin.eq_ignore_ascii_case(own) => {}
            _ => return Err(refused()),
        }
    }
    Ok(())
}

/// The account an API key belongs to, from the key's read model
/// (`readmodel.rs`): one key-value read when hot.
pub fn account_by_api_key(ctx: &Ctx, key: &str) -> Result<Option<Account>, ApiError> {
    if !secrets::looks_like_api_key(key) {
        return Ok(None);
    }
    readmodel::account_by_api_key_hash(ctx, &secrets::digest_hex(key))
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
    match readmodel::account(ctx, record.user)? {
        Some(account) if secrets::constant_time_eq(&account.session_stamp, &record.stamp) => {
            Ok(Some(account))
        }
        _ => {
            // The user was deleted, changed the password or logged out
            // everywhere: the session died with that.
            ctx.kv().delete(&kv_key)?;
            Ok(None)
        }
    }
}

/// Starts a session of `account` (bound to its current session stamp);
/// returns the token for the cookie. The user's index of sessions is
/// updated under SQLite's write lock (the key-value store has no atomic
/// update), so concurrent logins of one user queue rather than lose each
/// other's entries; past [`MAX_SESSIONS_PER_USER`] the oldest sessions end.
pub fn start_session(ctx: &Ctx, account: &Account) -> Result<String, ApiError> {
    let token = secrets::new_token(ctx.env());
    let digest = secrets::digest_hex(&token);
    let now = ctx.now();
    let record = SessionRecord {
        user: account.user_id,
        stamp: account.session_stamp.clone(),
        expires: now + SESSION_SECONDS,
    };
    let bytes =
        serde_json::to_vec(&record).map_err(|error| ApiError::internal(error.to_string()))?;
    let index_key = session_index_kv_key(account.user_id);
    let kv = ctx.kv();
    in_transaction(ctx.db()?, |_| {
        let mut index: SessionIndex = kv
            .get(&index_key)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        index.sessions.retain(|session| session.expires > now);
        index.sessions.push(IndexedSession {
            digest: digest.clone(),
            expires: record.expires,
        });
        let ended = index.sessions.len().saturating_sub(MAX_SESSIONS_PER_USER);
        for oldest in index.sessions.drain(..ended) {
            kv.delete(&session_kv_key_of_digest(&oldest.digest))?;
        }
        kv.set(&session_kv_key_of_digest(&digest), &bytes)?;
        let index =
            serde_json::to_vec(&index).map_err(|error| ApiError::internal(error.to_string()))?;
        kv.set(&index_key, &index)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(token)
}

pub fn end_session(ctx: &Ctx, token: &str) -> Result<(), ApiError> {
    ctx.kv().delete(&session_kv_key(token))?;
    Ok(())
}

/// How the session cookie is written on this site.
pub struct CookiePolicy {
    plain_http: bool,
}

impl CookiePolicy {
    /// `Secure` with the `__Host-` prefix, wherever the request may have
    /// crossed a network. Without them (the plain `session` cookie) when
    /// the `plain_http` variable is `true`, or for a request that
    /// [`is_local_plain_http`]: browsers and curl send a `Secure` cookie to
    /// `http://127.0.0.1`, but the cookie jars of Python's `requests` and
    /// `httpx` never send one over http, so a script against a local
    /// `spin up` would lose its session (SECURITY.md, "Session cookies").
    pub fn of(ctx: &Ctx, request: &ApiRequest) -> Self {
        let plain_http = ctx
            .env()
            .variable(PLAIN_HTTP_VARIABLE)
            .is_some_and(|value| validate::boolean(PLAIN_HTTP_VARIABLE, value.trim()) == Ok(true))
            || is_local_plain_http(ctx, request);
        CookiePolicy { plain_http }
    }

    /// `Set-Cookie` for a new session.
    pub fn session(&self, token: &str) -> String {
        self.cookie(self.name(), token, SESSION_SECONDS)
    }

    /// `reply` with `Set-Cookie` headers that remove the session cookie
    /// under both names (log out, account deleted).
    pub fn expire_both(&self, reply: Reply) -> Reply {
        reply
            .with_header("set-cookie", self.cookie(SESSION_COOKIE, "", 0))
            .with_header("set-cookie", self.cookie(PLAIN_SESSION_COOKIE, "", 0))
    }

    fn name(&self) -> &'static str {
        if self.plain_http {
            PLAIN_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        // A `__Host-` cookie is only accepted with `Secure`.
        let secure = if self.plain_http && name == PLAIN_SESSION_COOKIE {
            ""
        } else {
            "; Secure"
        };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }
}

/// Whether the request came over plain http from this very machine to a
/// Spin that faces its clients itself: the URL Spin reports
/// (`spin-full-url`, its own copy) is `http://` to a loopback host
/// (`localhost`, `127.0.0.0/8`, `[::1]`), the peer Spin saw
/// (`spin-client-addr`) is a loopback address, no proxy is configured
/// (`client_ip_header` unset) and none announced itself (`Forwarded`,
/// `X-Forwarded-*`: a reverse proxy on the same machine connects from
/// loopback too, and often rewrites `Host` to the loopback address it
/// forwards to). Such a request never crossed a network.
pub fn is_local_plain_http(ctx: &Ctx, request: &ApiRequest) -> bool {
    let proxy_configured = ctx
        .env()
        .variable(CLIENT_ADDRESS_HEADER_VARIABLE)
        .is_some_and(|name| !name.trim().is_empty());
    let proxy_announced = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
    ]
    .iter()
    .any(|name| request.header(name).is_some());
    let plain_url = request.last_header("spin-full-url").is_some_and(|url| {
        url.get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    });
    !proxy_configured
        && !proxy_announced
        && plain_url
        && request.authority().is_some_and(is_loopback_authority)
        && request
            .last_header("spin-client-addr")
            .is_some_and(is_loopback_address)
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || is_loopback_address(host)
}

/// A loopback IP address, with or without a port.
fn is_loopback_address(address: &str) -> bool {
    use std::net::IpAddr;
    crate::http::request::ip_address(address).is_some_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
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
    // Created under the database's write lock: two first requests at once
    // would otherwise each store their own secret, and keys sealed under
    // the loser's would never open again. The second waits for the lock,
    // then finds the first's secret.
    let secret = in_transaction(ctx.db()?, |_| {
        if let Some(secret) = kv.get(SEALING_SECRET_KV_KEY)? {
            return Ok::<_, ApiError>(secret);
        }
        let fresh = crate::env::random_bytes::<32>(ctx.env());
        kv.set(SEALING_SECRET_KV_KEY, &fresh)?;
        Ok(fresh.to_vec())
    })?;
    Ok(SealingKey::from_secret(&secret))
}

/// A fresh API key for `account`, stored hashed and sealed; the previous
/// key stops at once. Returns the key.
pub fn issue_api_key(ctx: &Ctx, account: &Account) -> Result<String, ApiError> {
    let user_id = account.user_id;
    let key = secrets::new_api_key(ctx.env());
    let key_hash = secrets::digest_hex(&key);
    let sealed = sealing_key(ctx)?.seal(ctx.env(), &Account::seal_owner(user_id), &key);
    readmodel::write_account(ctx, account, |write| {
        accounts::set_api_key(write, &key_hash, sealed.clone())
    })?;
    Ok(key)
}

/// The Spin variable holding support's admin token.
pub const ADMIN_TOKEN_VARIABLE: &str = "admin_token";
/// An admin token shorter than this counts as unset.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// Passes a request that bears the admin token: 403 while the token is
/// unset or short (the admin routes are then closed, never open), 401 for
/// a missing or wrong one, 429 after too many wrong ones from one client.
pub fn check_admin_token(ctx: &Ctx, request: &ApiRequest) -> Result<(), ApiError> {
    let expected = ctx.env().variable(ADMIN_TOKEN_VARIABLE).unwrap_or_default();
    if expected.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        return Err(ApiError::forbidden(format!(
            "provisioning is disabled: the admin_token variable is not set \
             (or shorter than {MIN_ADMIN_TOKEN_CHARS} characters)"
        )));
    }
    let Some(given) = request.bearer_token() else {
        return Err(ApiError::unauthorized(
            "send Authorization: Bearer <admin token>",
        ));
    };
    let throttle = Throttle::admin(&client_address(ctx, request));
    throttle.reserve(ctx)?;
    if !secrets::constant_time_eq(given, &expected) {
        return Err(ApiError::unauthorized("wrong admin token"));
    }
    throttle.release(ctx)
}

/// Gives the project a new ingest token (its digest replaces the old one,
/// which stops at once) and returns it; 404 when there is no such project.
pub fn new_ingest_token(ctx: &Ctx, project_id: ProjectId) -> Result<String, ApiError> {
    let ingest_token = secrets::new_token(ctx.env());
    if !accounts::set_ingest_token_hash(ctx.db()?, project_id, &secrets::digest_hex(&ingest_token))?
    {
        return Err(ApiError::not_found(format!("no project {project_id}")));
    }
    ctx.env()
        .log(&format!("new ingest token for project {project_id}"));
    Ok(ingest_token)
}

/// The project whose ingest token the request bears (user API keys and
/// sessions open nothing here); 401 otherwise.
pub fn authenticate_ingest(ctx: &Ctx, request: &ApiRequest) -> Result<ProjectZone, ApiError> {
    let token = request.bearer_token().ok_or_else(|| {
        ApiError::unauthorized("send Authorization: Bearer <the project's ingest token>")
    })?;
    accounts::project_by_ingest_token_hash(ctx.db()?, &secrets::digest_hex(token))?
        .ok_or_else(|| ApiError::unauthorized("the ingest token is not valid"))
}

/// How a login proves who it is.
pub enum LogIn<'a> {
    ApiKey(&'a str),
    Password {
        username: &'a str,
        password: &'a str,
    },
}

/// The account a login proves, throttled per client (and username): 401
/// for a wrong key or password (the same answer for an unknown username,
/// after the same work), 429 after too many failures.
pub fn log_in(ctx: &Ctx, request: &ApiRequest, login: LogIn) -> Result<Account, ApiError> {
    let client = client_address(ctx, request);
    let (throttle, account) = match login {
        LogIn::ApiKey(key) => {
            let throttle = Throttle::api_key(&client);
            throttle.reserve(ctx)?;
            (throttle, account_by_api_key(ctx, key)?)
        }
        LogIn::Password { username, password } => {
            let throttle = Throttle::password(&client, username);
            throttle.reserve(ctx)?;
            accounts::key_usernames(ctx)?;
            let account = match accounts::login_by_username(ctx.db()?, username)? {
                Some(stored) if secrets::verify_password(password, &stored.password_hash) => {
                    readmodel::account(ctx, stored.user_id)?
                }
                Some(_) => None,
                None => {
                    secrets::verify_password_of_nobody(ctx.env(), password);
                    None
                }
            };
            (throttle, account)
        }
    };
    let Some(account) = account else {
        // The failure was counted when it was reserved.
        return Err(ApiError::unauthorized(match login {
            LogIn::ApiKey(_) => "the API key is not valid",
            LogIn::Password { .. } => "wrong username or password",
        }));
    };
    throttle.release(ctx)?;
    Ok(account)
}

/// A password change made with the session cookie must prove the current
/// password (whoever holds a stolen cookie does not know it), throttled
/// like a login. With the API key, which is itself a full credential of
/// the account, it is optional but checked when given.
pub fn check_current_password(
    ctx: &Ctx,
    request: &ApiRequest,
    caller: &Caller,
    current: Option<&str>,
) -> Result<(), ApiError> {
    let current = match (current.filter(|c| !c.is_empty()), &caller.credential) {
        (Some(current), _) => current,
        (None, Credential::ApiKey) => return Ok(()),
        (None, Credential::Session(_)) => {
            return Err(ApiError::bad_request(
                "changing the password with a session needs current_password",
            ));
        }
    };
    let account = &caller.account;
    let throttle = Throttle::password(&client_address(ctx, request), &account.username);
    throttle.reserve(ctx)?;
    let password_hash = accounts::password_hash(ctx.db()?, account.user_id)?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    if !secrets::verify_password(current, &password_hash) {
        return Err(ApiError::forbidden("current_password is wrong"));
    }
    throttle.release(ctx)
}

/// The caller's current API key, opened from its sealed copy.
pub fn current_api_key(ctx: &Ctx, account: &Account) -> Result<String, ApiError> {
    let user_id = account.user_id;
    let sealed = accounts::sealed_api_key(ctx.db()?, user_id)?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    sealing_key(ctx)?
        .open(&Account::seal_owner(user_id), &sealed)
        .ok_or_else(|| {
            ApiError::internal(format!(
                "the sealed API key of user {user_id} does not open: was the sealing secret changed?"
            ))
        })
}
