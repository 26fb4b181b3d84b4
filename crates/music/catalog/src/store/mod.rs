//! The catalog's tables in the state database (`cat_*`): schemas, records, links, the change log
//! and per-plugin usage, in the SQLite state file or on the PostgreSQL server (see [`crate::db`],
//! which holds everything that differs between the two). Every call that writes is one write
//! transaction that excludes other writers (`BEGIN IMMEDIATE`, or the counter row's lock) and
//! validates everything before committing, so a refused batch leaves no trace and a killed
//! process leaves no gap in the change log.
//!
//! This file opens the catalog and checks who may do what; each concern has a file of its own:
//! [`definitions`] (collections and properties), [`records`] (writes), [`reads`], [`links`],
//! [`changes`] (the change log), [`files`] (the fingerprint library's view), [`matching`] and
//! [`views`] (the other virtual collections).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::db::{Db, Row, vals};
use crate::error::{CatalogError, Result};
use crate::filter::Filter;
use crate::matcher::{MatchIndex, MatchMethod, MatchOutcome, TrackEntry, TrackQuery};
use crate::schema::{self, AUDIT_GAPS, CORE, FILES, HANDOFFS, Kind, Property, PropertySpec, USER};
use crate::virtuals::{self, AuditGaps};
use crate::{Access, Record};

/// Longest record key, property value (text) and record, in bytes: per-call size caps.
const MAX_KEY: usize = 1024;
const MAX_RECORD: usize = 256 << 10;

/// An open catalog.
pub struct Catalog {
    db: Db,
    /// On PostgreSQL, this machine's own SQLite file (`fp.sqlite`), for the fingerprint library
    /// behind `files`; on SQLite, the same file as the catalog (`db`).
    local: Option<Connection>,
    path: PathBuf,
    /// The track index, with the `tracks` generation it was built at.
    index: Option<(i64, MatchIndex)>,
    /// Where `files` reads from (see [`Catalog::set_files`]).
    files: Option<std::sync::Arc<dyn virtuals::FilesSource>>,
    /// The folder the plans audit writes its reports into (`audit_gaps` reads the latest).
    audit_reports: Option<PathBuf>,
    /// The latest report's gaps, kept while the report file stays the same.
    audit_gaps: std::cell::RefCell<Option<AuditGaps>>,
    /// Reads `audit_reports` (see [`Catalog::set_audit_reports`]).
    audit_source: Option<virtuals::AuditGapsSource>,
    /// Where `handoffs` reads from (see [`Catalog::set_handoffs`]).
    handoffs: Option<std::sync::Arc<dyn virtuals::HandoffsSource>>,
    /// Schemas read outside a write (SQLite only): a task's reads (`get`, `links`, `query`)
    /// would otherwise read the same schema again on every call.
    schemas: std::cell::RefCell<SchemaCache>,
    /// Inside [`Catalog::upsert_many`]: each write is a savepoint of its transaction.
    batch: std::cell::Cell<bool>,
}

/// Schemas by collection, valid while SQLite's `data_version` (which moves when another
/// connection commits) is the one they were read at; a write through this catalog empties it.
#[derive(Default)]
struct SchemaCache {
    data_version: Option<i64>,
    by_name: HashMap<String, std::sync::Arc<Schema>>,
}

/// Counts of one upsert call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpsertReport {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// A collection and its schema.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionInfo {
    pub name: String,
    pub owner: String,
    pub records: u64,
    pub read_only: bool,
    pub properties: Vec<Property>,
}

pub(crate) use crate::record::RecordOut;

/// One page of a query; `next` is the cursor for the following page.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub records: Vec<RecordOut>,
    pub next: Option<String>,
}

/// One link seen from a record. `method` is how the link was matched (`external_id`, `isrc`,
/// `normalized`, `fuzzy`, `fingerprint`, or `manual` for the user's), or None for a data link
/// such as a playlist's membership, which is a fact of the source and not a match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkOut {
    pub key: String,
    pub position: i64,
    pub added_at: Option<String>,
    pub method: Option<String>,
}

/// What `cat_links.method` holds for a data link (membership, a source's own relation).
pub const DATA_LINK: &str = "data";

/// The stored method as the API reports it: None for a data link.
fn link_method_out(m: String) -> Option<String> {
    match m.as_str() {
        "external_id" | "isrc" | "normalized" | "fuzzy" | "fingerprint" | "manual" => Some(m),
        _ => None,
    }
}

/// One change-log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub seq: i64,
    pub collection: String,
    pub key: Option<String>,
    pub op: String,
    pub actor: String,
    pub at: String,
    pub detail: Value,
}

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A collection's schema, by property id.
struct Schema {
    collection: String,
    props: Vec<Property>,
}

impl Schema {
    fn get(&self, id: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.id == id)
    }

    fn live(&self) -> impl Iterator<Item = &Property> {
        self.props.iter().filter(|p| !p.archived)
    }

    fn known(&self) -> String {
        self.live().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
    }
}

mod changes;
mod definitions;
mod entries;
mod files;
mod links;
mod matching;
mod reads;
mod records;
mod views;

use changes::*;
use definitions::*;
pub use entries::Entry;
use entries::*;
use links::*;
use records::*;

impl Catalog {
    /// Opens (creating the `cat_` tables and the core collections if needed) the catalog in the
    /// state database at `path`.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = baton_fs::ensure_dir(dir);
        }
        Catalog::with_db(Db::sqlite(path)?, None, path)
    }

    /// Creates the catalog's tables on the PostgreSQL server at `url` (its migrations), without
    /// the core collections [`Catalog::open_at`] adds: for `baton migrate`, which copies a
    /// catalog, core collections included, into empty tables.
    pub fn create_schema_at(url: &baton_store::location::PgUrl) -> Result<()> {
        Db::postgres(url).map(drop)
    }

    /// Opens the catalog where the state is: in the SQLite file for a path, or on the
    /// PostgreSQL server for a URL (its migrations applied), with the fingerprint library behind
    /// `files` in this machine's own SQLite file `local` ([`baton_store::Location::local_file`]).
    pub fn open_at(location: &baton_store::Location, local: &Path) -> Result<Catalog> {
        match location {
            baton_store::Location::Sqlite(p) => Catalog::open(p),
            baton_store::Location::Postgres(url) => {
                if let Some(dir) = local.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = baton_fs::ensure_dir(dir);
                }
                let fp = baton_store::sqlite::open_wal(local, "NORMAL")?;
                warn_if_left_behind(&fp, local, url.shown());
                Catalog::with_db(Db::postgres(url)?, Some(fp), local)
            }
        }
    }

    fn with_db(db: Db, local: Option<Connection>, path: &Path) -> Result<Catalog> {
        let cat = Catalog {
            db,
            local,
            path: path.to_path_buf(),
            index: None,
            files: None,
            audit_reports: None,
            audit_gaps: std::cell::RefCell::new(None),
            audit_source: None,
            handoffs: None,
            schemas: Default::default(),
            batch: Default::default(),
        };
        let tx = cat.db.begin_write()?;
        for (name, props) in schema::core_collections() {
            if !collection_exists(&tx, name)? {
                create_collection(&tx, name, CORE, CORE)?;
            }
            for spec in props {
                // `false`: a core property the user removed stays removed on reopen.
                ensure_property(&tx, name, &spec, CORE, false)?;
            }
        }
        tx.commit()?;
        Ok(cat)
    }

    /// Whether the catalog is on a PostgreSQL server (else in the SQLite state file).
    pub fn is_shared(&self) -> bool {
        self.db.is_pg()
    }

    /// The source behind `files` and the connection to read it through: this machine's SQLite
    /// file. `None` when the app wired no source.
    fn library(&self) -> Option<(&dyn virtuals::FilesSource, &Connection)> {
        let conn = self.local.as_ref().or(self.db.as_sqlite())?;
        Some((self.files.as_deref()?, conn))
    }

    /// Where `files` reads the fingerprint library (none set: no records, and nothing links to
    /// a file).
    pub fn set_files(&mut self, source: std::sync::Arc<dyn virtuals::FilesSource>) {
        self.files = Some(source);
    }

    /// Where the plans audit keeps its reports: `audit_gaps` shows the open gaps and false
    /// claims of the latest one (none when unset or empty).
    /// `source` reads a report folder (the host wires the plans audit's reader).
    pub fn set_audit_reports(&mut self, dir: Option<PathBuf>, source: virtuals::AuditGapsSource) {
        self.audit_reports = dir;
        self.audit_source = Some(source);
        self.audit_gaps.replace(None);
    }

    /// Where `handoffs` reads the ledger's TASKs (none set: no records), usually
    /// [`virtuals::LedgerHandoffs`] at the ledger's location.
    pub fn set_handoffs(&mut self, source: std::sync::Arc<dyn virtuals::HandoffsSource>) {
        self.handoffs = Some(source);
    }

    /// This machine's SQLite file: the catalog's own on SQLite; on PostgreSQL the one holding
    /// only the fingerprint library behind `files`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The collections `access` may read, with their schemas and record counts.
    /// `access` as the plugin install `identity` may act: unchanged if that install owns its
    /// name's data (the first install to call under a name binds the name to itself,
    /// `cat_owners`), else an actor no owner can equal, so the properties, collections and
    /// records of the name's earlier install stay out of its reach (ownership goes by
    /// the install's identity, not by the name a plugin chose). The user (CLI) is never bound.
    pub fn bind_owner(&mut self, access: Access, identity: &str) -> Result<Access> {
        let name = access.actor.clone();
        let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if access.is_user() || !plain {
            return Ok(access);
        }
        let bound = |db: &Db| -> Result<Option<String>> {
            Ok(db
                .query_opt("SELECT identity FROM cat_owners WHERE owner = ?1", vals![name.as_str()])?
                .map(|r| r.text(0)))
        };
        let owner = match bound(&self.db)? {
            Some(id) => id,
            None => {
                self.db.execute(
                    "INSERT INTO cat_owners (owner, identity) VALUES (?1, ?2) ON CONFLICT (owner) DO NOTHING",
                    vals![name.as_str(), identity],
                )?;
                bound(&self.db)?.unwrap_or_default()
            }
        };
        if owner == identity {
            return Ok(access);
        }
        Ok(Access { actor: format!("{name} (a later install; `{name}.*` belongs to install {owner})"), ..access })
    }

    /// Makes install `identity` the owner of `name`'s data (`baton plugin install
    /// --adopt-data`); returns the identity that owned it before, if any.
    pub fn adopt_owner(&mut self, name: &str, identity: &str) -> Result<Option<String>> {
        let before =
            self.db.query_opt("SELECT identity FROM cat_owners WHERE owner = ?1", vals![name])?.map(|r| r.text(0));
        self.db.execute(
            "INSERT INTO cat_owners (owner, identity) VALUES (?1, ?2) ON CONFLICT (owner) DO UPDATE SET identity = excluded.identity",
            vals![name, identity],
        )?;
        Ok(before)
    }

    pub fn collections(&self, access: &Access) -> Result<Vec<CollectionInfo>> {
        let names: Vec<(String, String)> = self
            .db
            .query("SELECT name, owner FROM cat_collections ORDER BY name", &[])?
            .iter()
            .map(|r| (r.text(0), r.text(1)))
            .collect();
        let mut out = Vec::new();
        for (name, owner) in names.into_iter().filter(|(n, _)| access.can_read(n)) {
            let records =
                self.db.query_one("SELECT count(*) FROM cat_records WHERE collection = ?1", vals![&name])?.int(0);
            let properties = load_schema(&self.db, &name)?.props;
            out.push(CollectionInfo { name, owner, records: records as u64, read_only: false, properties });
        }
        for name in schema::VIRTUAL.into_iter().filter(|n| access.can_read(n)) {
            out.push(CollectionInfo {
                name: name.into(),
                owner: CORE.into(),
                records: self.virtual_count(name)?,
                read_only: true,
                properties: schema::virtual_properties(name).unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The properties of `collection`, archived ones included.
    pub fn schema(&self, access: &Access, collection: &str) -> Result<Vec<Property>> {
        self.check_read(access, collection)?;
        if let Some(props) = schema::virtual_properties(collection) {
            return Ok(props);
        }
        Ok(self.read_schema(collection)?.props.clone())
    }

    fn check_read(&self, access: &Access, collection: &str) -> Result<()> {
        if !access.can_read(collection) {
            return Err(CatalogError::NotGranted {
                actor: access.actor.clone(),
                collection: collection.into(),
                op: "read",
            });
        }
        if !schema::is_virtual(collection) && !collection_exists(&self.db, collection)? {
            return Err(CatalogError::UnknownCollection(collection.into()));
        }
        Ok(())
    }

    fn begin_write(&self, access: &Access, collection: &str) -> Result<crate::db::Tx<'_>> {
        read_only(collection)?;
        if !access.can_write(collection) {
            return Err(CatalogError::NotGranted {
                actor: access.actor.clone(),
                collection: collection.into(),
                op: "write",
            });
        }
        self.write_tx()
    }

    /// Every write transaction starts here: it may change a schema, and this connection's own
    /// commits do not move `data_version`, so the schema cache is emptied first.
    fn write_tx(&self) -> Result<crate::db::Tx<'_>> {
        *self.schemas.borrow_mut() = SchemaCache::default();
        if self.batch.get() {
            return self.db.begin_nested();
        }
        self.db.begin_write()
    }

    /// `collection`'s schema for a read, from the cache when nothing was committed since it was
    /// read (one `PRAGMA data_version` instead of reading `cat_properties`). On PostgreSQL,
    /// where another machine may change a schema, it is read each time.
    fn read_schema(&self, collection: &str) -> Result<std::sync::Arc<Schema>> {
        let Some(conn) = self.db.as_sqlite() else {
            return Ok(std::sync::Arc::new(load_schema(&self.db, collection)?));
        };
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let mut cache = self.schemas.borrow_mut();
        if cache.data_version != Some(version) {
            *cache = SchemaCache { data_version: Some(version), by_name: HashMap::new() };
        }
        if let Some(s) = cache.by_name.get(collection) {
            return Ok(s.clone());
        }
        let s = std::sync::Arc::new(load_schema(&self.db, collection)?);
        cache.by_name.insert(collection.to_string(), s.clone());
        Ok(s)
    }
}

fn malformed(collection: &str, key: &str, detail: &str) -> CatalogError {
    CatalogError::Malformed { collection: collection.into(), key: key.into(), detail: detail.into() }
}

fn unknown(schema: &Schema, key: &str, property: &str) -> CatalogError {
    CatalogError::UnknownProperty {
        collection: schema.collection.clone(),
        key: key.into(),
        property: property.into(),
        known: schema.known(),
    }
}

/// Refuses a write to a virtual collection, saying what keeps it.
fn read_only(collection: &str) -> Result<()> {
    let why = match collection {
        FILES => "the fingerprint library; `baton fp scan` keeps it",
        HANDOFFS => "the ledger of handoffs; baton records each TASK as it runs it",
        AUDIT_GAPS => "the gaps of the latest plans audit report; `baton audit` keeps them",
        _ => return Ok(()),
    };
    Err(CatalogError::ReadOnly { collection: collection.into(), why })
}

/// Before the catalog moved to PostgreSQL it was kept in this machine's own file: says so when
/// that file still holds records, which are no longer read (nothing is deleted).
fn warn_if_left_behind(local: &Connection, path: &Path, server: &str) {
    let n: i64 = local.query_row("SELECT count(*) FROM cat_records", [], |r| r.get(0)).unwrap_or(0);
    if n > 0 {
        tracing::warn!(
            file = %path.display(),
            server,
            records = n,
            "this machine's own file still holds a catalog from before it moved to the PostgreSQL server; it is no \
             longer read. To copy it: `baton --state {} catalog export <collection> --csv`, then `catalog import` \
             with the server's --state",
            path.display()
        );
    }
}

fn collection_exists(db: &Db, name: &str) -> Result<bool> {
    db.exists("SELECT 1 FROM cat_collections WHERE name = ?1", vals![name])
}

impl Catalog {
    /// Whether a record exists, read in `tx`; a `files` record in this machine's fingerprint
    /// library (on PostgreSQL another database, so the link it allows is checked only here, when
    /// written: nothing stops the file from leaving the library later).
    fn record_exists(&self, tx: &Db, collection: &str, key: &str) -> Result<bool> {
        if collection == FILES {
            return self.file_exists(key);
        }
        tx.exists("SELECT 1 FROM cat_records WHERE collection = ?1 AND key = ?2", vals![collection, key])
    }
}
