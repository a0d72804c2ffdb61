//! A real SQLite (rusqlite) behind the core's `Sql` trait, one statement
//! per call as Spin's interface, for the integration tests of the core;
//! and the in-memory key-value store and repeatable randomness their fake
//! hosts share (flows.rs, the request harness and its fuzz target).

#![allow(dead_code)] // each test binary uses a different subset

use intellimeter_core::storage::{KeyValue, Rows, Sql, SqlValue, StorageError, StorageErrorKind};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;

pub struct Sqlite(pub rusqlite::Connection);

impl Sqlite {
    pub fn in_memory() -> Self {
        Sqlite(rusqlite::Connection::open_in_memory().unwrap())
    }
}

impl Sql for Sqlite {
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        let error = storage_error;
        let mut prepared = self.0.prepare(statement).map_err(error)?;
        let columns = prepared.column_names().map(|c| c.to_string()).collect();
        let count = prepared.column_count();
        let values = params.iter().map(|p| match p {
            SqlValue::Null => rusqlite::types::Value::Null,
            SqlValue::Integer(n) => rusqlite::types::Value::Integer(*n),
            SqlValue::Real(x) => rusqlite::types::Value::Real(*x),
            SqlValue::Text(t) => rusqlite::types::Value::Text(t.clone()),
            SqlValue::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        });
        let mut rows = prepared
            .query(rusqlite::params_from_iter(values))
            .map_err(error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            let mut values = Vec::new();
            for index in 0..count {
                values.push(match row.get_ref(index).map_err(error)? {
                    rusqlite::types::ValueRef::Null => SqlValue::Null,
                    rusqlite::types::ValueRef::Integer(n) => SqlValue::Integer(n),
                    rusqlite::types::ValueRef::Real(x) => SqlValue::Real(x),
                    rusqlite::types::ValueRef::Text(t) => {
                        SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                });
            }
            out.push(values);
        }
        Ok(Rows { columns, rows: out })
    }
}

/// rusqlite's error as the core's, its kind from SQLite's error code.
pub fn storage_error(error: rusqlite::Error) -> StorageError {
    use rusqlite::ffi::{ErrorCode, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    let kind = match &error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StorageErrorKind::Busy,
            ErrorCode::OperationInterrupted => StorageErrorKind::Interrupted,
            ErrorCode::ConstraintViolation
                if [SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY]
                    .contains(&failure.extended_code) =>
            {
                StorageErrorKind::Unique
            }
            _ => StorageErrorKind::Other,
        },
        _ => StorageErrorKind::Other,
    };
    StorageError::new(kind, error.to_string())
}

/// Spin's key-value interface over a map (its entries read through `Deref`).
#[derive(Default)]
pub struct MemoryKv(pub RefCell<HashMap<String, Vec<u8>>>);

impl Deref for MemoryKv {
    type Target = RefCell<HashMap<String, Vec<u8>>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.borrow_mut().remove(key);
        Ok(())
    }
}

/// Randomness for a fake host: xorshift, distinct and repeatable values.
pub struct Xorshift(pub Cell<u64>);

impl Default for Xorshift {
    fn default() -> Self {
        Xorshift(Cell::new(0x2545_f491_4f6c_dd1d))
    }
}

impl Xorshift {
    pub fn fill(&self, buf: &mut [u8]) {
        for byte in buf {
            let mut x = self.0.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.set(x);
            *byte = x as u8;
        }
    }
}

/// A quiet world for tests that need a [`Ctx`](intellimeter_core::Ctx)
/// but no clock, secret or log: time stands at 2019-10-30 20:00 UTC.
#[derive(Default)]
pub struct StillEnv {
    pub random: Xorshift,
}

impl intellimeter_core::env::Env for StillEnv {
    fn now(&self) -> i64 {
        1_572_465_600
    }
    fn fill_random(&self, buf: &mut [u8]) {
        self.random.fill(buf);
    }
    fn variable(&self, _name: &str) -> Option<String> {
        None
    }
    fn log(&self, _line: &str) {}
}

/// Stores `(project, reading)` pairs as ingest does: through each
/// project's write handle (projects 1 and 2), `batch` readings per
/// transaction, in the order given.
pub fn store_readings(
    db: &Sqlite,
    readings: &[(i64, intellimeter_core::domain::readings::NewReading)],
    batch: usize,
) {
    use intellimeter_core::domain::ids::ProjectId;
    let (kv, env) = (MemoryKv::default(), StillEnv::default());
    let ctx = intellimeter_core::Ctx::new(intellimeter_core::Services {
        db,
        kv: &kv,
        env: &env,
    });
    for project in [1, 2] {
        let rows: Vec<_> = readings
            .iter()
            .filter(|(p, _)| *p == project)
            .map(|(_, r)| *r)
            .collect();
        for chunk in rows.chunks(batch.max(1)) {
            intellimeter_core::readmodel::write_project(
                &ctx,
                ProjectId(project),
                Some("UTC"),
                |write| intellimeter_core::domain::readings::insert(write, chunk),
            )
            .unwrap();
        }
    }
}

/// Projects 1 (`site`, in `zone`) and 2 (`other`, UTC), and points named
/// `m<id>` for each `(id, project)` of `points`: the meter data tests'
/// starting state.
pub fn add_projects_and_points(db: &Sqlite, zone: &str, points: &[(i64, i64)]) {
    db.execute(
        "INSERT INTO projects (id, name, timezone, ingest_token_hash, created_at) \
         VALUES (1, 'site', ?, 'x', 0), (2, 'other', 'UTC', 'y', 0)",
        &[zone.into()],
    )
    .unwrap();
    for &(id, project) in points {
        db.execute(
            "INSERT INTO points (id, project_id, site_meter_id, name) VALUES (?, ?, ?, ?)",
            &[
                id.into(),
                project.into(),
                format!("m{id}").into(),
                format!("m{id}").into(),
            ],
        )
        .unwrap();
    }
}
