//! Numbered, embedded schema migrations. The applied version lives in
//! `PRAGMA user_version`; each migration runs in its own `BEGIN IMMEDIATE`
//! transaction that re-reads the version after taking the write lock, so
//! two components starting at once apply each migration exactly once.

use crate::storage::{Sql, StorageError, in_transaction};

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_accounts.sql"),
    include_str!("../../migrations/0002_meter_data.sql"),
    include_str!("../../migrations/0003_account_security.sql"),
    include_str!("../../migrations/0004_interval_rollups.sql"),
    include_str!("../../migrations/0005_username_keys.sql"),
    include_str!("../../migrations/0006_usage_and_status.sql"),
    include_str!("../../migrations/0007_usage_days.sql"),
    include_str!("../../migrations/0008_usage_buckets.sql"),
    include_str!("../../migrations/0009_usage_buckets_by_bucket.sql"),
    include_str!("../../migrations/0010_usage_buckets_halved.sql"),
];

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
            for statement in statements(MIGRATIONS[(next - 1) as usize]) {
                db.execute(&statement, &[])?;
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
        for script in MIGRATIONS {
            let statements = statements(script);
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
