//! The login throttle: failed attempts counted per subject in SQLite (the
//! key-value store has no atomic increment), in fixed windows that end, so
//! nobody is locked out for good.
//!
//! Every attempt *reserves* a failure before the credential is checked, in
//! one `BEGIN IMMEDIATE` transaction that also decides whether the attempt
//! may go ahead; a success gives the reservation back. Concurrent guesses
//! therefore cannot all pass the check while the first is still hashing.
//!
//! What is counted (SECURITY.md, "Throttling"):
//! - per client address: every failed login (password or key) and admin
//!   token, [`MAX_FAILURES_PER_CLIENT`] per window;
//! - per (username, client address): [`MAX_FAILURES_PER_USERNAME_AT_CLIENT`]
//!   per window, then that address is locked out of that username;
//! - per username, from anywhere: after [`USERNAME_SLOWDOWN_AFTER`] failures
//!   in the window, at most one password attempt per
//!   [`USERNAME_SLOWDOWN_SECONDS`]. This slows an attacker spraying many
//!   addresses but never locks the owner out: their attempt waits seconds,
//!   not the rest of the window.

use crate::context::Ctx;
use crate::error::ApiError;
use crate::storage::{SqlValue, in_transaction};

/// Failures are counted in fixed windows of this length from the first.
pub const WINDOW_SECONDS: i64 = 15 * 60;
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;
pub const MAX_FAILURES_PER_USERNAME_AT_CLIENT: i64 = 5;
pub const USERNAME_SLOWDOWN_AFTER: i64 = 10;
pub const USERNAME_SLOWDOWN_SECONDS: i64 = 2;
/// Wrong admin tokens per client address and window.
pub const MAX_ADMIN_FAILURES_PER_CLIENT: i64 = 10;

/// How a subject's count limits attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// At most this many failures per window; a success clears the count.
    Lock(i64),
    /// At most this many failures per window; a success takes back only
    /// its own reservation (so a caller's successes elsewhere cannot wipe
    /// the record of their failures).
    Limit(i64),
    /// After `after` failures in the window, attempts are spaced by at least
    /// `gap` seconds.
    Slowdown { after: i64, gap: i64 },
}

/// The subjects one kind of attempt is counted against.
pub struct Throttle {
    subjects: Vec<(String, Rule)>,
}

impl Throttle {
    /// A login with username and password (or a check of the current
    /// password) from `client`.
    pub fn password(client: &str, username: &str) -> Self {
        let username = crate::domain::names::username_key(username);
        Throttle {
            subjects: vec![
                (
                    format!("client:{client}"),
                    Rule::Limit(MAX_FAILURES_PER_CLIENT),
                ),
                (
                    format!("account-at:{client}/{username}"),
                    Rule::Lock(MAX_FAILURES_PER_USERNAME_AT_CLIENT),
                ),
                (
                    format!("account:{username}"),
                    Rule::Slowdown {
                        after: USERNAME_SLOWDOWN_AFTER,
                        gap: USERNAME_SLOWDOWN_SECONDS,
                    },
                ),
            ],
        }
    }

    /// A login with an API key from `client`: never blocked by a username's
    /// count, so the owner can always get in with their key.
    pub fn api_key(client: &str) -> Self {
        Throttle {
            subjects: vec![(
                format!("client:{client}"),
                Rule::Limit(MAX_FAILURES_PER_CLIENT),
            )],
        }
    }

    /// An admin-token attempt from `client`.
    pub fn admin(client: &str) -> Self {
        Throttle {
            subjects: vec![(
                format!("admin:{client}"),
                Rule::Limit(MAX_ADMIN_FAILURES_PER_CLIENT),
            )],
        }
    }

    /// Counts this attempt as a failure, unless a subject has used up its
    /// allowance: then nothing is counted and the answer is 429 with
    /// `Retry-After`. Call before checking the credential.
    pub fn reserve(&self, ctx: &Ctx) -> Result<(), ApiError> {
        let now = ctx.now();
        in_transaction(ctx.db()?, |db| {
            db.execute(
                "DELETE FROM login_failures WHERE window_start <= ?",
                &[(now - WINDOW_SECONDS).into()],
            )?;
            let placeholders = vec!["?"; self.subjects.len()].join(", ");
            let keys: Vec<SqlValue> = self
                .subjects
                .iter()
                .map(|(subject, _)| subject.as_str().into())
                .collect();
            let rows = db.execute(
                &format!(
                    "SELECT subject, window_start, failures, last_attempt FROM login_failures \
                     WHERE subject IN ({placeholders})"
                ),
                &keys,
            )?;
            for row in rows.iter() {
                let subject = row.text(0)?;
                let (window_start, failures, last_attempt) =
                    (row.int(1)?, row.int(2)?, row.int(3)?);
                let Some((_, rule)) = self.subjects.iter().find(|(s, _)| *s == subject) else {
                    continue;
                };
                let wait = match *rule {
                    Rule::Lock(max) | Rule::Limit(max) if failures >= max => {
                        window_start + WINDOW_SECONDS - now
                    }
                    Rule::Slowdown { after, gap } if failures >= after => {
                        gap - (now - last_attempt)
                    }
                    _ => 0,
                };
                if wait > 0 {
                    return Err(ApiError::too_many_requests(
                        format!("too many failed attempts; try again in {wait} seconds"),
                        wait,
                    ));
                }
            }
            let values = vec!["(?, ?, 1, ?)"; self.subjects.len()].join(", ");
            let mut params = Vec::with_capacity(self.subjects.len() * 3);
            for (subject, _) in &self.subjects {
                params.extend([subject.as_str().into(), now.into(), now.into()]);
            }
            db.execute(
                &format!(
                    "INSERT INTO login_failures (subject, window_start, failures, last_attempt) \
                     VALUES {values} ON CONFLICT (subject) DO UPDATE SET \
                     failures = failures + 1, last_attempt = excluded.last_attempt"
                ),
                &params,
            )?;
            Ok(())
        })
    }

    /// The attempt succeeded: gives back its reservation, and clears the
    /// (username, address) count.
    pub fn release(&self, ctx: &Ctx) -> Result<(), ApiError> {
        let db = ctx.db()?;
        for (subject, rule) in &self.subjects {
            let statement = match rule {
                Rule::Lock(_) => "DELETE FROM login_failures WHERE subject = ?",
                Rule::Limit(_) | Rule::Slowdown { .. } => {
                    "UPDATE login_failures SET failures = MAX(failures - 1, 0) WHERE subject = ?"
                }
            };
            db.execute(statement, &[subject.as_str().into()])?;
        }
        Ok(())
    }
}
