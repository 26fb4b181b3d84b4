//! The catalog (`baton-catalog`) offered to plugins: `baton:music/catalog@0.5.0`, and the
//! same interface under its first name, `baton:plugin/catalog@0.4.0`.
//!
//! Like `baton-host-fp`, this crate sits beside the sandbox crate: [`CatalogHost`] plugs into
//! the runtime's linker as a [`baton_runtime::HostInterface`]. It holds no catalog logic of its
//! own: every call becomes one [`Catalog`] call with `Access::plugin(name, grants, quota)`, so
//! grants, property ownership, quotas and the change log are enforced in one place. What it
//! adds is what only the sandbox knows:
//!
//! - **paths**: `files` (the fingerprint library) is limited to files inside the plugin's folder
//!   grants and named by guest path, both in what it reads (`files`, and relations to it such
//!   as `tracks.files`) and in what it writes or asks for (keys, links, `match-track`'s path);
//! - **size caps**: an upsert's JSON is at most [`MAX_CALL_BYTES`], and so is a page of
//!   records; both are charged to the task's memory meter while the host holds them;
//! - **time**: the SQLite work runs on tokio's blocking pool (never on a worker thread), and a
//!   call still running at the task's deadline traps, so the task ends `timeout`;
//! - **bounds per call** ([`baton_catalog::bounds`]): each call may read at most
//!   [`MAX_CALL_READ_BYTES`] of rows and do at most [`MAX_CALL_TICKS`] × 1,000 SQLite steps,
//!   checked as the work goes; inputs are capped ([`MAX_QUERY_IDS`], [`MAX_QUERY_TEXT`]); and
//!   a call whose task ends (deadline, or the task abandoned) is interrupted where it is, so it
//!   gives back the process-wide catalog lock at once instead of running on.
//!
//! The newest version is the one implemented (`v0_5`); each older one is adapted up to it
//! (`adapt`), so a new version never has to squeeze through an old version's types and the
//! frozen ones cost only a conversion each. How a call runs (blocking pool, deadline, bounds,
//! memory) is `call`; the catalog's values as 0.5's WIT values, and guest input checked on the
//! way in, are `convert`.
//!
//! One [`Catalog`] per process sits behind a mutex, so its track index stays warm between
//! calls and tasks (as `best-matches` keeps the fingerprint index).
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
mod access;
mod adapt;
mod call;
mod convert;
pub mod grant;
mod library;
mod paths;
mod v0_5;
mod wit;

pub use library::LibraryFiles;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use baton_catalog::{Access, Catalog};
use baton_runtime::limits::TaskMeter;
use baton_runtime::{AccessRequest, BoxFuture, Configured, Described, Grant, HostInterface, PluginInfo, StoreState};
use serde_json::Value;
use wasmtime::component::{HasData, Linker};

use crate::grant::CatalogGrant;

/// The most one call takes in (an upsert's JSON) or gives back (a page of records), in bytes.
pub const MAX_CALL_BYTES: usize = 8 << 20;
/// Most records per `query` page, and changes per `changes-since` call.
pub const MAX_PAGE: u32 = 1_000;
pub const MAX_CHANGES: u32 = 10_000;
/// Bytes of rows one call may read from the catalog to build its answer (a page of records
/// filtered on the host, changes): four answers' worth. A page or a list of changes that
/// would read more ends early (with its cursor); one record or change alone over it is an
/// `invalid` error.
pub const MAX_CALL_READ_BYTES: usize = 4 * MAX_CALL_BYTES;
/// Work one call may do: progress ticks of 1,000 SQLite steps (10^9 steps, a few seconds of
/// CPU). Over it, the call fails `invalid` and its statement stops.
pub const MAX_CALL_TICKS: u64 = 1_000_000;
/// Most external ids, and most artists, in one `match-track` / `resolve-track` query.
pub const MAX_QUERY_IDS: usize = 64;
/// Longest title, artist, ISRC or external id in a track query, in bytes.
pub const MAX_QUERY_TEXT: usize = 4_096;

/// The catalog of one host process, in the state database.
#[derive(Clone)]
pub struct CatalogHost {
    path: PathBuf,
    /// Where the state is: on PostgreSQL the catalog is on the server and `path` holds only
    /// this machine's fingerprint library. None: the catalog is in the SQLite file `path`.
    location: Option<baton_ledger::Location>,
    catalog: Arc<Mutex<Option<Catalog>>>,
    /// Where the plans audit writes its reports, and how to read them (`audit_gaps` shows the
    /// latest); wired by the host.
    audit_reports: Option<(PathBuf, baton_catalog::AuditGapsSource)>,
    /// Where `handoffs` reads the ledger's TASKs; wired by the host.
    handoffs: Option<Arc<dyn baton_catalog::HandoffsSource>>,
    /// The fingerprint library in `path`, behind `files`.
    files: Arc<LibraryFiles>,
}

impl CatalogHost {
    /// The catalog in the state database at `state_db` (opened on first use).
    pub fn new(state_db: PathBuf) -> Self {
        CatalogHost {
            files: LibraryFiles::at(&state_db),
            path: state_db,
            location: None,
            catalog: Arc::default(),
            audit_reports: None,
            handoffs: None,
        }
    }

    /// The catalog where `location` says (a SQLite file, or a PostgreSQL server), with this
    /// machine's fingerprint library in `local` ([`baton_ledger::Location::local_file`]).
    pub fn at(location: baton_ledger::Location, local: PathBuf) -> Self {
        CatalogHost {
            files: LibraryFiles::at(&local),
            path: local,
            location: Some(location),
            catalog: Arc::default(),
            audit_reports: None,
            handoffs: None,
        }
    }

    /// The folder whose latest audit report `audit_gaps` shows, read by `source`.
    pub fn with_audit_reports(mut self, dir: PathBuf, source: baton_catalog::AuditGapsSource) -> Self {
        self.audit_reports = Some((dir, source));
        self
    }

    /// Where `handoffs` reads the ledger's TASKs.
    pub fn with_handoffs(mut self, source: Arc<dyn baton_catalog::HandoffsSource>) -> Self {
        self.handoffs = Some(source);
        self
    }
}

impl HostInterface for CatalogHost {
    fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        fn view(s: &mut StoreState) -> CatView<'_> {
            let p = s.parts();
            let host = p.extensions.get::<CatalogHost>().cloned();
            let task = p.task;
            // A plugin not configured from `baton.toml` (a bare `prepare`) is granted nothing.
            let g = task.configured::<CatalogGrant>().cloned().unwrap_or_default();
            let access = Access::plugin(task.plugin(), g.grants, g.quota);
            let identity = task.identity().map(str::to_string);
            let (deadline, grants, dirs) = (task.deadline(), task.grants().to_vec(), task.grant_dirs().to_vec());
            CatView { host, access, identity, grants, dirs, deadline, meter: p.meter, fault: p.fault }
        }
        v0_5::add_to_linker(linker, view)?;
        adapt::add_to_linker(linker, view)
    }

    fn configure(
        &self,
        plugin: &PluginInfo,
        sections: &serde_json::Map<String, Value>,
    ) -> Result<Option<Configured>, String> {
        grant::configure(&plugin.name, &plugin.collections, sections).map(Some)
    }

    fn requests<'a>(
        &'a self,
        plugin: Described<'a>,
        store: &'a mut wasmtime::Store<StoreState>,
    ) -> BoxFuture<'a, wasmtime::Result<Vec<AccessRequest>>> {
        Box::pin(access::requested(plugin, store))
    }
}

/// What the host functions see of a task's store (every version's: the view is the same).
struct CatView<'a> {
    host: Option<CatalogHost>,
    access: Access,
    /// The plugin's install identity: the catalog checks it owns its name's data.
    identity: Option<String>,
    grants: Vec<Grant>,
    dirs: Vec<baton_runtime::grants::GrantDir>,
    deadline: Instant,
    meter: &'a mut TaskMeter,
    /// The task's host fault (`StoreState::host_fault`): set by a catalog call that met a
    /// fault of the state that may pass.
    fault: &'a mut Option<String>,
}

/// The marker wasmtime's generated `add_to_linker` functions name the view by.
struct Cat;

impl HasData for Cat {
    type Data<'a> = CatView<'a>;
}
