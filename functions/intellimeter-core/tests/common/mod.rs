//! A real SQLite (rusqlite) behind the core's `Sql` trait, one statement
//! per call as Spin's interface, for the integration tests of the core.

use intellimeter_core::storage::{Rows, Sql, SqlValue, StorageError};

pub struct Sqlite(pub rusqlite::Connection);

impl Sqlite {
    pub fn in_memory() -> Self {
        Sqlite(rusqlite::Connection::open_in_memory().unwrap())
    }
}

impl Sql for Sqlite {
    fn execute(&self, statement: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        let error = |e: rusqlite::Error| StorageError::new(e.to_string());
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
