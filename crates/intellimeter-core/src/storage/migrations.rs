//! Numbered, embedded schema migrations. The applied version lives in
//! `PRAGMA user_version`; each migration runs in its own `BEGIN IMMEDIATE`
//! transaction that re-reads the version after taking the write lock, so
//! two components starting at once apply each migration exactly once.

use crate::domain::names::username_key;
use crate::storage::{Sql, StorageError, in_transaction};

/// A migration's step in Rust, run after its SQL in the same transaction.
type Step = fn(&dyn Sql) -> Result<(), StorageError>;

/// One migration: its SQL, then (in the same transaction) a step SQL
/// cannot do itself.
struct Migration {
    sql: &'static str,
    then: Option<Step>,
}

const fn sql(sql: &'static str) -> Migration {
    Migration { sql, then: None }
}

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only.
const MIGRATIONS: &[Migration] = &[
    sql(include_str!("../../migrations/0001_accounts.sql")),
    sql(include_str!("../../migrations/0002_meter_data.sql")),
    sql(include_str!("../../migrations/0003_account_security.sql")),
    sql(include_str!("../../migrations/0004_interval_rollups.sql")),
    Migration {
        sql: include_str!("../../migrations/0005_username_keys.sql"),
        then: Some(fill_username_keys),
    },
];

/// Migration 5's step: every user's username key, oldest user first; a
/// key an older user already has is left NULL (that user logs in by its
/// exact name, see `accounts::login_by_username`).
fn fill_username_keys(db: &dyn Sql) -> Result<(), StorageError> {
    let users = db.execute("SELECT id, username FROM users ORDER BY id", &[])?;
    for user in users.iter() {
        db.execute(
            "UPDATE users SET username_key = ?1 WHERE id = ?2 \
             AND NOT EXISTS (SELECT 1 FROM users WHERE username_key = ?1)",
            &[username_key(&user.text(1)?).into(), user.int(0)?.into()],
        )?;
    }
    Ok(())
}

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn current_version(db: &dyn Sql) -> Result<i64, StorageError> {
    db.execute("PRAGMA user_version", &[])?
        .first()
        .ok_or_else(|| StorageError::other("PRAGMA user_version returned no row"))?
        .int(0)
}

/// Brings the schema up to date. Cheap when it already is: one read.
pub fn apply(db: &dyn Sql) -> Result<(), StorageError> {
    apply_up_to(db, latest_version())
}

/// Applies the migrations up to version `target` (tests of a migration
/// start from the schema before it).
pub fn apply_up_to(db: &dyn Sql, target: i64) -> Result<(), StorageError> {
    let latest = latest_version();
    let version = current_version(db)?;
    if version > latest {
        return Err(StorageError::other(format!(
            "database schema version {version} is newer than this build ({latest})"
        )));
    }
    for next in (version + 1)..=target.min(latest) {
        in_transaction(db, |db| {
            // Another instance may have applied it while we waited.
            if current_version(db)? >= next {
                return Ok(());
            }
            let migration = &MIGRATIONS[(next - 1) as usize];
            for statement in statements(migration.sql) {
                db.execute(&statement, &[])?;
            }
            if let Some(step) = migration.then {
                step(db)?;
            }
            // PRAGMA takes no bound parameters; `next` is our own integer.
            db.execute(&format!("PRAGMA user_version = {next}"), &[])?;
            Ok::<(), StorageError>(())
        })?;
    }
    Ok(())
}

/// Splits a migration file into statements: `--` comments dropped, a
/// statement ends at a line ending with `;`.
fn statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let line = line.split("--").next().unwrap_or("").trim_end();
        if line.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.ends_with(';') {
            statements.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_owned());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_splits_into_statements() {
        for migration in MIGRATIONS {
            let statements = statements(migration.sql);
            assert!(!statements.is_empty());
            for statement in statements {
                assert!(
                    !statement.contains(';'),
                    "two statements in one: {statement}"
                );
                assert!(!statement.contains("--"));
            }
        }
        assert_eq!(statements("A;\n-- c\nB\n  x;\nC"), vec!["A", "B\n  x", "C"]);
    }
}
