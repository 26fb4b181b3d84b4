//! The catalog's tables in the state database (`cat_*`): schemas, records, links, the change log
//! and per-plugin usage, in the SQLite state file or on the PostgreSQL server (see [`crate::db`],
//! which holds everything that differs between the two). Every call that writes is one write
//! transaction that excludes other writers (`BEGIN IMMEDIATE`, or the counter row's lock) and
//! validates everything before committing, so a refused batch leaves no trace and a killed
//! process leaves no gap in the change log.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
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
    fp: Option<baton_fp::service::Matcher>,
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

/// A record as read: live property values (relations as the related keys, in order) and, when
/// asked for, the values of removed (archived) properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOut {
    pub key: String,
    pub props: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub archived: Map<String, Value>,
}

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

impl Catalog {
    /// Opens (creating the `cat_` tables and the core collections if needed) the catalog in the
    /// state database at `path`.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        Catalog::with_db(Db::sqlite(path)?, None, path)
    }

    /// Creates the catalog's tables on the PostgreSQL server at `url` (its migrations), without
    /// the core collections [`Catalog::open_at`] adds: for `baton migrate`, which copies a
    /// catalog, core collections included, into empty tables.
    pub fn create_schema_at(url: &baton_ledger::location::PgUrl) -> Result<()> {
        Db::postgres(url).map(drop)
    }

    /// Opens the catalog where the state is: in the SQLite file for a path, or on the
    /// PostgreSQL server for a URL (its migrations applied), with the fingerprint library behind
    /// `files` in this machine's own SQLite file `local` ([`baton_ledger::Location::local_file`]).
    pub fn open_at(location: &baton_ledger::Location, local: &Path) -> Result<Catalog> {
        match location {
            baton_ledger::Location::Sqlite(p) => Catalog::open(p),
            baton_ledger::Location::Postgres(url) => {
                if let Some(dir) = local.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let _ = std::fs::create_dir_all(dir);
                }
                let fp = baton_ledger::open_wal(local, "NORMAL")?;
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
            fp: None,
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
        matches!(self.db, Db::Pg(_))
    }

    /// This machine's SQLite file holding the fingerprint library (`fp_files`).
    fn fp_conn(&self) -> Option<&Connection> {
        self.local.as_ref().or(self.db.as_sqlite())
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
    /// records of the name's earlier install stay out of its reach (issue 36: ownership by
    /// identity, not by a plugin's chosen name). The user (CLI) is never bound.
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

    /// Upserts several collections' records in one transaction: each batch as
    /// [`Catalog::upsert`] does (same checks, change log, quota), in order, so a relation may
    /// point at a record of an earlier batch; one refused batch, or a failure of the database,
    /// writes nothing of any. An import that spans collections (djay's tracks, sessions, plays
    /// and playlists) is all or nothing with it. Returns one report per batch.
    pub fn upsert_many(&mut self, access: &Access, batches: &[(&str, &[Record])]) -> Result<Vec<UpsertReport>> {
        let _span =
            tracing::info_span!("catalog.upsert_many", batches = batches.len(), actor = %access.actor).entered();
        *self.schemas.borrow_mut() = SchemaCache::default();
        self.db.begin_batch()?;
        self.batch.set(true);
        let mut reports = Vec::with_capacity(batches.len());
        let mut failed = None;
        for (collection, records) in batches {
            match self.upsert(access, collection, records) {
                Ok(r) => reports.push(r),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        self.batch.set(false);
        *self.schemas.borrow_mut() = SchemaCache::default();
        match failed {
            None => {
                self.db.end_batch(true)?;
                Ok(reports)
            }
            Some(e) => {
                let _ = self.db.end_batch(false);
                Err(e)
            }
        }
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

    /// Creates `collection` if missing and declares `props` on it (existing ones are kept as
    /// they are, an archived one comes back with its values). A plugin creates only collections
    /// named `<plugin>.<name>` and adds to other collections only properties named
    /// `<plugin>.<name>`.
    pub fn ensure_collection(&mut self, access: &Access, collection: &str, props: &[PropertySpec]) -> Result<()> {
        let _span = tracing::info_span!("catalog.ensure", collection, actor = %access.actor).entered();
        if !schema::valid_id(collection) {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: "a collection name is snake_case, optionally `<plugin>.<name>`".into(),
            });
        }
        let actor = access.actor.clone();
        if !access.is_user() && schema::owner_of(collection) != actor && !collection_exists(&self.db, collection)? {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!("`{actor}` may create only collections named `{actor}.<name>`"),
            });
        }
        let tx = self.begin_write(access, collection)?;
        if !collection_exists(&tx, collection)? {
            create_collection(&tx, collection, &actor, &actor)?;
        }
        let coll_owner = tx.query_one("SELECT owner FROM cat_collections WHERE name = ?1", vals![collection])?.text(0);
        for spec in props {
            if !schema::valid_id(&spec.id) {
                return Err(CatalogError::Schema {
                    collection: collection.into(),
                    detail: format!("property id `{}` is not snake_case (`name` or `<plugin>.<name>`)", spec.id),
                });
            }
            let implied = schema::owner_of(&spec.id);
            let owner = if implied != CORE { implied.to_string() } else { coll_owner.clone() };
            if !access.is_user() && owner != actor {
                return Err(CatalogError::NotOwner {
                    collection: collection.into(),
                    key: "(schema)".into(),
                    property: spec.id.clone(),
                    owner,
                    actor,
                });
            }
            if spec.kind == Kind::Relation
                && let Some(t) = &spec.target
                && t != FILES
                && !collection_exists(&tx, t)?
            {
                return Err(CatalogError::Schema {
                    collection: collection.into(),
                    detail: format!("relation `{}` targets `{t}`, which does not exist", spec.id),
                });
            }
            if let (Some(t), Some(inv)) = (&spec.target, &spec.inverse) {
                check_inverse(&tx, access, collection, spec, t, inv, &owner)?;
            }
            ensure_property(&tx, collection, spec, &owner, true)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Renames a property's display name; its id and values stay.
    pub fn rename_property(&mut self, access: &Access, collection: &str, id: &str, new_name: &str) -> Result<()> {
        let actor = access.actor.clone();
        let tx = self.begin_write(access, collection)?;
        let prop = property_for_change(&tx, access, collection, id)?;
        if new_name.trim().is_empty() {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: "a property name cannot be empty".into(),
            });
        }
        tx.execute(
            "UPDATE cat_properties SET name = ?3 WHERE collection = ?1 AND id = ?2",
            vals![collection, id, new_name],
        )?;
        log_change(
            &tx,
            collection,
            None,
            "rename_property",
            &actor,
            &json!({"property": id, "from": prop.name, "to": new_name}),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a property: it leaves the schema, its values are archived (kept, shown with
    /// `archived`), and declaring it again brings them back.
    pub fn remove_property(&mut self, access: &Access, collection: &str, id: &str) -> Result<()> {
        let actor = access.actor.clone();
        let tx = self.begin_write(access, collection)?;
        let prop = property_for_change(&tx, access, collection, id)?;
        if prop.kind == Kind::Relation && prop.target.is_some() {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!("`{id}` is a relation; unlink its records instead of removing it"),
            });
        }
        tx.execute("UPDATE cat_properties SET archived = 1 WHERE collection = ?1 AND id = ?2", vals![collection, id])?;
        log_change(&tx, collection, None, "remove_property", &actor, &json!({"property": id, "name": prop.name}))?;
        bump(&tx, collection)?;
        tx.commit()?;
        Ok(())
    }

    /// Upserts `records` into `collection` in one transaction. Properties left out are kept;
    /// `null` clears one; a relation's value (a list of keys, or of `{"key","added_at","method"}`)
    /// replaces the record's links of that property, except links made by hand. `method` records
    /// how a plugin matched the link, as [`Catalog::link`] does (`manual` is the user's only); left
    /// out, a link keeps the method it has. An unchanged record
    /// writes nothing. Anything refused refuses the whole batch.
    pub fn upsert(&mut self, access: &Access, collection: &str, records: &[Record]) -> Result<UpsertReport> {
        self.upsert_inner(access, collection, records, true)
    }

    /// What [`Catalog::upsert`] would report (inserted / updated / unchanged, or the error that
    /// would refuse the batch), computed in a transaction that is rolled back: nothing is written.
    pub fn upsert_dry_run(&mut self, access: &Access, collection: &str, records: &[Record]) -> Result<UpsertReport> {
        self.upsert_inner(access, collection, records, false)
    }

    fn upsert_inner(
        &mut self,
        access: &Access,
        collection: &str,
        records: &[Record],
        commit: bool,
    ) -> Result<UpsertReport> {
        let _span =
            tracing::info_span!("catalog.upsert", collection, records = records.len(), actor = %access.actor).entered();
        let actor = access.actor.clone();
        let quota = access.quota;
        let user = access.is_user();
        let tx = self.begin_write(access, collection)?;
        if !collection_exists(&tx, collection)? {
            return Err(CatalogError::UnknownCollection(collection.into()));
        }
        let schema = load_schema(&tx, collection)?;
        let at = now();
        let mut report = UpsertReport::default();
        let mut usage = Usage::default();
        // Keys of this batch, so a relation may point at a record of the same batch.
        let batch_keys: HashSet<&str> = records.iter().map(|r| r.key.as_str()).collect();
        let mut seen = HashSet::new();
        // Link targets found to exist in this call, by property: each is looked up once.
        let mut known_targets: HashMap<&str, HashSet<String>> = HashMap::new();
        for rec in records {
            if !seen.insert(rec.key.as_str()) {
                return Err(malformed(collection, &rec.key, "the key appears twice in one batch"));
            }
            let (values, links) = validate(&schema, rec, &actor, user)?;
            let old: Option<(String, String)> = tx
                .query_opt(
                    "SELECT props, owner FROM cat_records WHERE collection = ?1 AND key = ?2",
                    vals![collection, &rec.key],
                )?
                .map(|r| (r.text(0), r.text(1)));
            let old_props: Map<String, Value> = match &old {
                Some((s, _)) => serde_json::from_str(s).unwrap_or_default(),
                None => Map::new(),
            };
            let mut merged = old_props.clone();
            let mut diff = Map::new();
            for (id, v) in values {
                let before = merged.get(&id).cloned().unwrap_or(Value::Null);
                if before == v {
                    continue;
                }
                diff.insert(id.clone(), json!([before, v]));
                if v.is_null() {
                    merged.remove(&id);
                } else {
                    merged.insert(id, v);
                }
            }
            let mut link_diff = Map::new();
            for (prop, targets) in &links {
                let p = schema.get(prop).ok_or_else(|| unknown(&schema, &rec.key, prop))?;
                let target = p.target.clone().unwrap_or_default();
                // Whether a key exists in a collection it may not read is not the caller's to
                // learn (issue 36): refused as a read, before any lookup.
                if !targets.is_empty() && !access.can_read(&target) {
                    return Err(CatalogError::NotGranted { actor: actor.clone(), collection: target, op: "read" });
                }
                for t in targets {
                    if (target == collection && batch_keys.contains(t.key.as_str()))
                        || known_targets.get(p.id.as_str()).is_some_and(|k| k.contains(&t.key))
                    {
                        continue;
                    }
                    if self.record_exists(&tx, &target, &t.key)? {
                        known_targets.entry(p.id.as_str()).or_default().insert(t.key.clone());
                    } else {
                        return Err(CatalogError::MissingTarget {
                            collection: collection.into(),
                            key: rec.key.clone(),
                            property: prop.clone(),
                            target,
                            target_key: t.key.clone(),
                        });
                    }
                }
                if let Some(d) = replace_links(
                    &tx,
                    collection,
                    &rec.key,
                    prop,
                    &target,
                    targets,
                    &actor,
                    &at,
                    &mut usage,
                    old.is_none(),
                )? {
                    link_diff.insert(prop.clone(), d);
                }
            }
            let text = serde_json::to_string(&merged).map_err(|e| malformed(collection, &rec.key, &e.to_string()))?;
            if text.len() > MAX_RECORD {
                return Err(malformed(
                    collection,
                    &rec.key,
                    &format!("{} bytes, over the {MAX_RECORD}-byte cap", text.len()),
                ));
            }
            match &old {
                None => {
                    let (seq, logged) = log_entry(
                        &tx,
                        collection,
                        Some(&rec.key),
                        "insert",
                        &actor,
                        &json!({"props": diff, "links": link_diff}),
                    )?;
                    usage.add(&actor, 0, logged);
                    tx.execute(
                        "INSERT INTO cat_records (collection, key, props, owner, bytes, created_seq, updated_seq)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        vals![collection, &rec.key, &text, &actor, text.len() as i64, seq],
                    )?;
                    usage.add(&actor, 1, text.len() as i64);
                    report.inserted += 1;
                }
                Some((_, owner)) if !diff.is_empty() || !link_diff.is_empty() => {
                    let (seq, logged) = log_entry(
                        &tx,
                        collection,
                        Some(&rec.key),
                        "update",
                        &actor,
                        &json!({"props": diff, "links": link_diff}),
                    )?;
                    usage.add(&actor, 0, logged);
                    if !diff.is_empty() {
                        let old_len = serde_json::to_string(&old_props).map(|s| s.len()).unwrap_or(0) as i64;
                        tx.execute(
                            "UPDATE cat_records SET props = ?3, bytes = ?4, updated_seq = ?5 WHERE collection = ?1 AND key = ?2",
                            vals![collection, &rec.key, &text, text.len() as i64, seq],
                        )?;
                        usage.add(owner, 0, text.len() as i64 - old_len);
                    } else {
                        tx.execute(
                            "UPDATE cat_records SET updated_seq = ?3 WHERE collection = ?1 AND key = ?2",
                            vals![collection, &rec.key, seq],
                        )?;
                    }
                    report.updated += 1;
                }
                Some(_) => report.unchanged += 1,
            }
        }
        usage.commit(&tx, &actor, quota)?;
        if report.inserted + report.updated > 0 {
            bump(&tx, collection)?;
            for p in schema.live().filter(|p| p.kind == Kind::Relation && p.stored) {
                if let Some(t) = &p.target {
                    bump(&tx, t)?;
                }
            }
        }
        if commit {
            tx.commit()?;
        } else {
            tx.rollback()?;
        }
        Ok(report)
    }

    /// One record, or None.
    pub fn get(&self, access: &Access, collection: &str, key: &str, archived: bool) -> Result<Option<RecordOut>> {
        self.check_read(access, collection)?;
        if schema::is_virtual(collection) {
            return self.virtual_rows(collection, Some(key), None, 1).map(|mut v| v.pop());
        }
        let schema = self.read_schema(collection)?;
        let props: Option<String> = self
            .db
            .query_opt("SELECT props FROM cat_records WHERE collection = ?1 AND key = ?2", vals![collection, key])?
            .map(|r| r.text(0));
        props.map(|p| self.shape(&schema, key.to_string(), &p, archived)).transpose()
    }

    fn shape(&self, schema: &Schema, key: String, props: &str, archived: bool) -> Result<RecordOut> {
        let mut all: Map<String, Value> = serde_json::from_str(props).unwrap_or_default();
        let mut out = RecordOut { key, props: Map::new(), archived: Map::new() };
        for p in &schema.props {
            if p.kind == Kind::Relation {
                let keys = self.related_keys(&schema.collection, &out.key, p)?;
                if !keys.is_empty() {
                    out.props.insert(p.id.clone(), Value::Array(keys));
                }
            } else if let Some(v) = all.remove(&p.id) {
                if !p.archived {
                    out.props.insert(p.id.clone(), v);
                } else if archived {
                    out.archived.insert(p.id.clone(), v);
                }
            }
        }
        Ok(out)
    }

    /// [`Catalog::shape`] for a page of records read by key order after `after`: the links of
    /// each relation are read with one range query over the page's keys, not one per record.
    fn shape_page(
        &self,
        schema: &Schema,
        rows: Vec<(String, String)>,
        after: &str,
        archived: bool,
    ) -> Result<Vec<RecordOut>> {
        let Some(last) = rows.last().map(|r| r.0.clone()) else { return Ok(Vec::new()) };
        if rows.len() == 1 {
            return rows.into_iter().map(|(k, p)| self.shape(schema, k, &p, archived)).collect();
        }
        // Per relation property (schema order): key -> related keys, in the order `related` gives.
        let mut rel: Vec<HashMap<String, Vec<Value>>> = Vec::new();
        for p in schema.props.iter().filter(|p| p.kind == Kind::Relation) {
            let mut by_key: HashMap<String, Vec<Value>> = HashMap::new();
            let rows = if p.stored {
                self.db.query(
                    "SELECT key, target_key FROM cat_links
                     WHERE collection = ?1 AND key > ?2 AND key <= ?3 AND property = ?4 AND removed = 0
                     ORDER BY key, position, added_at",
                    vals![&schema.collection, after, &last, &p.id],
                )?
            } else if let (Some(src), Some(inv)) = (&p.target, &p.inverse) {
                self.db.query(
                    "SELECT target_key, key FROM cat_links
                     WHERE target = ?1 AND target_key > ?2 AND target_key <= ?3 AND collection = ?4 AND property = ?5
                       AND removed = 0
                     ORDER BY target_key, added_at, key",
                    vals![&schema.collection, after, &last, src, inv],
                )?
            } else {
                Vec::new()
            };
            for r in rows {
                by_key.entry(r.text(0)).or_default().push(Value::String(r.text(1)));
            }
            rel.push(by_key);
        }
        let mut out = Vec::with_capacity(rows.len());
        for (key, props) in rows {
            let mut all: Map<String, Value> = serde_json::from_str(&props).unwrap_or_default();
            let mut rec = RecordOut { key, props: Map::new(), archived: Map::new() };
            let mut r = 0;
            for p in &schema.props {
                if p.kind == Kind::Relation {
                    if let Some(keys) = rel[r].remove(&rec.key) {
                        rec.props.insert(p.id.clone(), Value::Array(keys));
                    }
                    r += 1;
                } else if let Some(v) = all.remove(&p.id) {
                    if !p.archived {
                        rec.props.insert(p.id.clone(), v);
                    } else if archived {
                        rec.archived.insert(p.id.clone(), v);
                    }
                }
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// The keys [`Catalog::related`] gives, in its order, without reading each link's position,
    /// date and method: a record read whole (`get`) carries only the keys, and a playlist has
    /// hundreds of them.
    fn related_keys(&self, collection: &str, key: &str, p: &Property) -> Result<Vec<Value>> {
        let rows = if p.stored {
            self.db.query(
                "SELECT target_key FROM cat_links
                 WHERE collection = ?1 AND key = ?2 AND property = ?3 AND removed = 0 ORDER BY position, added_at",
                vals![collection, key, &p.id],
            )?
        } else {
            let (Some(src), Some(inv)) = (&p.target, &p.inverse) else { return Ok(Vec::new()) };
            self.db.query(
                "SELECT key FROM cat_links
                 WHERE target = ?1 AND target_key = ?2 AND collection = ?3 AND property = ?4 AND removed = 0
                 ORDER BY added_at, key",
                vals![collection, key, src, inv],
            )?
        };
        Ok(rows.iter().map(|r| Value::String(r.text(0))).collect())
    }

    fn related(&self, collection: &str, key: &str, p: &Property) -> Result<Vec<LinkOut>> {
        let read = |r: &Row| LinkOut {
            key: r.text(0),
            position: r.int(1),
            added_at: r.opt_text(2),
            method: link_method_out(r.text(3)),
        };
        let rows = if p.stored {
            self.db.query(
                "SELECT target_key, position, added_at, method FROM cat_links
                 WHERE collection = ?1 AND key = ?2 AND property = ?3 AND removed = 0 ORDER BY position, added_at",
                vals![collection, key, &p.id],
            )?
        } else {
            let (Some(src), Some(inv)) = (&p.target, &p.inverse) else { return Ok(Vec::new()) };
            self.db.query(
                "SELECT key, position, added_at, method FROM cat_links
                 WHERE target = ?1 AND target_key = ?2 AND collection = ?3 AND property = ?4 AND removed = 0
                 ORDER BY added_at, key",
                vals![collection, key, src, inv],
            )?
        };
        Ok(rows.iter().map(read).collect())
    }

    /// The links of one record's relation property, in order, with when and how each was made.
    pub fn links(&self, access: &Access, collection: &str, key: &str, property: &str) -> Result<Vec<LinkOut>> {
        self.check_read(access, collection)?;
        let schema = self.read_schema(collection)?;
        let p =
            schema.get(property).filter(|p| p.kind == Kind::Relation).ok_or_else(|| unknown(&schema, key, property))?;
        if let Some(t) = &p.target
            && !access.can_read(t)
        {
            return Err(CatalogError::NotGranted { actor: access.actor.clone(), collection: t.clone(), op: "read" });
        }
        self.related(collection, key, p)
    }

    /// Records matching `filter`, by key order, starting after the cursor `after`.
    pub fn query(
        &self,
        access: &Access,
        collection: &str,
        filter: &Filter,
        archived: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        self.check_read(access, collection)?;
        let limit = limit.clamp(1, 100_000);
        let mut records = Vec::new();
        let mut next = None;
        let mut cursor = after.map(str::to_string);
        let schema = if schema::is_virtual(collection) { None } else { Some(self.read_schema(collection)?) };
        let mut truncated = false;
        // Reads in chunks so that a filter rejecting most rows still stops at `limit`. A chunk
        // holds what is still wanted plus one (to tell whether there is a next page), so a full
        // page does not shape a whole chunk it then throws away; at least 16 rows, so a
        // filter rejecting most rows does not read one row at a time.
        loop {
            let want = (limit - records.len() + 1).clamp(16, 1000);
            let chunk: Vec<RecordOut> = match &schema {
                None => self.virtual_rows(collection, None, cursor.as_deref(), 1000)?,
                Some(schema) => {
                    // Within a plugin call's read cap (`bounds`): the rows that fit, and the page
                    // ends after them.
                    let (rows, cut) = self.db.query_upto(
                        "SELECT key, props FROM cat_records WHERE collection = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
                        vals![collection, cursor.as_deref().unwrap_or(""), want as i64],
                        true,
                    )?;
                    truncated = cut;
                    let rows: Vec<(String, String)> = rows.into_iter().map(|r| (r.text(0), r.text(1))).collect();
                    self.shape_page(schema, rows, cursor.as_deref().unwrap_or(""), archived)?
                }
            };
            let Some(last) = chunk.last() else { break };
            cursor = Some(last.key.clone());
            for r in chunk {
                if filter.accepts(&r) {
                    if records.len() == limit {
                        next = records.last().map(|r: &RecordOut| r.key.clone());
                        return Ok(Page { records, next });
                    }
                    records.push(r);
                }
            }
            if truncated {
                // Resume after the last row read, accepted or not.
                return Ok(Page { records, next: cursor });
            }
            crate::bounds::check()?;
        }
        if records.len() == limit {
            next = None;
        }
        Ok(Page { records, next })
    }

    /// `files` records whose host path lies under one of `roots` (a folder: the path itself or
    /// below it), by path order after `after`: the library filtered in SQL on its path index, so
    /// a page costs the page, not the library.
    pub fn files_under(
        &self,
        access: &Access,
        roots: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordOut>> {
        self.check_read(access, FILES)?;
        if roots.is_empty() {
            return Ok(Vec::new());
        }
        match self.fp_conn() {
            Some(c) => files_rows_under(c, roots, after, limit),
            None => Ok(Vec::new()),
        }
    }

    /// How many `files` records lie under `roots` (see [`Catalog::files_under`]).
    pub fn files_count_under(&self, access: &Access, roots: &[String]) -> Result<u64> {
        self.check_read(access, FILES)?;
        let Some(conn) = self.fp_conn() else { return Ok(0) };
        if roots.is_empty() || !fp_table_exists(conn)? {
            return Ok(0);
        }
        let (clause, args) = under_clause(roots);
        let sql = format!("SELECT count(*) FROM fp_files WHERE quarantined = 0 AND ({clause})");
        let n: i64 = conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Follows a library file that a plugin moved (`spotify apply` and `undo` do, inside a
    /// writable grant) to `to`, so it is linked at once instead of after the next `baton fp
    /// scan`: the one library row under `roots` whose file is gone and whose size and mtime are
    /// `to`'s (a rename keeps both) takes `to` as its path, with its fingerprint and tags.
    /// Nothing changes when no row, or more than one, fits (two copies made with `cp -p`): a
    /// rescan finds the file then. Returns the new key when the row followed.
    pub fn files_follow_move(&self, access: &Access, roots: &[String], to: &str) -> Result<Option<String>> {
        self.check_read(access, FILES)?;
        let Some(conn) = self.fp_conn() else { return Ok(None) };
        if roots.is_empty() || !fp_table_exists(conn)? || !std::fs::symlink_metadata(to).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let Ok((size, mtime_ns)) = baton_fp::scan::stat(Path::new(to)) else { return Ok(None) };
        let (clause, args) = under_clause(roots);
        let n = args.len();
        let sql = format!(
            "SELECT path FROM fp_files WHERE quarantined = 0 AND size = ?{} AND mtime_ns = ?{} AND ({clause})",
            n + 1,
            n + 2
        );
        let mut params: Vec<rusqlite::types::Value> = args.into_iter().map(rusqlite::types::Value::Text).collect();
        params.extend([rusqlite::types::Value::Integer(size as i64), rusqlite::types::Value::Integer(mtime_ns)]);
        let gone: Vec<String> = conn
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|p| p != to && std::fs::symlink_metadata(p).is_err())
            .collect();
        let [from] = gone.as_slice() else { return Ok(None) };
        // Spelled as the row was (a scan of the folder as configured, or of its real path), so
        // the next scan of that folder finds the row under the name it walks.
        let under =
            |p: &str, root: &str| p.strip_prefix(root.trim_end_matches('/')).is_some_and(|rest| rest.starts_with('/'));
        let real = std::fs::canonicalize(to).ok().and_then(|p| p.into_os_string().into_string().ok());
        let to = [Some(to.to_string()), real]
            .into_iter()
            .flatten()
            .find(|t| roots.iter().any(|r| under(from, r) && under(t, r)))
            .unwrap_or_else(|| to.to_string());
        let moved = conn.execute(
            "UPDATE fp_files SET path = ?2 WHERE path = ?1 AND quarantined = 0 AND NOT EXISTS (SELECT 1 FROM fp_files WHERE path = ?2)",
            rusqlite::params![from, to],
        )?;
        Ok((moved == 1).then_some(to))
    }

    /// Links `key` to `target_key` through the relation `property` (either side), appended at
    /// the end, with `added_at` (now when None) and how it was matched. A link made by the user
    /// is always `manual` (whatever `method` says): plugins' upserts never remove it, and a
    /// user's unlink stays unlinked. A plugin gives the method it matched by, or None for a
    /// data link (membership); it may not claim `manual`. Returns false when the link already
    /// existed with that method and `added_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn link(
        &mut self,
        access: &Access,
        collection: &str,
        key: &str,
        property: &str,
        target_key: &str,
        added_at: Option<&str>,
        method: Option<MatchMethod>,
    ) -> Result<bool> {
        if !access.is_user() && method == Some(MatchMethod::Manual) {
            return Err(CatalogError::ManualByPlugin {
                collection: collection.into(),
                key: key.into(),
                property: property.into(),
                target_key: target_key.into(),
                actor: access.actor.clone(),
            });
        }
        if let Some(at) = added_at {
            let rfc = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok();
            let day = time::Date::parse(at, time::macros::format_description!("[year]-[month]-[day]")).is_ok();
            if !(rfc || day) {
                return Err(CatalogError::BadValue {
                    collection: collection.into(),
                    key: key.into(),
                    property: property.into(),
                    kind: "relation",
                    detail: format!("added_at `{at}` is not a date (YYYY-MM-DD or RFC 3339)"),
                });
            }
        }
        self.set_link(access, collection, key, property, target_key, Some((added_at, method)))
    }

    /// Removes a link. Returns false when there was none.
    pub fn unlink(
        &mut self,
        access: &Access,
        collection: &str,
        key: &str,
        property: &str,
        target_key: &str,
    ) -> Result<bool> {
        self.set_link(access, collection, key, property, target_key, None)
    }

    fn set_link(
        &mut self,
        access: &Access,
        collection: &str,
        key: &str,
        property: &str,
        target_key: &str,
        on: Option<(Option<&str>, Option<MatchMethod>)>,
    ) -> Result<bool> {
        read_only(collection)?;
        let actor = access.actor.clone();
        let user = access.is_user();
        let schema = load_schema(&self.db, collection)?;
        let p = schema
            .get(property)
            .filter(|p| p.kind == Kind::Relation && !p.archived)
            .ok_or_else(|| unknown(&schema, key, property))?
            .clone();
        let target = p.target.clone().unwrap_or_default();
        // The stored side: (collection, key, property) -> (target, target_key).
        let (sc, sk, sp, tc, tk) = if p.stored {
            (collection.to_string(), key.to_string(), p.id.clone(), target.clone(), target_key.to_string())
        } else {
            (
                target.clone(),
                target_key.to_string(),
                p.inverse.clone().unwrap_or_default(),
                collection.to_string(),
                key.to_string(),
            )
        };
        if !access.can_write(&sc) {
            return Err(CatalogError::NotGranted { actor, collection: sc, op: "write" });
        }
        let tx = self.write_tx()?;
        for (c, k) in [(collection, key), (target.as_str(), target_key)] {
            // Checked before any lookup: no answer tells a key of a collection it may not read.
            if !access.can_read(c) {
                return Err(CatalogError::NotGranted { actor, collection: c.into(), op: "read" });
            }
            if !self.record_exists(&tx, c, k)? {
                return Err(CatalogError::MissingTarget {
                    collection: collection.into(),
                    key: key.into(),
                    property: property.into(),
                    target: c.into(),
                    target_key: k.into(),
                });
            }
        }
        let method = match on {
            _ if user => MatchMethod::Manual.as_str(),
            Some((_, Some(m))) => m.as_str(),
            _ => DATA_LINK,
        };
        let old: Option<(i64, String)> = tx
            .query_opt(
                "SELECT removed, method FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND target_key = ?4",
                vals![&sc, &sk, &sp, &tk],
            )?
            .map(|r| (r.int(0), r.text(1)));
        if !user && old.as_ref().is_some_and(|(_, m)| m == "manual") {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!(
                    "{key} {property} {target_key}: this link was set by hand (manual); only the user changes it"
                ),
            });
        }
        let active = old.as_ref().is_some_and(|(removed, _)| *removed == 0);
        let at = on.and_then(|(a, _)| a).map(str::to_string).unwrap_or_else(now);
        let changed = if let Some((given_at, _)) = on {
            let old_at: Option<Option<String>> = tx
                .query_opt(
                    "SELECT added_at FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND target_key = ?4 AND removed = 0",
                    vals![&sc, &sk, &sp, &tk],
                )?
                .map(|r| r.opt_text(0));
            let pos = tx
                .query_one(
                    "SELECT coalesce(max(position) + 1, 0) FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3",
                    vals![&sc, &sk, &sp],
                )?
                .int(0);
            tx.execute(
                "INSERT INTO cat_links (collection, key, property, target, target_key, position, added_at, method, actor, removed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)
                 ON CONFLICT (collection, key, property, target_key) DO UPDATE SET
                    removed = 0, method = excluded.method, actor = excluded.actor,
                    position = CASE WHEN cat_links.removed = 1 THEN excluded.position ELSE cat_links.position END,
                    added_at = CASE WHEN cat_links.removed = 1 OR ?10 = 1 THEN excluded.added_at ELSE cat_links.added_at END",
                vals![&sc, &sk, &sp, &tc, &tk, pos, &at, method, &actor, given_at.is_some()],
            )?;
            !active
                || old.as_ref().is_some_and(|(_, m)| m != method)
                || given_at.is_some_and(|g| old_at.flatten().as_deref() != Some(g))
        } else if user {
            // A tombstone: the user's "not in this playlist" survives plugins' re-imports.
            tx.execute(
                "INSERT INTO cat_links (collection, key, property, target, target_key, position, added_at, method, actor, removed)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 'manual', ?7, 1)
                 ON CONFLICT (collection, key, property, target_key) DO UPDATE SET removed = 1, method = 'manual', actor = excluded.actor",
                vals![&sc, &sk, &sp, &tc, &tk, &at, &actor],
            )?;
            active
        } else {
            tx.execute(
                "DELETE FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND target_key = ?4",
                vals![&sc, &sk, &sp, &tk],
            )?;
            active
        };
        if changed {
            let op = if on.is_some() { "link" } else { "unlink" };
            let shown = (method != DATA_LINK).then_some(method);
            let detail = if on.is_some() {
                json!({"property": sp, "target": tc, "target_key": tk, "method": shown, "added_at": at})
            } else {
                json!({"property": sp, "target": tc, "target_key": tk, "method": shown})
            };
            log_change(&tx, &sc, Some(&sk), op, &actor, &detail)?;
            check_bytes(&tx, &actor, access.quota)?;
            bump(&tx, &sc)?;
            bump(&tx, &tc)?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// The changes after sequence number `since`, oldest first, in collections `access` reads.
    pub fn changes_since(&self, access: &Access, since: i64, limit: usize) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        let mut from = since;
        // Skips changes of unreadable collections without cutting the page short. A chunk is
        // what is still wanted (at least 64 rows, so skipping is not row by row), and only the
        // kept rows' details are parsed.
        //
        // Within a plugin call's read cap (`bounds`): the sequence numbers and collections come
        // first (small rows), and only changes the caller may read are read whole, while they
        // fit; the answer ends before the first that does not (an error only when none fits).
        while out.len() < limit {
            let want = (limit - out.len()).clamp(64, 1000);
            let heads = self.db.query(
                "SELECT seq, collection FROM cat_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                vals![from, want as i64],
            )?;
            let n = heads.len();
            let readable: Vec<i64> = heads.iter().filter(|r| access.can_read(r.str(1))).map(|r| r.int(0)).collect();
            let last = heads.last().map(|r| r.int(0));
            drop(heads);
            let mut i = 0;
            while i < readable.len() && out.len() < limit {
                // Runs of consecutive readable changes are read in one statement.
                let mut j = i + 1;
                while j < readable.len() && readable[j] == readable[j - 1] + 1 {
                    j += 1;
                }
                let r = self.db.query_upto(
                    "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
                    vals![readable[i], readable[j - 1]],
                    true,
                );
                let (rows, cut) = match r {
                    Ok(r) => r,
                    Err(CatalogError::CallBound(_)) if !out.is_empty() => return Ok(out),
                    Err(e) => return Err(e),
                };
                for row in &rows {
                    if out.len() < limit {
                        out.push(read_change(row));
                    }
                }
                if cut {
                    return Ok(out);
                }
                i = j;
            }
            match last {
                Some(l) => from = l,
                None => break,
            }
            if n < want {
                break;
            }
            crate::bounds::check()?;
        }
        Ok(out)
    }

    /// The last sequence number (0 when nothing was ever written).
    pub fn last_seq(&self) -> Result<i64> {
        Ok(self.db.query_one("SELECT coalesce(max(seq), 0) FROM cat_changes", &[])?.int(0))
    }

    /// Every change to one record, oldest first.
    pub fn history(&self, access: &Access, collection: &str, key: &str) -> Result<Vec<Change>> {
        self.check_read(access, collection)?;
        let mut out: Vec<Change> = self
            .db
            .query(
                "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes WHERE collection = ?1 AND key = ?2 ORDER BY seq",
                vals![collection, key],
            )?
            .iter()
            .map(read_change)
            .collect();
        // Links made from the other side are logged on the stored side; show them here too.
        let other_side = self.db.pick(
            "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes
             WHERE op IN ('link', 'unlink') AND json_extract(detail, '$.target') = ?1 AND json_extract(detail, '$.target_key') = ?2",
            "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes
             WHERE op IN ('link', 'unlink') AND (detail::jsonb ->> 'target') = ?1 AND (detail::jsonb ->> 'target_key') = ?2",
        );
        out.extend(self.db.query(other_side, vals![collection, key])?.iter().map(read_change));
        out.sort_by_key(|c| c.seq);
        Ok(out)
    }

    /// A plugin's (or the user's) usage: (rows, bytes).
    pub fn usage(&self, actor: &str) -> Result<(u64, u64)> {
        let r: Option<(i64, i64)> = self
            .db
            .query_opt("SELECT rows, bytes FROM cat_usage WHERE actor = ?1", vals![actor])?
            .map(|r| (r.int(0), r.int(1)));
        Ok(r.map(|(a, b)| (a.max(0) as u64, b.max(0) as u64)).unwrap_or((0, 0)))
    }

    /// Matches a track against `tracks`, down the ladder (external id, ISRC, normalised text
    /// and duration, fuzzy text, fingerprint of a local file). The index is kept between calls
    /// and rebuilt only when `tracks` changed.
    pub fn match_track(&mut self, access: &Access, q: &TrackQuery) -> Result<MatchOutcome> {
        self.check_read(access, "tracks")?;
        let generation = self.db.query_one("SELECT generation FROM cat_collections WHERE name = 'tracks'", &[])?.int(0);
        if self.index.as_ref().is_none_or(|(g, _)| *g != generation) {
            let _span = tracing::info_span!("catalog.index", generation).entered();
            // The index serves every call and task: its reading is not charged to this call.
            let index = MatchIndex::build(crate::bounds::unmetered(|| self.track_entries())?);
            self.index = Some((generation, index));
        }
        let Some((_, index)) = &self.index else { unreachable!("index set above") };
        let mut outcome = index.match_track(q);
        if outcome.verdict == crate::Verdict::None
            && let Some(file) = &q.file
        {
            outcome = self.match_by_fingerprint(file)?;
            // The fingerprint rung obeys the ISRC rule too: two ISRCs are two recordings.
            if let Some((_, index)) = &self.index {
                outcome = index.without_isrc_conflicts(q, outcome);
            }
        }
        Ok(outcome)
    }

    fn track_entries(&self) -> Result<Vec<TrackEntry>> {
        let rows = self.db.query("SELECT key, props FROM cat_records WHERE collection = 'tracks'", &[])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let v: Map<String, Value> = serde_json::from_str(row.str(1)).unwrap_or_default();
            out.push(TrackEntry::from_props(row.text(0), &v));
        }
        Ok(out)
    }

    /// The tracks linked (`tracks.files`) to library files that sound like `file`.
    fn match_by_fingerprint(&mut self, file: &Path) -> Result<MatchOutcome> {
        use crate::matcher::{Candidate, Verdict};
        let none = || MatchOutcome { verdict: Verdict::None, candidates: Vec::new() };
        let Some(conn) = self.fp_conn() else { return Ok(none()) };
        if !fp_table_exists(conn)? {
            return Ok(none());
        }
        let fp: Option<Option<Vec<u8>>> = conn
            .query_row("SELECT fingerprint FROM fp_files WHERE path = ?1", [file.to_string_lossy()], |r| r.get(0))
            .optional()?;
        let Some(Some(blob)) = fp else {
            return Ok(MatchOutcome { verdict: Verdict::None, candidates: Vec::new() });
        };
        let fp = baton_fp::fingerprint::from_bytes(&blob);
        let matcher = self.fp.get_or_insert_with(|| baton_fp::service::Matcher::new(&self.path));
        let hits = matcher.best_matches(
            &fp,
            baton_fp::dedup::DEFAULT_MIN_SIMILARITY,
            20,
            |p| p != file,
            crate::bounds::should_stop,
        )?;
        crate::bounds::check()?;
        let mut candidates: Vec<Candidate> = Vec::new();
        for h in hits {
            let path = h.path.to_string_lossy().into_owned();
            let keys: Vec<String> = self
                .db
                .query(
                    "SELECT key FROM cat_links WHERE collection = 'tracks' AND property = 'files' AND target_key = ?1 AND removed = 0",
                    vals![&path],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect();
            for key in keys {
                if candidates.iter().any(|c| c.key == key) {
                    continue;
                }
                let props: Map<String, Value> = self
                    .db
                    .query_opt("SELECT props FROM cat_records WHERE collection = 'tracks' AND key = ?1", vals![&key])?
                    .and_then(|r| serde_json::from_str(r.str(0)).ok())
                    .unwrap_or_default();
                let e = TrackEntry::from_props(key.clone(), &props);
                candidates.push(Candidate {
                    key,
                    title: e.title,
                    artists: e.artists,
                    duration_ms: e.duration_ms,
                    score: h.score,
                    method: MatchMethod::Fingerprint,
                    reasons: vec![format!("fingerprint similarity {:.3} with {path}", h.score)],
                });
            }
        }
        Ok(crate::matcher::decide(candidates))
    }
}

fn read_change(r: &Row) -> Change {
    Change {
        seq: r.int(0),
        collection: r.text(1),
        key: r.opt_text(2),
        op: r.text(3),
        actor: r.text(4),
        at: r.text(5),
        detail: serde_json::from_str(r.str(6)).unwrap_or(Value::Null),
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

/// One link target given in an upsert.
struct LinkIn {
    key: String,
    added_at: Option<String>,
    /// `"added_at": null` given: the date is unknown (stored as null), never the time of the
    /// write; a date the link already has is kept.
    unknown_at: bool,
    /// How a plugin matched it (as `link`'s method), so a batch of matches is one upsert rather
    /// than one `link` call each; None keeps the method the link already has.
    method: Option<MatchMethod>,
}

/// Checks one record against the schema and the writer's rights; returns the plain values
/// (canonical form) and the relation lists.
#[allow(clippy::type_complexity)]
fn validate(
    schema: &Schema,
    rec: &Record,
    actor: &str,
    user: bool,
) -> Result<(Vec<(String, Value)>, Vec<(String, Vec<LinkIn>)>)> {
    let c = schema.collection.as_str();
    if rec.key.is_empty() || rec.key.len() > MAX_KEY || rec.key.chars().any(char::is_control) {
        return Err(malformed(c, &rec.key, &format!("a key is 1 to {MAX_KEY} bytes without control characters")));
    }
    let mut values = Vec::new();
    let mut links = Vec::new();
    for (id, v) in &rec.props {
        let p = schema.get(id).filter(|p| !p.archived).ok_or_else(|| unknown(schema, &rec.key, id))?;
        if !user && p.owner != actor && p.owner != CORE && p.owner != USER {
            return Err(CatalogError::NotOwner {
                collection: c.into(),
                key: rec.key.clone(),
                property: id.clone(),
                owner: p.owner.clone(),
                actor: actor.into(),
            });
        }
        let bad = |detail: String| CatalogError::BadValue {
            collection: c.into(),
            key: rec.key.clone(),
            property: id.clone(),
            kind: p.kind.as_str(),
            detail,
        };
        if p.kind == Kind::Relation {
            if !p.stored {
                let other = format!("{}.{}", p.target.as_deref().unwrap_or("?"), p.inverse.as_deref().unwrap_or("?"));
                return Err(bad(format!(
                    "this side of the relation is derived; write {other} instead (or `baton catalog link`)"
                )));
            }
            let list = match v {
                Value::Null => Vec::new(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(LinkIn { key: s.clone(), added_at: None, unknown_at: false, method: None }),
                        Value::Object(o) => match o.get("key") {
                            Some(Value::String(s)) => {
                                let method = match o.get("method") {
                                    None | Some(Value::Null) => None,
                                    Some(m) => Some(serde_json::from_value::<MatchMethod>(m.clone()).map_err(|_| {
                                        bad(format!("link method {m} is not one of external_id, isrc, normalized, fuzzy, fingerprint"))
                                    })?),
                                };
                                if !user && method == Some(MatchMethod::Manual) {
                                    return Err(CatalogError::ManualByPlugin {
                                        collection: c.into(),
                                        key: rec.key.clone(),
                                        property: id.clone(),
                                        target_key: s.clone(),
                                        actor: actor.into(),
                                    });
                                }
                                Ok(LinkIn {
                                    key: s.clone(),
                                    added_at: o.get("added_at").and_then(Value::as_str).map(str::to_string),
                                    unknown_at: o.get("added_at").is_some_and(Value::is_null),
                                    method,
                                })
                            }
                            _ => Err(bad("a link object needs a string \"key\"".into())),
                        },
                        _ => Err(bad(format!("expected a related key or {{\"key\",\"added_at\",\"method\"}}, got {x}"))),
                    })
                    .collect::<Result<_>>()?,
                _ => return Err(bad(format!("expected a list of related keys, got {v}"))),
            };
            let mut dup = HashSet::new();
            if let Some(d) = list.iter().find(|l| !dup.insert(l.key.as_str())) {
                return Err(bad(format!("`{}` is listed twice", d.key)));
            }
            links.push((id.clone(), list));
            continue;
        }
        let canon = if v.is_null() { Value::Null } else { check_value(p, v).map_err(bad)? };
        values.push((id.clone(), canon));
    }
    Ok((values, links))
}

/// A value in its canonical form for the property's kind, or why it is not one.
fn check_value(p: &Property, v: &Value) -> std::result::Result<Value, String> {
    let text = |v: &Value| -> std::result::Result<String, String> {
        match v {
            Value::String(s) if s.len() <= 64 << 10 => Ok(s.clone()),
            Value::String(_) => Err("text over 64 KiB".into()),
            _ => Err(format!("expected a string, got {v}")),
        }
    };
    match p.kind {
        Kind::Text | Kind::Select => {
            let s = text(v)?;
            if p.id == "isrc" {
                return schema::normalize_isrc(&s)
                    .map(Value::String)
                    .ok_or_else(|| format!("`{s}` is not an ISRC (CC-XXX-YY-NNNNN)"));
            }
            Ok(Value::String(s))
        }
        Kind::Url => {
            let s = text(v)?;
            let scheme = s.split_once(':').map(|(a, _)| a).unwrap_or("");
            if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) {
                return Err(format!("`{s}` is not a URL (scheme:...)"));
            }
            Ok(Value::String(s))
        }
        Kind::Number => match v {
            Value::Number(n) if p.integer => n
                .as_i64()
                .map(Value::from)
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| Value::from(f as i64)))
                .ok_or_else(|| format!("expected a whole number, got {n}")),
            Value::Number(_) => Ok(v.clone()),
            _ => Err(format!("expected a number, got {v}")),
        },
        Kind::Bool => v.as_bool().map(Value::Bool).ok_or_else(|| format!("expected true or false, got {v}")),
        Kind::Date => {
            let s = text(v)?;
            let rfc = time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).is_ok();
            let day = time::Date::parse(&s, time::macros::format_description!("[year]-[month]-[day]")).is_ok();
            if rfc || day { Ok(Value::String(s)) } else { Err(format!("`{s}` is not a date (YYYY-MM-DD or RFC 3339)")) }
        }
        Kind::MultiSelect => match v {
            Value::Array(a) => a
                .iter()
                .map(|x| text(x).map(Value::String))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(format!("expected a list of strings, got {v}")),
        },
        Kind::Relation => Err("relations are handled apart".into()),
    }
}

/// Replaces the non-manual links of one record's relation; returns what changed, or None.
#[allow(clippy::too_many_arguments)]
fn replace_links(
    tx: &Db,
    collection: &str,
    key: &str,
    prop: &str,
    target: &str,
    wanted: &[LinkIn],
    actor: &str,
    at: &str,
    usage: &mut Usage,
    fresh: bool,
) -> Result<Option<Value>> {
    // A record this call inserts has no links yet (links need both records to exist).
    let existing: Vec<(String, Option<String>, String, i64)> = if fresh {
        Vec::new()
    } else {
        tx.query(
            "SELECT target_key, added_at, method, removed FROM cat_links
             WHERE collection = ?1 AND key = ?2 AND property = ?3 ORDER BY position, added_at",
            vals![collection, key, prop],
        )?
        .into_iter()
        .map(|r| (r.text(0), r.opt_text(1), r.text(2), r.int(3)))
        .collect()
    };
    let manual: HashSet<&str> = existing.iter().filter(|e| e.2 == "manual").map(|e| e.0.as_str()).collect();
    let current: Vec<(&str, Option<&str>, &str)> = existing
        .iter()
        .filter(|e| e.2 != "manual" && e.3 == 0)
        .map(|e| (e.0.as_str(), e.1.as_deref(), e.2.as_str()))
        .collect();
    let wanted: Vec<&LinkIn> = wanted.iter().filter(|l| !manual.contains(l.key.as_str())).collect();
    let same = current.len() == wanted.len()
        && current.iter().zip(&wanted).all(|((k, a, m), w)| {
            *k == w.key
                && (w.added_at.is_none() || w.added_at.as_deref() == *a)
                && w.method.is_none_or(|wm| wm.as_str() == *m)
        });
    if same {
        return Ok(None);
    }
    let old_at: HashMap<&str, Option<&str>> = current.iter().map(|c| (c.0, c.1)).collect();
    // A link a plugin matched (`link` with a method) keeps its method when re-upserted.
    let old_method: HashMap<&str, &str> =
        existing.iter().filter(|e| e.2 != "manual" && e.3 == 0).map(|e| (e.0.as_str(), e.2.as_str())).collect();
    let wanted_keys: HashSet<&str> = wanted.iter().map(|w| w.key.as_str()).collect();
    let removed: Vec<&str> = current.iter().map(|c| c.0).filter(|k| !wanted_keys.contains(k)).collect();
    let added: Vec<&str> = wanted.iter().map(|w| w.key.as_str()).filter(|k| !old_at.contains_key(k)).collect();
    if !fresh {
        tx.execute(
            "DELETE FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND method != 'manual'",
            vals![collection, key, prop],
        )?;
    }
    // Links whose method this call sets or changes, for the change log.
    let mut methods = Map::new();
    for (i, w) in wanted.iter().enumerate() {
        let added_at = w.added_at.as_deref().or_else(|| old_at.get(w.key.as_str()).copied().flatten());
        let added_at = if w.unknown_at { added_at } else { Some(added_at.unwrap_or(at)) };
        let kept = old_method.get(w.key.as_str()).copied();
        let method = w.method.map(MatchMethod::as_str).or(kept).unwrap_or(DATA_LINK);
        if w.method.is_some() && kept != Some(method) {
            methods.insert(w.key.clone(), Value::from(method));
        }
        tx.execute(
            "INSERT INTO cat_links (collection, key, property, target, target_key, position, added_at, method, actor, removed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
            vals![collection, key, prop, target, &w.key, i as i64, added_at, method, actor],
        )?;
    }
    usage.add(actor, added.len() as i64 - removed.len() as i64, 0);
    let mut diff = json!({"added": added, "removed": removed, "count": wanted.len()});
    if !methods.is_empty() {
        diff["methods"] = Value::Object(methods);
    }
    Ok(Some(diff))
}

/// Usage deltas of one call, applied and checked against the caller's quota at the end.
#[derive(Default)]
struct Usage(BTreeMap<String, (i64, i64)>);

impl Usage {
    fn add(&mut self, actor: &str, rows: i64, bytes: i64) {
        let e = self.0.entry(actor.to_string()).or_default();
        e.0 += rows;
        e.1 += bytes;
    }

    fn commit(&self, tx: &Db, actor: &str, quota: Option<crate::Quota>) -> Result<()> {
        for (who, (rows, bytes)) in &self.0 {
            if *rows == 0 && *bytes == 0 {
                continue;
            }
            tx.execute(
                "INSERT INTO cat_usage (actor, rows, bytes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (actor) DO UPDATE SET rows = cat_usage.rows + excluded.rows, bytes = cat_usage.bytes + excluded.bytes",
                vals![who, *rows, *bytes],
            )?;
        }
        if let (Some(q), Some((drows, dbytes))) = (quota, self.0.get(actor)) {
            let r = tx.query_one("SELECT rows, bytes FROM cat_usage WHERE actor = ?1", vals![actor])?;
            let (rows, bytes) = (r.int(0), r.int(1));
            if (*drows > 0 && rows as u64 > q.rows) || (*dbytes > 0 && bytes as u64 > q.bytes) {
                return Err(CatalogError::Quota {
                    actor: actor.into(),
                    detail: format!(
                        "this batch would bring it to {rows} rows / {bytes} bytes, over {} rows / {} bytes",
                        q.rows, q.bytes
                    ),
                });
            }
        }
        Ok(())
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

impl Catalog {
    /// How many records a virtual collection has.
    fn virtual_count(&self, collection: &str) -> Result<u64> {
        Ok(match collection {
            FILES => match self.fp_conn() {
                Some(c) if fp_table_exists(c)? => {
                    c.query_row("SELECT count(*) FROM fp_files WHERE quarantined = 0", [], |r| r.get::<_, i64>(0))?
                        as u64
                }
                _ => 0,
            },
            HANDOFFS => match &self.handoffs {
                Some(h) => h.count().map_err(|e| CatalogError::Virtual(format!("handoffs: the ledger: {e}")))?,
                None => 0,
            },
            AUDIT_GAPS => self.with_audit_gaps(|g| g.count()),
            _ => 0,
        })
    }

    /// Records of a virtual collection: one by `key`, or a page after `after`, by key.
    fn virtual_rows(
        &self,
        collection: &str,
        key: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordOut>> {
        match collection {
            FILES => match self.fp_conn() {
                Some(c) => files_rows(c, key, after, limit),
                None => Ok(Vec::new()),
            },
            HANDOFFS => match &self.handoffs {
                Some(h) => Ok(h
                    .page(key, after.unwrap_or(""), limit)
                    .map_err(|e| CatalogError::Virtual(format!("handoffs: the ledger: {e}")))?
                    .iter()
                    .map(|(seq, t)| virtuals::handoff_record(*seq, t))
                    .collect()),
                None => Ok(Vec::new()),
            },
            AUDIT_GAPS => Ok(self.with_audit_gaps(|g| g.rows(key, after, limit))),
            _ => Ok(Vec::new()),
        }
    }

    fn with_audit_gaps<T>(&self, f: impl FnOnce(&AuditGaps) -> T) -> T {
        let mut cache = self.audit_gaps.borrow_mut();
        let gaps = AuditGaps::load(self.audit_reports.as_deref(), self.audit_source.as_ref(), cache.take());
        let out = f(&gaps);
        *cache = Some(gaps);
        out
    }
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

fn fp_table_exists(conn: &Connection) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fp_files'")?.exists([])?)
}

impl Catalog {
    /// Whether a record exists, read in `tx`; a `files` record in this machine's fingerprint
    /// library (on PostgreSQL another database, so the link it allows is checked only here, when
    /// written: nothing stops the file from leaving the library later).
    fn record_exists(&self, tx: &Db, collection: &str, key: &str) -> Result<bool> {
        if collection == FILES {
            let Some(conn) = self.fp_conn() else { return Ok(false) };
            return Ok(fp_table_exists(conn)?
                && conn
                    .prepare_cached("SELECT 1 FROM fp_files WHERE path = ?1 AND quarantined = 0")?
                    .exists([key])?);
        }
        tx.exists("SELECT 1 FROM cat_records WHERE collection = ?1 AND key = ?2", vals![collection, key])
    }
}

fn create_collection(tx: &Db, name: &str, owner: &str, actor: &str) -> Result<()> {
    let seq = log_change(tx, name, None, "create_collection", actor, &json!({"owner": owner}))?;
    tx.execute("INSERT INTO cat_collections (name, owner, created_seq) VALUES (?1, ?2, ?3)", vals![name, owner, seq])?;
    Ok(())
}

/// Declares one property (and a relation's other side) unless it exists; an archived one is
/// restored.
/// Declares `spec` on `collection`; an archived property comes back only when `restore`
/// (an explicit declaration), never when the core schema is merely re-checked at open.
fn ensure_property(tx: &Db, collection: &str, spec: &PropertySpec, owner: &str, restore: bool) -> Result<()> {
    let existing: Option<(String, i64)> = tx
        .query_opt(
            "SELECT kind, archived FROM cat_properties WHERE collection = ?1 AND id = ?2",
            vals![collection, &spec.id],
        )?
        .map(|r| (r.text(0), r.int(1)));
    if let Some((kind, archived)) = existing {
        if kind != spec.kind.as_str() {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!(
                    "property `{}` is a {kind}, not a {} (ids are stable: declare a new id)",
                    spec.id,
                    spec.kind.as_str()
                ),
            });
        }
        if archived == 1 && restore {
            tx.execute(
                "UPDATE cat_properties SET archived = 0 WHERE collection = ?1 AND id = ?2",
                vals![collection, &spec.id],
            )?;
            log_change(tx, collection, None, "restore_property", owner, &json!({"property": spec.id}))?;
        }
        return Ok(());
    }
    if spec.kind == Kind::Relation && spec.target.is_none() {
        return Err(CatalogError::Schema {
            collection: collection.into(),
            detail: format!("relation `{}` needs a target collection", spec.id),
        });
    }
    let pos = tx.query_one("SELECT count(*) FROM cat_properties WHERE collection = ?1", vals![collection])?.int(0);
    let name = spec.name.clone().unwrap_or_else(|| spec.id.clone());
    tx.execute(
        "INSERT INTO cat_properties (collection, id, name, kind, target, inverse, stored, \"integer\", owner, archived, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, 0, ?9)",
        vals![collection, &spec.id, &name, spec.kind.as_str(), &spec.target, &spec.inverse, spec.integer, owner, pos],
    )?;
    log_change(tx, collection, None, "add_property", owner, &json!({"property": spec.id, "kind": spec.kind.as_str()}))?;
    if let (Some(t), Some(inv)) = (&spec.target, &spec.inverse)
        && t != FILES
        && !tx.exists("SELECT 1 FROM cat_properties WHERE collection = ?1 AND id = ?2", vals![t, inv])?
    {
        let pos = tx.query_one("SELECT count(*) FROM cat_properties WHERE collection = ?1", vals![t])?.int(0);
        let display = inv.split('.').next_back().unwrap_or(inv).replace('_', " ");
        let display = display[..1].to_uppercase() + &display[1..];
        tx.execute(
                "INSERT INTO cat_properties (collection, id, name, kind, target, inverse, stored, \"integer\", owner, archived, position)
                 VALUES (?1, ?2, ?3, 'relation', ?4, ?5, 0, 0, ?6, 0, ?7)",
                vals![t, inv, &display, collection, &spec.id, owner, pos],
            )?;
        log_change(
            tx,
            t,
            None,
            "add_property",
            owner,
            &json!({"property": inv, "kind": "relation", "inverse_of": format!("{collection}.{}", spec.id)}),
        )?;
    }
    Ok(())
}

/// A relation's `inverse` adds a property to the target collection, so it is checked as such a
/// property would be (issue 36): a well-formed id, a target the caller may write, the caller's
/// own id (`<actor>.<name>`, unless the user declares it), and never an existing property that
/// is not already this relation's inverse.
fn check_inverse(
    tx: &Db,
    access: &Access,
    collection: &str,
    spec: &PropertySpec,
    target: &str,
    inv: &str,
    owner: &str,
) -> Result<()> {
    let bad = |detail: String| CatalogError::Schema { collection: collection.into(), detail };
    if !schema::valid_id(inv) {
        return Err(bad(format!(
            "relation `{}`: inverse id {:?} is not snake_case (`<plugin>.<name>`)",
            spec.id,
            inv.chars().take(80).collect::<String>()
        )));
    }
    if target == FILES {
        return Ok(());
    }
    if !access.is_user() {
        if !access.can_write(target) {
            return Err(CatalogError::NotGranted {
                actor: access.actor.clone(),
                collection: target.into(),
                op: "write",
            });
        }
        let inv_owner = schema::owner_of(inv);
        let inv_owner = if inv_owner == CORE { owner } else { inv_owner };
        if inv_owner != access.actor {
            return Err(CatalogError::NotOwner {
                collection: target.into(),
                key: "(schema)".into(),
                property: inv.into(),
                owner: inv_owner.into(),
                actor: access.actor.clone(),
            });
        }
    }
    let existing = tx
        .query_opt("SELECT target, inverse FROM cat_properties WHERE collection = ?1 AND id = ?2", vals![target, inv])?
        .map(|r| (r.opt_text(0), r.opt_text(1)));
    if let Some((t, i)) = existing
        && (t.as_deref() != Some(collection) || i.as_deref() != Some(spec.id.as_str()))
    {
        return Err(bad(format!(
            "relation `{}`: inverse `{inv}` already exists on `{target}` as another property",
            spec.id
        )));
    }
    Ok(())
}

/// A property the caller may rename or remove.
fn property_for_change(tx: &Db, access: &Access, collection: &str, id: &str) -> Result<Property> {
    if !collection_exists(tx, collection)? {
        return Err(CatalogError::UnknownCollection(collection.into()));
    }
    let schema = load_schema(tx, collection)?;
    let p = schema.get(id).filter(|p| !p.archived).ok_or_else(|| unknown(&schema, "(schema)", id))?.clone();
    if !access.is_user() && p.owner != access.actor {
        return Err(CatalogError::NotOwner {
            collection: collection.into(),
            key: "(schema)".into(),
            property: id.into(),
            owner: p.owner,
            actor: access.actor.clone(),
        });
    }
    Ok(p)
}

fn load_schema(db: &Db, collection: &str) -> Result<Schema> {
    let props = db
        .query(
            "SELECT id, name, kind, target, inverse, stored, \"integer\", owner, archived FROM cat_properties
             WHERE collection = ?1 ORDER BY position",
            vals![collection],
        )?
        .iter()
        .map(|r| Property {
            id: r.text(0),
            name: r.text(1),
            kind: Kind::parse(r.str(2)).unwrap_or(Kind::Text),
            target: r.opt_text(3),
            inverse: r.opt_text(4),
            stored: r.bool(5),
            integer: r.bool(6),
            owner: r.text(7),
            archived: r.bool(8),
        })
        .collect();
    Ok(Schema { collection: collection.into(), props })
}

/// Appends one change-log entry and returns its sequence number. The entry is charged to
/// `actor`'s catalog usage (bytes): the change log is kept, and every reader of
/// `changes-since` pays for it, so it counts against the writer's quota like its records.
fn log_change(tx: &Db, collection: &str, key: Option<&str>, op: &str, actor: &str, detail: &Value) -> Result<i64> {
    let (seq, bytes) = log_entry(tx, collection, key, op, actor, detail)?;
    tx.execute(
        "INSERT INTO cat_usage (actor, rows, bytes) VALUES (?1, 0, ?2)
         ON CONFLICT (actor) DO UPDATE SET bytes = cat_usage.bytes + excluded.bytes",
        vals![actor, bytes],
    )?;
    Ok(seq)
}

/// Appends one change-log entry, not yet charged: its sequence number and what it weighs (a
/// batch adds that to its [`Usage`], which is applied and checked once).
fn log_entry(
    tx: &Db,
    collection: &str,
    key: Option<&str>,
    op: &str,
    actor: &str,
    detail: &Value,
) -> Result<(i64, i64)> {
    let at = now();
    let detail = detail.to_string();
    let seq = tx.insert_change(collection, key, op, actor, &at, &detail)?;
    Ok((seq, change_bytes(collection, key, op, actor, &at, &detail)))
}

/// What one change-log entry weighs against a quota: its texts and a row's overhead.
fn change_bytes(collection: &str, key: Option<&str>, op: &str, actor: &str, at: &str, detail: &str) -> i64 {
    (CHANGE_OVERHEAD + collection.len() + key.map_or(0, str::len) + op.len() + actor.len() + at.len() + detail.len())
        as i64
}

/// Bytes a change-log row costs beyond its texts (sequence number, row and index entries).
const CHANGE_OVERHEAD: usize = 32;

/// Refuses a write that brought `actor` over its quota's bytes (records and change log).
fn check_bytes(tx: &Db, actor: &str, quota: Option<crate::Quota>) -> Result<()> {
    let Some(q) = quota else { return Ok(()) };
    let Some(r) = tx.query_opt("SELECT rows, bytes FROM cat_usage WHERE actor = ?1", vals![actor])? else {
        return Ok(());
    };
    let (rows, bytes) = (r.int(0), r.int(1));
    if bytes as u64 > q.bytes {
        return Err(CatalogError::Quota {
            actor: actor.into(),
            detail: format!(
                "this change would bring it to {rows} rows / {bytes} bytes (records and change log), over {} rows / {} bytes",
                q.rows, q.bytes
            ),
        });
    }
    Ok(())
}

/// Marks a collection changed, so cached indexes over it are rebuilt.
fn bump(tx: &Db, collection: &str) -> Result<()> {
    tx.execute("UPDATE cat_collections SET generation = generation + 1 WHERE name = ?1", vals![collection])?;
    Ok(())
}

/// `files` records from `fp_files`: one by `key` (its path), or a page after `after`.
/// `path = root OR root/ < path < root0` for each root ('0' sorts right after '/'): a range of
/// the path index per root. Returns the clause and its arguments.
fn under_clause(roots: &[String]) -> (String, Vec<String>) {
    let mut clause = Vec::new();
    let mut args = Vec::new();
    for r in roots {
        let r = r.trim_end_matches('/');
        let n = args.len();
        clause.push(format!("path = ?{} OR (path > ?{} AND path < ?{})", n + 1, n + 2, n + 3));
        args.extend([r.to_string(), format!("{r}/"), format!("{r}0")]);
    }
    (clause.join(" OR "), args)
}

fn files_rows_under(conn: &Connection, roots: &[String], after: Option<&str>, limit: usize) -> Result<Vec<RecordOut>> {
    if !fp_table_exists(conn)? {
        return Ok(Vec::new());
    }
    let (clause, mut args) = under_clause(roots);
    let n = args.len();
    let sql = format!(
        "SELECT path, title, artist, album, isrc, duration, codec, lossless, size, fingerprint IS NOT NULL
         FROM fp_files WHERE quarantined = 0 AND ({clause}) AND path > ?{} ORDER BY path LIMIT {}",
        n + 1,
        limit.clamp(1, 100_000)
    );
    args.push(after.unwrap_or("").to_string());
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), file_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn files_rows(conn: &Connection, key: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<RecordOut>> {
    if !fp_table_exists(conn)? {
        return Ok(Vec::new());
    }
    let sql = "SELECT path, title, artist, album, isrc, duration, codec, lossless, size, fingerprint IS NOT NULL
               FROM fp_files WHERE quarantined = 0 AND (?1 IS NULL OR path = ?1) AND path > ?2 ORDER BY path LIMIT ?3";
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params![key, after.unwrap_or(""), limit as i64], file_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One `fp_files` row (the columns of [`files_rows`]) as a `files` record.
fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordOut> {
    {
        let mut m = Map::new();
        let path: String = r.get(0)?;
        m.insert("path".into(), Value::String(path.clone()));
        for (i, id) in [(1, "title"), (2, "artist"), (3, "album"), (4, "isrc"), (6, "codec")] {
            if let Some(s) = r.get::<_, Option<String>>(i)? {
                m.insert(id.into(), Value::String(s));
            }
        }
        if let Some(d) = r.get::<_, Option<f64>>(5)? {
            m.insert("duration_ms".into(), Value::from((d * 1000.0).round() as i64));
        }
        m.insert("lossless".into(), Value::Bool(r.get::<_, i64>(7)? != 0));
        m.insert("size".into(), Value::from(r.get::<_, i64>(8)?));
        m.insert("fingerprinted".into(), Value::Bool(r.get::<_, i64>(9)? != 0));
        Ok(RecordOut { key: path, props: m, archived: Map::new() })
    }
}
