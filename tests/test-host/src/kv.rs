//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue/store` and `batch`
//! (`@0.2.0-draft2`), as Spin's `spin-factor-key-value` with its default
//! SQLite store (`spin-key-value-spin`) does them. Both interfaces share one
//! table of open stores, as in Spin.
//!
//! * Only the label `default` is configured (Spin without a runtime config);
//!   it lives in `<state_dir>/sqlite_key_value.db`, table `spin_key_value`.
//!   The whole app shares one connection to it, created on first `open`.
//! * `open(label)`: a label not in the component's `key_value_stores` →
//!   `access-denied`; an unconfigured label → `no-such-store` (but the host
//!   refuses at startup to run an app that lists one, as Spin does); more than
//!   256 open stores in one instance → `store-table-full`.
//! * `get` of a missing key → `none`; `delete` of a missing key is fine;
//!   `get` and `get-keys` refuse results over [`MAX_HOST_BUFFERED_BYTES`].
//! * Storage errors → `other(<rusqlite error, Debug-formatted>)`.
//! * wasi: `open` as the Spin one, a full table → `other("store table
//!   full")`; `list-keys` with a cursor → `other`; `set-many` is one
//!   transaction, `delete-many` one statement; `get-many` answers the keys
//!   that exist (Spin's SQLite store leaves the missing ones out).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::Connection;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::bindings::wasi::keyvalue::{batch, store as wasi_store};
use crate::table::Table;

/// Spin's `spin_world::MAX_HOST_BUFFERED_BYTES` (128 MiB).
pub const MAX_HOST_BUFFERED_BYTES: usize = 128 << 20;

/// Spin's `DEFAULT_STORE_TABLE_CAPACITY`.
const STORE_TABLE_CAPACITY: usize = 256;

/// File name of the default store in the state directory (as `.spin/`).
pub const DEFAULT_KV_FILENAME: &str = "sqlite_key_value.db";

/// The labels this host can back with a store.
pub fn is_configured(label: &str) -> bool {
    label == "default"
}

/// The app-wide backing store: one lazily opened connection.
pub struct KvBackend {
    path: PathBuf,
    connection: OnceLock<Arc<Mutex<Connection>>>,
}

impl KvBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            connection: OnceLock::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared connection, opened (and the table created) on first use.
    fn connection(&self) -> Result<Arc<Mutex<Connection>>, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let connection = Connection::open(&self.path).map_err(other)?;
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,
                    PRIMARY KEY (store, key)
                )",
                [],
            )
            .map_err(other)?;
        // A concurrent first open may have won the race; use its connection.
        Ok(self
            .connection
            .get_or_init(|| Arc::new(Mutex::new(connection)))
            .clone())
    }
}

/// `Error::Other` from any storage error, Debug-formatted as Spin does.
fn other(err: impl std::fmt::Debug) -> Error {
    Error::Other(format!("{err:?}"))
}

fn too_large() -> Error {
    Error::Other(format!(
        "query result exceeds limit of {MAX_HOST_BUFFERED_BYTES} bytes"
    ))
}

/// An open store handle: the label and the shared connection.
struct OpenStore {
    label: String,
    connection: Arc<Mutex<Connection>>,
}

/// Runs blocking SQLite work off the async runtime, holding the lock.
async fn with_connection<T: Send + 'static>(
    connection: &Arc<Mutex<Connection>>,
    work: impl FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let connection = connection.clone();
    tokio::task::spawn_blocking(move || {
        let guard = connection.lock().unwrap_or_else(|e| e.into_inner());
        work(&guard)
    })
    .await
    .map_err(|e| Error::Other(format!("internal runtime error: {e}")))?
}

/// Per-instance state of the key-value interface.
pub struct KvInstance {
    allowed: Arc<HashSet<String>>,
    backend: Arc<KvBackend>,
    stores: Table<OpenStore>,
}

impl KvInstance {
    pub fn new(allowed: Arc<HashSet<String>>, backend: Arc<KvBackend>) -> Self {
        Self {
            allowed,
            backend,
            stores: Table::new(STORE_TABLE_CAPACITY),
        }
    }

    /// `store.open(label)`; returns the handle's rep.
    pub async fn open_store(&mut self, label: &str) -> Result<u32, Error> {
        if !self.allowed.contains(label) {
            return Err(Error::AccessDenied);
        }
        if !is_configured(label) {
            return Err(Error::NoSuchStore);
        }
        let backend = self.backend.clone();
        let connection = tokio::task::spawn_blocking(move || backend.connection())
            .await
            .map_err(|e| Error::Other(format!("internal runtime error: {e}")))??;
        self.stores
            .push(OpenStore {
                label: label.to_owned(),
                connection,
            })
            .ok_or(Error::StoreTableFull)
    }

    fn store(&self, rep: u32) -> wasmtime::Result<&OpenStore> {
        self.stores
            .get(rep)
            .ok_or_else(|| wasmtime::format_err!("invalid store"))
    }

    /// `store.get(key)`. Outer error: invalid handle (a trap).
    pub async fn get_value(
        &self,
        rep: u32,
        key: &str,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let store = self.store(rep)?;
        let (label, key) = (store.label.clone(), key.to_owned());
        Ok(with_connection(&store.connection, move |conn| {
            let value = select_value(conn, &label, &key)?;
            let size = std::mem::size_of::<Option<Vec<u8>>>() + value.as_ref().map_or(0, Vec::len);
            if size > MAX_HOST_BUFFERED_BYTES {
                return Err(too_large());
            }
            Ok(value)
        })
        .await)
    }

    /// `store.set(key, value)`: insert or overwrite.
    pub async fn set_value(
        &self,
        rep: u32,
        key: &str,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(rep)?;
        let (label, key) = (store.label.clone(), key.to_owned());
        Ok(with_connection(&store.connection, move |conn| {
            conn.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT(store, key) DO UPDATE SET value=$3",
            )
            .map_err(other)?
            .execute(rusqlite::params![label, key, value])
            .map_err(other)
            .map(drop)
        })
        .await)
    }

    /// `store.delete(key)`: no error if the key does not exist.
    pub async fn delete_value(&self, rep: u32, key: &str) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(rep)?;
        let (label, key) = (store.label.clone(), key.to_owned());
        Ok(with_connection(&store.connection, move |conn| {
            conn.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                .map_err(other)?
                .execute([&label, &key])
                .map_err(other)
                .map(drop)
        })
        .await)
    }

    /// `store.exists(key)`: Spin implements it as `get(...).is_some()`.
    pub async fn exists_value(&self, rep: u32, key: &str) -> wasmtime::Result<Result<bool, Error>> {
        let store = self.store(rep)?;
        let (label, key) = (store.label.clone(), key.to_owned());
        Ok(with_connection(&store.connection, move |conn| {
            let value = select_value(conn, &label, &key)?;
            Ok(value.is_some())
        })
        .await)
    }

    /// `store.get-keys()`, in SQLite's order (Spin adds no ORDER BY either).
    pub async fn get_keys(&self, rep: u32) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let store = self.store(rep)?;
        let label = store.label.clone();
        Ok(with_connection(&store.connection, move |conn| {
            let mut size = std::mem::size_of::<Vec<String>>();
            let mut keys = Vec::new();
            let mut statement = conn
                .prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")
                .map_err(other)?;
            let rows = statement
                .query_map([&label], |row| row.get::<_, String>(0))
                .map_err(other)?;
            for key in rows {
                let key = key.map_err(other)?;
                size += std::mem::size_of::<String>() + key.len();
                if size > MAX_HOST_BUFFERED_BYTES {
                    return Err(too_large());
                }
                keys.push(key);
            }
            Ok(keys)
        })
        .await)
    }

    /// `batch.get-many(keys)`: the keys that exist, with their values.
    pub async fn get_many(
        &self,
        rep: u32,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, Error>> {
        let store = self.store(rep)?;
        let label = store.label.clone();
        Ok(with_connection(&store.connection, move |conn| {
            let mut size = std::mem::size_of::<Vec<(String, Option<Vec<u8>>)>>();
            let mut found = Vec::new();
            for key in keys {
                if let Some(value) = select_value(conn, &label, &key)? {
                    size +=
                        std::mem::size_of::<(String, Option<Vec<u8>>)>() + key.len() + value.len();
                    if size > MAX_HOST_BUFFERED_BYTES {
                        return Err(too_large());
                    }
                    found.push((key, Some(value)));
                }
            }
            Ok(found)
        })
        .await)
    }

    /// `batch.set-many(entries)`: one transaction.
    pub async fn set_many(
        &self,
        rep: u32,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(rep)?;
        let label = store.label.clone();
        Ok(with_connection(&store.connection, move |conn| {
            let transaction = conn.unchecked_transaction().map_err(other)?;
            for (key, value) in entries {
                transaction
                    .prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                         ON CONFLICT(store, key) DO UPDATE SET value=$3",
                    )
                    .map_err(other)?
                    .execute(rusqlite::params![label, key, value])
                    .map_err(other)?;
            }
            transaction.commit().map_err(other)
        })
        .await)
    }

    /// `batch.delete-many(keys)`: one transaction.
    pub async fn delete_many(
        &self,
        rep: u32,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.store(rep)?;
        let label = store.label.clone();
        Ok(with_connection(&store.connection, move |conn| {
            let transaction = conn.unchecked_transaction().map_err(other)?;
            for key in keys {
                transaction
                    .prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                    .map_err(other)?
                    .execute([&label, &key])
                    .map_err(other)?;
            }
            transaction.commit().map_err(other)
        })
        .await)
    }

    /// Drops a store handle.
    pub fn close(&mut self, rep: u32) {
        self.stores.remove(rep);
    }
}

impl key_value::Host for KvInstance {}

impl key_value::HostStore for KvInstance {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<key_value::Store>, Error>> {
        Ok(self.open_store(&label).await.map(Resource::new_own))
    }

    async fn get(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.get_value(store.rep(), &key).await
    }

    async fn set(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.set_value(store.rep(), &key, value).await
    }

    async fn delete(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.delete_value(store.rep(), &key).await
    }

    async fn exists(
        &mut self,
        store: Resource<key_value::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        self.exists_value(store.rep(), &key).await
    }

    async fn get_keys(
        &mut self,
        store: Resource<key_value::Store>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        KvInstance::get_keys(self, store.rep()).await
    }

    async fn drop(&mut self, store: Resource<key_value::Store>) -> wasmtime::Result<()> {
        self.close(store.rep());
        Ok(())
    }
}

/// A Spin error as `wasi:keyvalue` gives it (Spin's `to_wasi_err`).
fn to_wasi(error: Error) -> wasi_store::Error {
    match error {
        Error::AccessDenied => wasi_store::Error::AccessDenied,
        Error::NoSuchStore => wasi_store::Error::NoSuchStore,
        Error::StoreTableFull => wasi_store::Error::Other("store table full".to_owned()),
        Error::Other(message) => wasi_store::Error::Other(message),
    }
}

fn wasi<T>(
    outcome: wasmtime::Result<Result<T, Error>>,
) -> wasmtime::Result<Result<T, wasi_store::Error>> {
    outcome.map(|result| result.map_err(to_wasi))
}

impl wasi_store::Host for KvInstance {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<wasi_store::Bucket>, wasi_store::Error>> {
        Ok(self
            .open_store(&identifier)
            .await
            .map(Resource::new_own)
            .map_err(to_wasi))
    }
}

impl wasi_store::HostBucket for KvInstance {
    async fn get(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        wasi(self.get_value(bucket.rep(), &key).await)
    }

    async fn set(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        wasi(self.set_value(bucket.rep(), &key, value).await)
    }

    async fn delete(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        wasi(self.delete_value(bucket.rep(), &key).await)
    }

    async fn exists(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        wasi(self.exists_value(bucket.rep(), &key).await)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_store::Error::Other(
                "list_keys: cursor not supported".to_owned(),
            )));
        }
        let keys = wasi(KvInstance::get_keys(self, bucket.rep()).await)?;
        Ok(keys.map(|keys| wasi_store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<wasi_store::Bucket>) -> wasmtime::Result<()> {
        self.close(bucket.rep());
        Ok(())
    }
}

impl batch::Host for KvInstance {
    async fn get_many(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        wasi(KvInstance::get_many(self, bucket.rep(), keys).await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        wasi(KvInstance::set_many(self, bucket.rep(), key_values).await)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<wasi_store::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        wasi(KvInstance::delete_many(self, bucket.rep(), keys).await)
    }
}

/// The value stored under `key` in store `label`, if any.
fn select_value(
    conn: &rusqlite::Connection,
    label: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, Error> {
    conn.prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")
        .map_err(other)?
        .query_map([label, key], |row| row.get::<_, Vec<u8>>(0))
        .map_err(other)?
        .next()
        .transpose()
        .map_err(other)
}
