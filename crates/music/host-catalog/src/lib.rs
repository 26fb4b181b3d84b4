//! `baton:plugin/catalog` (since 0.4.0): the catalog (`baton-catalog`) offered to plugins.
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
//! One [`Catalog`] per process sits behind a mutex, so its track index stays warm between
//! calls and tasks (as `best-matches` keeps the fingerprint index).
mod access;
pub mod grant;
mod library;
mod music;
mod paths;

use baton_sync::Locked;
pub use library::LibraryFiles;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use baton_catalog::bounds::{self, CallBounds, Stop};

use baton_catalog::{Access, Catalog, CatalogError, Filter, Kind, Record};
use baton_runtime::limits::TaskMeter;
use baton_runtime::{AccessRequest, BoxFuture, Configured, Described, Grant, HostInterface, PluginInfo, StoreState};
use serde_json::Value;
use wasmtime::component::{HasData, Linker};

use crate::grant::CatalogGrant;
use crate::paths::Files;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.4",
        world: "plugin",
        // Trappable: a call that outlives the task's time budget ends the task `timeout`.
        imports: { "baton:plugin/catalog": async | trappable, default: async },
        exports: { default: async },
    });
}

use bindings::baton::plugin::catalog as wit;

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
            let host = s.extension::<CatalogHost>().cloned();
            // A plugin not configured from `baton.toml` (a bare `prepare`) is granted nothing.
            let g = s.configured::<CatalogGrant>().cloned().unwrap_or_default();
            let access = Access::plugin(s.plugin(), g.grants, g.quota);
            let identity = s.identity().map(str::to_string);
            let deadline = s.deadline();
            let grants = s.grants().to_vec();
            let dirs = s.grant_dirs().to_vec();
            CatView { host, access, identity, grants, dirs, deadline, meter: &mut s.meter }
        }
        wit::add_to_linker::<StoreState, Cat>(linker, view)?;
        music::add_to_linker(linker, view)
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

/// What the host functions see of a task's store.
struct CatView<'a> {
    host: Option<CatalogHost>,
    access: Access,
    /// The plugin's install identity: the catalog checks it owns its name's data.
    identity: Option<String>,
    grants: Vec<Grant>,
    dirs: Vec<baton_runtime::grants::GrantDir>,
    deadline: Instant,
    meter: &'a mut TaskMeter,
}

struct Cat;

impl HasData for Cat {
    type Data<'a> = CatView<'a>;
}

type WitResult<T> = Result<T, wit::CatalogError>;

/// The catalog's refusal as the plugin sees it.
fn error(e: CatalogError) -> wit::CatalogError {
    let m = e.to_string();
    match e {
        CatalogError::NotGranted { .. }
        | CatalogError::NotOwner { .. }
        | CatalogError::ReadOnly { .. }
        | CatalogError::ManualByPlugin { .. } => wit::CatalogError::Denied(m),
        CatalogError::Quota { .. } => wit::CatalogError::Quota(m),
        CatalogError::Sql(_)
        | CatalogError::Postgres { .. }
        | CatalogError::Unavailable { .. }
        | CatalogError::Virtual(_)
        | CatalogError::Fingerprint(_) => wit::CatalogError::Io(m),
        _ => wit::CatalogError::Invalid(m),
    }
}

fn invalid(m: impl Into<String>) -> wit::CatalogError {
    wit::CatalogError::Invalid(m.into())
}

fn denied(m: impl Into<String>) -> wit::CatalogError {
    wit::CatalogError::Denied(m.into())
}

impl CatView<'_> {
    /// Runs `f` on the process's catalog on the blocking pool. Past the task's deadline the
    /// call traps (the task ends `timeout`); a write already under way still commits or rolls
    /// back as a whole.
    async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Catalog, &Access, &Files) -> WitResult<T> + Send + 'static,
    ) -> wasmtime::Result<WitResult<T>> {
        self.run_reading(MAX_CALL_READ_BYTES, f).await
    }

    /// [`CatView::run`], reading at most `read_cap` bytes of rows.
    async fn run_reading<T: Send + 'static>(
        &mut self,
        read_cap: usize,
        f: impl FnOnce(&mut Catalog, &Access, &Files) -> WitResult<T> + Send + 'static,
    ) -> wasmtime::Result<WitResult<T>> {
        let Some(host) = self.host.clone() else {
            return Ok(Err(wit::CatalogError::Io("this host offers no catalog".into())));
        };
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        let access = self.access.clone();
        let identity = self.identity.clone();
        let files = Files::new(&self.grants, &self.dirs);
        // Set when this call's future is dropped (the task ended) or its deadline passes: the
        // work stops where it is and the catalog lock is given back.
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancel.clone());
        let call = CallBounds::new(cancel.clone(), self.deadline, MAX_CALL_TICKS, read_cap);
        let inner = call.clone();
        let job = tokio::task::spawn_blocking(move || {
            let _bounded = bounds::enter(inner.clone());
            let mut guard = host.catalog.locked();
            // Waited for the lock past the end of the task: nothing to do.
            bounds::check().map_err(error)?;
            if guard.is_none() {
                let mut cat = match &host.location {
                    Some(loc) => Catalog::open_at(loc, &host.path),
                    None => Catalog::open(&host.path),
                }
                .map_err(error)?;
                if let Some((dir, source)) = host.audit_reports.clone() {
                    cat.set_audit_reports(Some(dir), source);
                }
                if let Some(source) = host.handoffs.clone() {
                    cat.set_handoffs(source);
                }
                cat.set_files(host.files.clone());
                *guard = Some(cat);
            }
            let r = match guard.as_mut() {
                Some(cat) => match identity {
                    Some(id) => cat.bind_owner(access, &id).map_err(error).and_then(|access| f(cat, &access, &files)),
                    None => f(cat, &access, &files),
                },
                None => Err(wit::CatalogError::Io("the catalog could not be opened".into())),
            };
            // A statement interrupted by the bounds fails as an SQL error: say which bound.
            match (r, inner.stopped()) {
                (Err(_), Some(Stop::Work | Stop::Bytes)) => Err(error(inner.error())),
                (r, _) => r,
            }
        });
        match tokio::time::timeout_at(self.deadline.into(), job).await {
            Err(_) => {
                cancel.store(true, Ordering::Relaxed);
                Err(wasmtime::Trap::Interrupt.into())
            }
            Ok(Ok(_)) if matches!(call.stopped(), Some(Stop::Deadline | Stop::Cancelled)) => {
                Err(wasmtime::Trap::Interrupt.into())
            }
            Ok(Err(e)) => {
                tracing::error!(plugin = %self.access.actor, "catalog call failed: {e}");
                Ok(Err(wit::CatalogError::Io("the catalog call failed (see the host's log)".into())))
            }
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Charges `bytes` the host holds for this call to the task's memory; refused (nothing
    /// done) when over [`MAX_CALL_BYTES`] or the task's memory cap.
    fn hold(&mut self, what: &str, bytes: usize) -> WitResult<()> {
        self.hold_as(what, bytes, bytes)
    }

    /// As [`CatView::hold`] for `size` bytes of JSON that take `charge` bytes while held.
    fn hold_as(&mut self, what: &str, size: usize, charge: usize) -> WitResult<()> {
        if size > MAX_CALL_BYTES {
            return Err(invalid(format!(
                "{what}: {size} bytes, over the per-call cap of {MAX_CALL_BYTES} bytes; split it"
            )));
        }
        if !self.meter.hold(charge) {
            return Err(invalid(format!("{what}: {size} bytes do not fit the task's memory cap")));
        }
        Ok(())
    }

    /// `catalog.upsert-many` (0.5): every batch parsed and checked as `upsert` does, then
    /// written in one transaction ([`Catalog::upsert_many`]): all or nothing. The batches
    /// together are one call's input (the per-call cap and the task's memory).
    async fn upsert_batches(
        &mut self,
        batches: Vec<(String, String)>,
    ) -> wasmtime::Result<WitResult<Vec<wit::UpsertReport>>> {
        let size: usize = batches.iter().map(|(c, r)| c.len() + r.len()).sum();
        let charge = size.saturating_mul(2);
        if let Err(e) = self.hold_as("upsert-many", size, charge) {
            return Ok(Err(e));
        }
        let r = self
            .run(move |cat, access, files| {
                let mut parsed = Vec::with_capacity(batches.len());
                for (collection, text) in &batches {
                    let file_props = file_relations(cat, access, collection)?;
                    parsed.push(parse_records(collection, text, &file_props, files, cat, access)?);
                }
                let refs: Vec<(&str, &[baton_catalog::Record])> =
                    batches.iter().zip(&parsed).map(|((c, _), r)| (c.as_str(), r.as_slice())).collect();
                let reports = cat.upsert_many(access, &refs).map_err(error)?;
                Ok(reports
                    .into_iter()
                    .map(|r| wit::UpsertReport { inserted: r.inserted, updated: r.updated, unchanged: r.unchanged })
                    .collect())
            })
            .await;
        self.meter.release(charge);
        r
    }

    /// As [`CatView::hold`] for an answer, which the host holds until the plugin has it.
    fn answer<T>(&mut self, what: &str, r: WitResult<(T, usize)>) -> WitResult<T> {
        let (v, bytes) = r?;
        self.hold(what, bytes)?;
        self.meter.release(bytes);
        Ok(v)
    }
}

fn kind_to_wit(k: Kind) -> wit::PropertyKind {
    match k {
        Kind::Text => wit::PropertyKind::Text,
        Kind::Number => wit::PropertyKind::Number,
        Kind::Date => wit::PropertyKind::Date,
        Kind::Bool => wit::PropertyKind::Bool,
        Kind::Select => wit::PropertyKind::Select,
        Kind::MultiSelect => wit::PropertyKind::MultiSelect,
        Kind::Url => wit::PropertyKind::Url,
        Kind::Relation => wit::PropertyKind::Relation,
    }
}

fn kind_from_wit(k: wit::PropertyKind) -> Kind {
    match k {
        wit::PropertyKind::Text => Kind::Text,
        wit::PropertyKind::Number => Kind::Number,
        wit::PropertyKind::Date => Kind::Date,
        wit::PropertyKind::Bool => Kind::Bool,
        wit::PropertyKind::Select => Kind::Select,
        wit::PropertyKind::MultiSelect => Kind::MultiSelect,
        wit::PropertyKind::Url => Kind::Url,
        wit::PropertyKind::Relation => Kind::Relation,
    }
}

fn method_to_wit(m: baton_catalog::MatchMethod) -> wit::MatchMethod {
    use baton_catalog::MatchMethod as M;
    match m {
        M::ExternalId => wit::MatchMethod::ExternalId,
        M::Isrc => wit::MatchMethod::Isrc,
        M::Normalized => wit::MatchMethod::Normalized,
        M::Fuzzy => wit::MatchMethod::Fuzzy,
        M::Fingerprint => wit::MatchMethod::Fingerprint,
        M::Manual => wit::MatchMethod::Manual,
    }
}

/// How a stored link was made: a match method, or none for a data link (membership).
fn link_method(m: Option<&str>) -> Option<wit::MatchMethod> {
    Some(match m? {
        "manual" => wit::MatchMethod::Manual,
        "external_id" => wit::MatchMethod::ExternalId,
        "isrc" => wit::MatchMethod::Isrc,
        "normalized" => wit::MatchMethod::Normalized,
        "fuzzy" => wit::MatchMethod::Fuzzy,
        "fingerprint" => wit::MatchMethod::Fingerprint,
        _ => return None,
    })
}

fn method_from_wit(m: wit::MatchMethod) -> baton_catalog::MatchMethod {
    use baton_catalog::MatchMethod as M;
    match m {
        wit::MatchMethod::ExternalId => M::ExternalId,
        wit::MatchMethod::Isrc => M::Isrc,
        wit::MatchMethod::Normalized => M::Normalized,
        wit::MatchMethod::Fuzzy => M::Fuzzy,
        wit::MatchMethod::Fingerprint => M::Fingerprint,
        wit::MatchMethod::Manual => M::Manual,
    }
}

fn outcome_to_wit(o: baton_catalog::MatchOutcome, files: &Files) -> wit::MatchOutcome {
    use baton_catalog::Verdict;
    wit::MatchOutcome {
        verdict: match o.verdict {
            Verdict::Match => wit::Verdict::Match,
            Verdict::Ambiguous => wit::Verdict::Ambiguous,
            Verdict::None => wit::Verdict::None,
        },
        candidates: o
            .candidates
            .into_iter()
            .map(|c| wit::Candidate {
                reasons: c.reasons.into_iter().map(|r| files.reason(r)).collect(),
                key: c.key,
                title: c.title,
                artists: c.artists,
                duration_ms: c.duration_ms.and_then(|d| u64::try_from(d).ok()),
                score: c.score,
                method: method_to_wit(c.method),
            })
            .collect(),
    }
}

/// The relation properties of `collection` that point at `files` (their values are host paths
/// in the store and guest paths for the plugin).
fn file_relations(cat: &Catalog, access: &Access, collection: &str) -> WitResult<Vec<String>> {
    if collection == baton_catalog::schema::FILES {
        return Ok(Vec::new());
    }
    Ok(cat
        .schema(access, collection)
        .map_err(error)?
        .into_iter()
        .filter(|p| p.kind == Kind::Relation && p.target.as_deref() == Some(baton_catalog::schema::FILES))
        .map(|p| p.id)
        .collect())
}

fn track_query(mut q: wit::TrackQuery, files: &Files) -> WitResult<baton_catalog::TrackQuery> {
    // Inputs are bounded before any work: a list of one id repeated 12,000 times once took
    // the host from 79 MB to 2.8 GB.
    let mut seen = std::collections::HashSet::new();
    q.external_ids.retain(|id| seen.insert(id.clone()));
    if q.external_ids.len() > MAX_QUERY_IDS || q.artists.len() > MAX_QUERY_IDS {
        return Err(invalid(format!(
            "tracks: a track query has {} distinct external ids and {} artists; at most {MAX_QUERY_IDS} of each",
            q.external_ids.len(),
            q.artists.len()
        )));
    }
    let longest = std::iter::once(&q.title)
        .chain(&q.artists)
        .chain(&q.external_ids)
        .chain(q.isrc.as_ref())
        .map(String::len)
        .max()
        .unwrap_or(0);
    if longest > MAX_QUERY_TEXT {
        return Err(invalid(format!(
            "tracks: a track query holds a text of {longest} bytes; at most {MAX_QUERY_TEXT}"
        )));
    }
    let file = match q.path {
        Some(p) => {
            Some(files.host(&p).ok_or_else(|| denied(format!("tracks: path {p} is not inside the plugin's grants")))?)
        }
        None => None,
    };
    Ok(baton_catalog::TrackQuery {
        title: q.title,
        artists: q.artists,
        duration_ms: q.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        isrc: q.isrc,
        external_ids: q.external_ids,
        file,
        // The WIT query carries no album: a match by names without a duration is ambiguous.
        album: None,
    })
}

/// Parses an upsert's JSON array of records, with guest paths in relations to `files` made
/// host paths (refused when outside the grants).
fn parse_records(
    collection: &str,
    text: &str,
    file_props: &[String],
    files: &Files,
    cat: &Catalog,
    access: &Access,
) -> WitResult<Vec<Record>> {
    let mut records: Vec<Record> = serde_json::from_str(text).map_err(|e| {
        invalid(format!("{collection}: the records are not a JSON array of {{\"key\", \"props\"}}: {e}"))
    })?;
    for r in &mut records {
        for prop in file_props {
            let Some(v) = r.props.get_mut(prop) else { continue };
            let Value::Array(items) = v else { continue };
            for item in items.iter_mut() {
                let slot = match item {
                    Value::String(s) => s,
                    Value::Object(o) => match o.get_mut("key") {
                        Some(Value::String(s)) => s,
                        _ => continue,
                    },
                    _ => continue,
                };
                *slot = files.stored_key(cat, access, slot).ok_or_else(|| {
                    denied(format!(
                        "{collection}/{}: property `{prop}`: {slot} is not a library file inside the plugin's grants",
                        r.key
                    ))
                })?;
            }
        }
    }
    Ok(records)
}

impl wit::Host for CatView<'_> {
    async fn collections(&mut self) -> wasmtime::Result<WitResult<Vec<wit::CollectionInfo>>> {
        self.run(|cat, access, files| {
            let all = cat.collections(access).map_err(error)?;
            Ok(all
                .into_iter()
                .map(|c| wit::CollectionInfo {
                    records: if c.name == baton_catalog::schema::FILES { files.count(cat, access) } else { c.records },
                    name: c.name,
                    owner: c.owner,
                    read_only: c.read_only,
                    properties: c
                        .properties
                        .into_iter()
                        .map(|p| wit::Property {
                            id: p.id,
                            name: p.name,
                            kind: kind_to_wit(p.kind),
                            target: p.target,
                            inverse: p.inverse,
                            integer: p.integer,
                            owner: p.owner,
                            archived: p.archived,
                        })
                        .collect(),
                })
                .collect())
        })
        .await
    }

    async fn ensure_collection(
        &mut self,
        collection: String,
        properties: Vec<wit::PropertySpec>,
    ) -> wasmtime::Result<WitResult<()>> {
        let specs: Vec<baton_catalog::PropertySpec> = properties
            .into_iter()
            .map(|p| baton_catalog::PropertySpec {
                id: p.id,
                name: p.name,
                kind: kind_from_wit(p.kind),
                target: p.target,
                inverse: p.inverse,
                integer: p.integer,
            })
            .collect();
        self.run(move |cat, access, _| cat.ensure_collection(access, &collection, &specs).map_err(error)).await
    }

    async fn rename_property(
        &mut self,
        collection: String,
        property: String,
        new_name: String,
    ) -> wasmtime::Result<WitResult<()>> {
        self.run(move |cat, access, _| cat.rename_property(access, &collection, &property, &new_name).map_err(error))
            .await
    }

    async fn remove_property(&mut self, collection: String, property: String) -> wasmtime::Result<WitResult<()>> {
        self.run(move |cat, access, _| cat.remove_property(access, &collection, &property).map_err(error)).await
    }

    async fn upsert(&mut self, collection: String, records: String) -> wasmtime::Result<WitResult<wit::UpsertReport>> {
        let size = records.len();
        // Parsed, the records take about twice their text.
        let charge = size.saturating_mul(2);
        if let Err(e) = self.hold_as(&format!("{collection}: upsert"), size, charge) {
            return Ok(Err(e));
        }
        let r = self
            .run(move |cat, access, files| {
                let file_props = file_relations(cat, access, &collection)?;
                let records = parse_records(&collection, &records, &file_props, files, cat, access)?;
                let r = cat.upsert(access, &collection, &records).map_err(error)?;
                Ok(wit::UpsertReport { inserted: r.inserted, updated: r.updated, unchanged: r.unchanged })
            })
            .await;
        self.meter.release(charge);
        r
    }

    async fn get(
        &mut self,
        collection: String,
        key: String,
        archived: bool,
    ) -> wasmtime::Result<WitResult<Option<String>>> {
        let what = format!("{collection}/{key}");
        let r = self
            .run(move |cat, access, files| {
                let found = if collection == baton_catalog::schema::FILES {
                    cat.schema(access, &collection).map_err(error)?;
                    let Some(stored) = files.stored_key(cat, access, &key) else {
                        if files.host(&key).is_none() {
                            return Err(denied(format!("files/{key}: not inside the plugin's grants")));
                        }
                        return Ok((None, 0));
                    };
                    cat.get(access, &collection, &stored, archived).map_err(error)?
                } else {
                    cat.get(access, &collection, &key, archived).map_err(error)?
                };
                let file_props = file_relations(cat, access, &collection)?;
                let Some(rec) = found.and_then(|r| files.shape(&collection, r, &file_props)) else {
                    return Ok((None, 0));
                };
                let text = serde_json::to_string(&rec).map_err(|e| invalid(e.to_string()))?;
                let n = text.len();
                Ok((Some(text), n))
            })
            .await?;
        Ok(self.answer(&what, r))
    }

    async fn query(
        &mut self,
        collection: String,
        filter: String,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<WitResult<wit::Page>> {
        let what = format!("{collection}: query");
        let filter = match Filter::parse(&filter) {
            Ok(f) => f,
            Err(e) => return Ok(Err(invalid(format!("{collection}: filter {e}")))),
        };
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let r = self
            .run(move |cat, access, files| {
                let file_props = file_relations(cat, access, &collection)?;
                let is_files = collection == baton_catalog::schema::FILES;
                // The store's cursor is a record key; for `files` a host path, handed out opaque.
                let mut after = match cursor {
                    Some(c) if is_files => Some(
                        paths::decode_cursor(&c)
                            .ok_or_else(|| invalid(format!("files: cursor `{c}` is not one this host gave")))?,
                    ),
                    c => c,
                };
                let started_after = after.clone();
                let mut out: Vec<String> = Vec::new();
                let mut bytes = 2;
                let mut next = None;
                // `files`: only the grants' folders are read (a range of the path index each),
                // and only those rows are mapped to guest paths.
                let roots = if is_files { files.roots() } else { Vec::new() };
                'pages: loop {
                    let page = if is_files {
                        cat.files_under(access, &roots, after.as_deref(), 1000).map(|records| {
                            let next = (records.len() == 1000).then(|| records.last().map(|r| r.key.clone())).flatten();
                            baton_catalog::Page { records, next }
                        })
                    } else {
                        // What the page still needs (the store reads one more to tell whether
                        // more follow); once full, a few more, to find whether any is accepted.
                        let want = if out.len() < limit { limit - out.len() } else { 16 };
                        cat.query(access, &collection, &Filter::default(), false, after.as_deref(), want.min(1000))
                    };
                    let page = match page.and_then(|p| bounds::check().map(|()| p)) {
                        Ok(p) => p,
                        // Over the call's read or work cap once something was read: the page
                        // ends here and the cursor resumes after the last record examined.
                        Err(CatalogError::CallBound(_)) if after != started_after && !bounds_cancelled() => {
                            next = after.as_deref().map(|k| out_cursor(is_files, k));
                            break 'pages;
                        }
                        Err(e) => return Err(error(e)),
                    };
                    let last = page.records.last().map(|r| r.key.clone());
                    for rec in page.records {
                        let key = rec.key.clone();
                        let Some(rec) = files.shape(&collection, rec, &file_props) else { continue };
                        if !filter.accepts(&rec) {
                            continue;
                        }
                        let text = serde_json::to_string(&rec).map_err(|e| invalid(e.to_string()))?;
                        if out.len() == limit || bytes + text.len() + 1 > MAX_CALL_BYTES {
                            // Resume after the last record returned.
                            next = after.as_deref().map(|k| out_cursor(is_files, k));
                            break 'pages;
                        }
                        bytes += text.len() + 1;
                        out.push(text);
                        after = Some(key);
                    }
                    match (page.next, last) {
                        (Some(_), Some(l)) => after = Some(l),
                        _ => break,
                    }
                }
                Ok((wit::Page { records: format!("[{}]", out.join(",")), next }, bytes))
            })
            .await?;
        Ok(self.answer(&what, r))
    }

    async fn links(
        &mut self,
        collection: String,
        key: String,
        property: String,
    ) -> wasmtime::Result<WitResult<Vec<wit::LinkInfo>>> {
        self.run(move |cat, access, files| {
            let file_props = file_relations(cat, access, &collection)?;
            let to_files = file_props.contains(&property);
            let links = cat.links(access, &collection, &key, &property).map_err(error)?;
            Ok(links
                .into_iter()
                .filter_map(|l| {
                    let key = if to_files { files.guest(&l.key)? } else { l.key };
                    Some(wit::LinkInfo {
                        key,
                        position: u64::try_from(l.position).unwrap_or(0),
                        added_at: l.added_at,
                        method: link_method(l.method.as_deref()),
                    })
                })
                .collect())
        })
        .await
    }

    async fn link(
        &mut self,
        collection: String,
        key: String,
        property: String,
        target_key: String,
        added_at: Option<String>,
        method: Option<wit::MatchMethod>,
    ) -> wasmtime::Result<WitResult<bool>> {
        self.run(move |cat, access, files| {
            let file_props = file_relations(cat, access, &collection)?;
            let target_key = if file_props.contains(&property) {
                files.stored_key(cat, access, &target_key).or_else(|| files.follow_move(cat, access, &target_key)).ok_or_else(|| {
                    denied(format!("{collection}/{key}: property `{property}`: {target_key} is not a library file inside the plugin's grants"))
                })?
            } else {
                target_key
            };
            let method = method.map(method_from_wit);
            cat.link(access, &collection, &key, &property, &target_key, added_at.as_deref(), method).map_err(error)
        })
        .await
    }

    async fn unlink(
        &mut self,
        collection: String,
        key: String,
        property: String,
        target_key: String,
    ) -> wasmtime::Result<WitResult<bool>> {
        self.run(move |cat, access, files| {
            let file_props = file_relations(cat, access, &collection)?;
            let target_key = if file_props.contains(&property) {
                match files.stored_key(cat, access, &target_key) {
                    Some(k) => k,
                    None => return Ok(false),
                }
            } else {
                target_key
            };
            cat.unlink(access, &collection, &key, &property, &target_key).map_err(error)
        })
        .await
    }

    async fn changes_since(&mut self, since: u64, limit: u32) -> wasmtime::Result<WitResult<Vec<wit::Change>>> {
        let limit = limit.clamp(1, MAX_CHANGES) as usize;
        // Changes are read only while they fit one answer: the list ends early, and the plugin
        // asks again from the last `seq`.
        let r = self
            .run_reading(MAX_CALL_BYTES, move |cat, access, files| {
                let since = i64::try_from(since).unwrap_or(i64::MAX);
                let changes = cat.changes_since(access, since, limit).map_err(error)?;
                let mut bytes = 0;
                let out: Vec<wit::Change> = changes
                    .into_iter()
                    .map(|c| {
                        let detail = files.detail(c.detail).to_string();
                        bytes += detail.len() + c.collection.len() + c.op.len() + c.actor.len() + c.at.len() + 64;
                        wit::Change {
                            seq: u64::try_from(c.seq).unwrap_or(0),
                            collection: c.collection,
                            key: c.key,
                            op: c.op,
                            actor: c.actor,
                            at: c.at,
                            detail,
                        }
                    })
                    .collect();
                Ok((out, bytes))
            })
            .await?;
        Ok(self.answer("changes-since", r))
    }

    async fn match_track(&mut self, query: wit::TrackQuery) -> wasmtime::Result<WitResult<wit::MatchOutcome>> {
        self.run(move |cat, access, files| {
            let q = track_query(query, files)?;
            Ok(outcome_to_wit(cat.match_track(access, &q).map_err(error)?, files))
        })
        .await
    }

    async fn resolve_track(
        &mut self,
        query: wit::TrackQuery,
        record: String,
    ) -> wasmtime::Result<WitResult<wit::Resolution>> {
        if let Err(e) = self.hold("tracks: resolve-track", record.len()) {
            return Ok(Err(e));
        }
        let size = record.len();
        let r = self
            .run(move |cat, access, files| {
                let q = track_query(query, files)?;
                let found = cat.match_track(access, &q).map_err(error)?;
                let (key, created) = match found.verdict {
                    baton_catalog::Verdict::Match => (found.candidates.first().map(|c| c.key.clone()), false),
                    baton_catalog::Verdict::Ambiguous => (None, false),
                    baton_catalog::Verdict::None => {
                        let file_props = file_relations(cat, access, "tracks")?;
                        let records = parse_records("tracks", &format!("[{record}]"), &file_props, files, cat, access)?;
                        let key = records.first().map(|r| r.key.clone());
                        let report = cat.upsert(access, "tracks", &records).map_err(error)?;
                        (key, report.inserted > 0)
                    }
                };
                Ok(wit::Resolution { key, created, outcome: outcome_to_wit(found, files) })
            })
            .await;
        self.meter.release(size);
        r
    }
}

/// Whether the running call was stopped because its task ended (then no partial answer).
fn bounds_cancelled() -> bool {
    bounds::should_stop() && matches!(bounds::current_stop(), Some(Stop::Cancelled | Stop::Deadline))
}

/// Sets its flag when dropped: a call abandoned with its task stops its work.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn out_cursor(is_files: bool, key: &str) -> String {
    if is_files { paths::encode_cursor(key) } else { key.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(meter: &mut TaskMeter) -> CatView<'_> {
        let access = Access::plugin("p", baton_catalog::Grants::default(), baton_catalog::Quota::DEFAULT);
        CatView {
            host: None,
            access,
            identity: None,
            grants: Vec::new(),
            dirs: Vec::new(),
            deadline: Instant::now(),
            meter,
        }
    }

    #[test]
    fn per_call_caps_and_the_memory_meter() {
        let mut meter = TaskMeter::new(20 << 20, 1 << 20);
        let mut v = view(&mut meter);
        match v.hold_as("tracks: upsert", MAX_CALL_BYTES + 1, 2) {
            Err(wit::CatalogError::Invalid(m)) => assert!(m.contains("per-call cap") && m.contains("tracks"), "{m}"),
            other => panic!("{other:?}"),
        }
        v.hold_as("tracks: upsert", 6 << 20, 12 << 20).unwrap();
        match v.hold_as("tracks: upsert", 6 << 20, 12 << 20) {
            Err(wit::CatalogError::Invalid(m)) => assert!(m.contains("memory cap"), "{m}"),
            other => panic!("{other:?}"),
        }
        v.meter.release(12 << 20);
        v.meter.memory_refused = false;
        v.hold_as("tracks: upsert", 6 << 20, 12 << 20).unwrap();
    }

    #[tokio::test]
    async fn without_the_catalog_or_past_the_deadline() {
        let mut meter = TaskMeter::new(1 << 20, 1 << 20);
        let mut v = view(&mut meter);
        match v.run(|_, _, _| Ok(())).await {
            Ok(Err(wit::CatalogError::Io(m))) => assert!(m.contains("no catalog"), "{m}"),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        v.host = Some(CatalogHost::new(dir.path().join("state.sqlite")));
        let e = v.run(|_, _, _| Ok(())).await.unwrap_err();
        assert_eq!(
            e.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt),
            "past the deadline: the task ends `timeout`"
        );
        v.deadline = Instant::now() + std::time::Duration::from_secs(5);
        let n = v.run(|cat, access, _| Ok(cat.collections(access).map_err(error)?.len())).await.unwrap().unwrap();
        assert_eq!(n, 0, "a plugin granted nothing reads no collection");
    }

    /// A call still working when its task's time runs out is interrupted where it is and gives
    /// the process-wide catalog lock back at once: the next call (another plugin's) does not
    /// wait for work nobody will read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_stops_with_its_task_and_releases_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let mut meter = TaskMeter::new(1 << 20, 1 << 20);
        let mut v = view(&mut meter);
        v.host = Some(CatalogHost::new(dir.path().join("state.sqlite")));
        v.deadline = Instant::now() + std::time::Duration::from_millis(300);
        let started = Instant::now();
        // Work that would run for a minute, checking its bounds as the catalog's loops do.
        let e = v
            .run(move |_, _, _| {
                while started.elapsed() < std::time::Duration::from_secs(60) {
                    bounds::check().map_err(error)?;
                }
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(e.downcast_ref::<wasmtime::Trap>(), Some(&wasmtime::Trap::Interrupt));
        v.deadline = Instant::now() + std::time::Duration::from_secs(5);
        let t = Instant::now();
        v.run(|cat, access, _| Ok(cat.collections(access).map_err(error)?.len())).await.unwrap().unwrap();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "the next call waited {:?} for the lock", t.elapsed());
    }

    #[test]
    fn files_are_named_by_guest_path_or_hidden() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        for f in ["music/a.flac", "other/b.flac"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), b"").unwrap();
        }
        let g = [Grant { name: "music".into(), host_path: d.join("music"), writable: false }];
        let files = Files::new(&g, &[baton_runtime::grants::GrantDir::open(&g[0].host_path).unwrap()]);
        let a = d.join("music/a.flac").display().to_string();
        let b = d.join("other/b.flac").display().to_string();
        assert_eq!(
            files.reason(format!("fingerprint similarity 0.990 with {a}")),
            "fingerprint similarity 0.990 with /music/a.flac"
        );
        assert_eq!(
            files.reason(format!("fingerprint similarity 0.990 with {b}")),
            "fingerprint similarity 0.990 with a library file outside the plugin's grants"
        );
        let detail = files.detail(serde_json::json!({"target": "files", "target_key": b, "links": {"files": {"added": [a, b], "removed": []}}}));
        assert_eq!(detail["target_key"], Value::Null);
        assert_eq!(detail["links"]["files"]["added"], serde_json::json!(["/music/a.flac"]));
        for key in [a.as_str(), "/x/ü y", ""] {
            assert_eq!(paths::decode_cursor(&paths::encode_cursor(key)).as_deref(), Some(key));
        }
        assert_eq!(paths::decode_cursor("zz"), None);
    }
}
