//! What a request's handler works with: the host's services (storage,
//! environment) and what authentication learned on the way.

use crate::env::Env;
use crate::error::ApiError;
use crate::storage::{KeyValue, Sql, migrations};
use std::cell::Cell;

/// The storage and environment of one request. The host opens stores
/// lazily, so a route that never touches SQLite never opens it.
pub struct Services<'a> {
    pub db: &'a dyn Sql,
    pub kv: &'a dyn KeyValue,
    pub env: &'a dyn Env,
}

/// What a handler gets: the services, plus what authentication learned.
pub struct Ctx<'a> {
    services: Services<'a>,
    migrated: Cell<bool>,
    /// The caller's stored XML preference, once known.
    pub(crate) prefers_xml: Cell<Option<bool>>,
}

impl<'a> Ctx<'a> {
    pub fn new(services: Services<'a>) -> Self {
        Ctx {
            services,
            migrated: Cell::new(false),
            prefers_xml: Cell::new(None),
        }
    }

    /// The SQL database, with the schema brought up to date on first use.
    pub fn db(&self) -> Result<&'a dyn Sql, ApiError> {
        if !self.migrated.get() {
            migrations::apply(self.services.db)?;
            self.migrated.set(true);
        }
        Ok(self.services.db)
    }

    pub fn kv(&self) -> &'a dyn KeyValue {
        self.services.kv
    }

    pub fn env(&self) -> &'a dyn Env {
        self.services.env
    }

    pub fn now(&self) -> i64 {
        self.services.env.now()
    }
}
