//! Rows of the read-only virtual collections over the host's own data: `files` (the fingerprint
//! library), `handoffs` (the ledger's TASKs) and `audit_gaps` (the latest plans audit report),
//! each read through a source the app wires, never by SQL on another domain's tables. Nothing is copied into the catalog: each read
//! looks at the source, so a mirror such as drive-sync always sees what baton itself sees, and
//! nothing here can drift or be written through the catalog.
use baton_sync::Locked;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{Map, Value};

use baton_ledger::{Ledger, Location, TaskRow};
use rusqlite::Connection;

use crate::record::RecordOut;

/// Where `files` reads from, wired by the app (the fingerprint library, `baton-fp`). Each read
/// goes through the connection the catalog passes (this machine's SQLite file, held by the
/// catalog), so a plugin call's bounds (its progress handler) cover it; a refused or interrupted
/// read is the connection's own error.
pub trait FilesSource: Send + Sync {
    /// How many files: all, or those under one of `roots` (a folder: itself or below it).
    fn count(&self, conn: &Connection, roots: Option<&[String]>) -> rusqlite::Result<u64>;
    /// Files by path after `after`, at most `limit`: the one at `key`, or all, or those under
    /// one of `roots`.
    fn page(
        &self,
        conn: &Connection,
        key: Option<&str>,
        roots: Option<&[String]>,
        after: &str,
        limit: usize,
    ) -> rusqlite::Result<Vec<LibraryFile>>;
    /// Whether `path` is a library file.
    fn contains(&self, conn: &Connection, path: &str) -> rusqlite::Result<bool>;
    /// Follows a file moved to `to` (see [`crate::Catalog::files_follow_move`]); the new key.
    fn follow_move(&self, conn: &Connection, roots: &[String], to: &str) -> rusqlite::Result<Option<String>>;
    /// The stored fingerprint of `path`, if any.
    fn fingerprint(&self, conn: &Connection, path: &str) -> rusqlite::Result<Option<Vec<u32>>>;
    /// Library files that sound like `print` (other than `file`), best first, with their
    /// similarity: at most `limit`. Polls `stop`, and ends early when it says so.
    fn sounds_like(
        &self,
        print: &[u32],
        file: &Path,
        limit: usize,
        stop: &dyn Fn() -> bool,
    ) -> std::result::Result<Vec<(String, f64)>, String>;
}

/// A library file as `files` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryFile {
    pub path: String,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub isrc: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    pub codec: Option<String>,
    pub lossless: bool,
    pub size: u64,
    pub fingerprinted: bool,
}

/// A library file as a `files` record (the properties [`crate::schema::files_properties`] names).
pub fn file_record(f: LibraryFile) -> RecordOut {
    let mut m = Map::new();
    m.insert("path".into(), Value::String(f.path.clone()));
    for (id, v) in [("title", f.title), ("artist", f.artist), ("album", f.album), ("isrc", f.isrc), ("codec", f.codec)]
    {
        if let Some(s) = v {
            m.insert(id.into(), Value::String(s));
        }
    }
    if let Some(d) = f.duration {
        m.insert("duration_ms".into(), Value::from((d * 1000.0).round() as i64));
    }
    m.insert("lossless".into(), Value::Bool(f.lossless));
    m.insert("size".into(), Value::from(f.size));
    m.insert("fingerprinted".into(), Value::Bool(f.fingerprinted));
    RecordOut { key: f.path, props: m, archived: Map::new() }
}

/// Where `handoffs` reads from, wired by the app: the catalog reads no table of another
/// domain. [`LedgerHandoffs`] is the ledger's own API over its connection.
pub trait HandoffsSource: Send + Sync {
    /// How many TASKs the ledger holds (0 before the first).
    fn count(&self) -> baton_ledger::Result<u64>;
    /// TASKs by id: the one with `key`, or a page after `after`, each with the order it was
    /// recorded in where the ledger keeps one.
    fn page(&self, key: Option<&str>, after: &str, limit: usize) -> baton_ledger::Result<Vec<(Option<i64>, TaskRow)>>;
}

/// The ledger at a location as the `handoffs` source: its connection is opened on first use
/// and kept.
pub struct LedgerHandoffs {
    location: Location,
    ledger: Mutex<Option<Ledger>>,
}

impl LedgerHandoffs {
    pub fn at(location: Location) -> Self {
        LedgerHandoffs { location, ledger: Mutex::new(None) }
    }

    fn with<T>(&self, f: impl FnOnce(&Ledger) -> baton_ledger::Result<T>) -> baton_ledger::Result<T> {
        let mut guard = self.ledger.locked();
        let ledger = match guard.take() {
            Some(l) => l,
            None => Ledger::open_at(&self.location)?,
        };
        let out = f(&ledger);
        // A broken connection is opened again next time: only a ledger that answered is kept.
        if out.is_ok() {
            *guard = Some(ledger);
        }
        out
    }
}

impl HandoffsSource for LedgerHandoffs {
    fn count(&self) -> baton_ledger::Result<u64> {
        self.with(|l| l.task_count())
    }
    fn page(&self, key: Option<&str>, after: &str, limit: usize) -> baton_ledger::Result<Vec<(Option<i64>, TaskRow)>> {
        self.with(|l| l.tasks_by_id(key, after, limit))
    }
}

/// A TASK as a `handoffs` record (the properties [`crate::schema::handoffs_properties`] names).
/// `seq` is the order TASKs were recorded in, where the ledger keeps one (SQLite).
pub fn handoff_record(seq: Option<i64>, t: &TaskRow) -> RecordOut {
    let mut m = Map::new();
    if let Some(seq) = seq {
        m.insert("seq".into(), Value::from(seq));
    }
    m.insert("id".into(), Value::String(t.id.clone()));
    m.insert("from".into(), Value::String(t.sender.clone()));
    m.insert("to".into(), Value::String(t.plugin.clone().unwrap_or_else(|| "baton".into())));
    let text = [
        ("action", t.action.clone()),
        ("title", Some(t.title.clone())),
        ("status", Some(t.state.as_str().to_string())),
        ("created", Some(t.claimed_at.clone())),
        ("finished", t.finished_at.clone()),
        ("error_code", t.error_code.clone()),
        ("reply_to", Some(t.reply_to.clone())),
    ];
    for (prop, v) in text {
        if let Some(s) = v {
            m.insert(prop.into(), Value::String(s));
        }
    }
    m.insert("attempts".into(), Value::from(t.attempts));
    RecordOut { key: t.id.clone(), props: m, archived: Map::new() }
}

/// Where `audit_gaps` reads from: given the reports folder, the latest report's path and its
/// rows (key, properties), sorted by key. The host wires the plans audit's reader
/// (`baton_audit::gaps::latest`); the catalog knows no report format.
pub type AuditGapsSource =
    std::sync::Arc<dyn Fn(&Path) -> Option<(PathBuf, Vec<(String, Map<String, Value>)>)> + Send + Sync>;

/// The open gaps and false claims of the latest report in a reports folder, sorted by key, with
/// what identifies that report (its path, size and mtime).
pub struct AuditGaps {
    stamp: Option<(PathBuf, u64, Option<SystemTime>)>,
    rows: Vec<RecordOut>,
}

fn stamp_of(path: &Path) -> Option<(PathBuf, u64, Option<SystemTime>)> {
    let m = std::fs::metadata(path).ok()?;
    Some((path.to_path_buf(), m.len(), m.modified().ok()))
}

impl AuditGaps {
    /// Reads the latest report in `dir` through `source` (none: no records), keeping `cached`'s
    /// rows when it is still the same file.
    pub fn load(dir: Option<&Path>, source: Option<&AuditGapsSource>, cached: Option<AuditGaps>) -> AuditGaps {
        let Some((path, rows)) = dir.zip(source).and_then(|(d, s)| s(d)) else {
            return AuditGaps { stamp: None, rows: Vec::new() };
        };
        let stamp = stamp_of(&path);
        if let Some(c) = cached
            && c.stamp.is_some()
            && c.stamp == stamp
        {
            return c;
        }
        let rows = rows.into_iter().map(|(key, props)| RecordOut { key, props, archived: Map::new() }).collect();
        AuditGaps { stamp, rows }
    }

    pub fn count(&self) -> u64 {
        self.rows.len() as u64
    }

    /// One record by `key`, or a page after `after`.
    pub fn rows(&self, key: Option<&str>, after: Option<&str>, limit: usize) -> Vec<RecordOut> {
        if let Some(k) = key {
            return self.rows.iter().filter(|r| r.key == k).cloned().collect();
        }
        let after = after.unwrap_or("");
        let start = self.rows.partition_point(|r| r.key.as_str() <= after);
        self.rows[start..].iter().take(limit).cloned().collect()
    }
}
