//! `baton:music/sqlite` (`baton:plugin/sqlite` at 0.4.0): read-only snapshots of SQLite files inside a plugin's
//! grants, for plugins that read another program's library (djay's `MediaLibrary.db`).
//!
//! Like `baton-host-fp`, this crate sits beside the sandbox: [`SqliteHost`] plugs into the
//! runtime's linker as a [`baton_runtime::HostInterface`] and finds itself again in each task's
//! store. The work is in [`snapshot`] (copying, the authorizer, queries, limits); this file
//! converts types, runs that work off the async threads, and charges what a query returns to the
//! task's memory meter. A snapshot is a resource in the task's table, so it is dropped (and its
//! copy removed) when the plugin drops it, and with the store when the task ends at the latest.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
pub mod budget;
mod older;
pub mod snapshot;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use baton_runtime::limits::TaskMeter;
use baton_runtime::{Grant, HostInterface, StoreState};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use snapshot::{DEFAULT_MEMORY_BYTES, Limits, MAX_CALL_BYTES, MAX_ROWS, Snapshots, SqlError};

/// A snapshot as the task's resource table holds it.
pub struct SnapshotHandle(Arc<snapshot::Snapshot>);

/// The newest `sqlite` interface (`baton:music/sqlite@0.5.0`), implemented here; 0.4.0's
/// (`baton:plugin/sqlite`, the same shapes) is adapted up to it in [`older`].
mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../../wit/v0.5", "../../../wit/v0.5/music"],
        world: "baton:music/music",
        // Trappable: a task whose time runs out during a call ends `timeout`, not with an error
        // the plugin could ignore.
        imports: { "baton:music/sqlite": async | trappable, default: async },
        exports: { default: async },
        with: { "baton:music/sqlite.snapshot": super::SnapshotHandle },
    });
}

use bindings::baton::music::sqlite as wit;

/// The sqlite service of one host process.
pub struct SqliteHost {
    snapshots: Arc<Snapshots>,
}

impl SqliteHost {
    /// Copies go into private folders under `root` (e.g. `<cache>/sqlite`); copies left there by
    /// a process that died are removed now.
    pub fn new(root: PathBuf, limits: Limits) -> Self {
        SqliteHost { snapshots: Arc::new(Snapshots::new(root, limits)) }
    }
}

/// `[sqlite]` in `baton.toml`: this interface's section (the engine carries it unread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteSettings {
    /// All snapshot copies of one baton process together may use this many MiB.
    pub copy_mb: u64,
    /// SQLite memory of one task's snapshots together (MiB), apart from the ledger's.
    pub task_memory_mb: u64,
}

impl SqliteSettings {
    /// Its table's name.
    pub const SECTION: &str = "sqlite";

    /// The snapshots' limits these settings give.
    pub fn limits(&self) -> Limits {
        Limits {
            copy_bytes: self.copy_mb << 20,
            memory_bytes: usize::try_from(self.task_memory_mb << 20).unwrap_or(usize::MAX),
            ..Default::default()
        }
    }
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings { copy_mb: 2048, task_memory_mb: 256 }
    }
}

impl HostInterface for SqliteHost {
    fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        fn view(s: &mut StoreState) -> SqlView<'_> {
            let p = s.parts();
            SqlView {
                host: p.extensions.get(),
                grants: p.task.grants(),
                dirs: p.task.grant_dirs(),
                deadline: p.task.deadline(),
                task: p.task.task_id(),
                table: p.table,
                meter: p.meter,
                fault: p.fault,
            }
        }
        // The music package's `types` (no functions; every music host crate links it, so each
        // works alone).
        bindings::baton::music::types::add_to_linker::<StoreState, Sql>(linker, view)?;
        wit::add_to_linker::<StoreState, Sql>(linker, view)?;
        older::add_to_linker(linker, view)
    }
}

/// What the host functions see of a task's store.
struct SqlView<'a> {
    host: Option<&'a SqliteHost>,
    grants: &'a [Grant],
    dirs: &'a [baton_runtime::grants::GrantDir],
    deadline: Instant,
    task: &'a str,
    table: &'a mut ResourceTable,
    meter: &'a mut TaskMeter,
    /// The task's host fault (`StoreState::host_fault`): set when the copy of a snapshot
    /// meets a fault of the host's disk that may pass.
    fault: &'a mut Option<String>,
}

struct Sql;

impl HasData for Sql {
    type Data<'a> = SqlView<'a>;
}

/// A WIT result, or a trap that ends the task `timeout`.
fn convert<T>(r: Result<T, SqlError>) -> wasmtime::Result<Result<T, wit::SqliteError>> {
    Ok(match r {
        Ok(v) => Ok(v),
        Err(SqlError::TaskTimeout) => return Err(wasmtime::Trap::Interrupt.into()),
        Err(SqlError::Denied(m)) => Err(wit::SqliteError::Denied(m)),
        Err(SqlError::Invalid(m)) => Err(wit::SqliteError::Invalid(m)),
        Err(SqlError::Busy(m)) => Err(wit::SqliteError::Busy(m)),
        Err(SqlError::Io(m) | SqlError::HostFault(m)) => Err(wit::SqliteError::Io(m)),
    })
}

/// Sets its flag when dropped: work whose call was abandoned (the task was cut off) stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, SqlError> + Send + 'static) -> Result<T, SqlError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(SqlError::Io(format!("the sqlite service failed: {e}"))))
}

fn from_wit(v: wit::SqlValue) -> snapshot::Value {
    match v {
        wit::SqlValue::Null => snapshot::Value::Null,
        wit::SqlValue::Integer(i) => snapshot::Value::Integer(i),
        wit::SqlValue::Real(f) => snapshot::Value::Real(f),
        wit::SqlValue::Text(s) => snapshot::Value::Text(s),
        wit::SqlValue::Blob(b) => snapshot::Value::Blob(b),
    }
}

fn to_wit(v: snapshot::Value) -> wit::SqlValue {
    match v {
        snapshot::Value::Null => wit::SqlValue::Null,
        snapshot::Value::Integer(i) => wit::SqlValue::Integer(i),
        snapshot::Value::Real(f) => wit::SqlValue::Real(f),
        snapshot::Value::Text(s) => wit::SqlValue::Text(s),
        snapshot::Value::Blob(b) => wit::SqlValue::Blob(b),
    }
}

impl bindings::baton::music::types::Host for SqlView<'_> {}

impl wit::Host for SqlView<'_> {}

impl wit::HostSnapshot for SqlView<'_> {
    async fn open(&mut self, path: String) -> wasmtime::Result<Result<Resource<SnapshotHandle>, wit::SqliteError>> {
        let Some(host) = self.host else {
            return convert(Err(SqlError::Io("this host offers no sqlite service".into())));
        };
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancelled.clone());
        // Copying can take a while: off the async threads, bounded by the deadline.
        let (snapshots, grants, dirs, task, deadline) =
            (host.snapshots.clone(), self.grants.to_vec(), self.dirs.to_vec(), self.task.to_string(), self.deadline);
        let r = blocking(move || snapshots.open(&grants, &dirs, &path, &task, deadline, &cancelled)).await;
        match r {
            Ok(s) => Ok(Ok(self.table.push(SnapshotHandle(Arc::new(s)))?)),
            Err(e) => {
                if let SqlError::HostFault(why) = &e {
                    self.fault.get_or_insert_with(|| format!("a database snapshot: {why}"));
                }
                convert(Err(e))
            }
        }
    }

    async fn query(
        &mut self,
        snapshot: Resource<SnapshotHandle>,
        sql: String,
        params: Vec<wit::SqlValue>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<wit::Rows, wit::SqliteError>> {
        let s = self.table.get(&snapshot)?.0.clone();
        let _stop = StopQuery(s.clone());
        let params: Vec<snapshot::Value> = params.into_iter().map(from_wit).collect();
        let r = blocking(move || s.query(&sql, &params, max_rows)).await;
        let rows = match r {
            Ok(rows) => rows,
            Err(e) => return convert(Err(e)),
        };
        // Charged while the host holds the page; the plugin's memory is charged as it is
        // lowered. A page that cannot fit ends the task `out_of_memory`.
        if !self.meter.hold(rows.bytes) {
            return Err(wasmtime::Error::msg(format!(
                "a query result of {} bytes does not fit the task's memory cap of {} bytes",
                rows.bytes, self.meter.memory_cap
            )));
        }
        self.meter.release(rows.bytes);
        Ok(Ok(wit::Rows {
            columns: rows.columns,
            rows: rows.rows.into_iter().map(|r| r.into_iter().map(to_wit).collect()).collect(),
            more: rows.more,
        }))
    }

    async fn drop(&mut self, snapshot: Resource<SnapshotHandle>) -> wasmtime::Result<()> {
        self.table.delete(snapshot)?;
        Ok(())
    }
}

/// Stops the query of a snapshot if its call is abandoned before it returns (harmless after:
/// each query starts un-cancelled).
struct StopQuery(Arc<snapshot::Snapshot>);

impl Drop for StopQuery {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
