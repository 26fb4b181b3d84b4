//! The state is never silently replaced. A SQLite state that is missing, empty (0 bytes), or
//! another database than the one this home used (a restored older copy, a deleted WAL that
//! held its first transactions) would otherwise be taken as a new, empty state: the ledger's
//! history gone, and a TASK answered before would run again when dropped again.
//!
//! The home remembers each SQLite state it served from: `<home>/.states/<hash of the state's
//! path>.json` holds the path and the state's id, a random id kept in the state's own
//! `state_meta` table. [`check`] compares the two before `serve` opens the state: a state
//! that the home knows and that is missing, empty or carries another id (or none) stops
//! `serve` with a message that says what was found and how to go on (`--new-state`, or put
//! the right file back). A PostgreSQL ledger lives on its server; nothing is checked here.
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use crate::{Location, Result};

/// The table holding the state's id (`baton migrate` leaves it behind).
pub const META_TABLE: &str = baton_store::STATE_META;

/// Why [`check`] refused the state.
#[derive(Debug, thiserror::Error)]
pub enum StateGuardError {
    #[error(
        "the state {path} is {what}, but this home ({home}) has served from it before (state id {id}, recorded in {marker}). \
         Starting on a new, empty state would lose the ledger's history, and TASKs answered before would run again if \
         dropped again. Put the state file back (with its -wal file, if it had one), or point --state at it; to start \
         on a new state on purpose, run `baton serve --new-state` once"
    )]
    Replaced { path: String, what: String, home: String, id: String, marker: String },
    #[error("state database: {0}")]
    Ledger(#[from] crate::LedgerError),
    #[error("the record of the state {path}: {source}")]
    Marker { path: String, source: std::io::Error },
}

/// What [`check`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The state is the one the home recorded.
    Same,
    /// The home had no record of it: recorded now (a first start, or a home from before the record).
    Recorded,
    /// `--new-state`: a new or other state, accepted and recorded.
    Replaced,
    /// Not a SQLite state: nothing to check.
    Remote,
}

/// The home's record of the state at `path`.
pub fn marker_path(home: &Path, path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let hash = Sha256::digest(abs.as_os_str().as_encoded_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    home.join(".states").join(format!("{hex}.json"))
}

/// Checks the state `location` names against the home's record of it before a `serve`
/// opens it (see the module's comment). `new_state` accepts a missing, empty or other state
/// and records it as this home's state from now on.
pub fn check(home: &Path, location: &Location, new_state: bool) -> Result<Checked, StateGuardError> {
    let Location::Sqlite(path) = location else { return Ok(Checked::Remote) };
    let marker = marker_path(home, path);
    let recorded: Option<String> = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["state_id"].as_str().map(str::to_string));
    let replaced = |what: String, id: &str| StateGuardError::Replaced {
        path: path.display().to_string(),
        what,
        home: home.display().to_string(),
        id: id.to_string(),
        marker: marker.display().to_string(),
    };
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    if let (Some(id), false) = (&recorded, new_state) {
        match size {
            None => return Err(replaced("missing".into(), id)),
            Some(0) => return Err(replaced("empty (0 bytes)".into(), id)),
            Some(_) => {}
        }
    }
    let ledger = crate::Ledger::open(path)?;
    let crate::Backend::Sqlite(s) = &ledger.backend else { return Ok(Checked::Remote) };
    let conn = s.conn();
    conn.execute("CREATE TABLE IF NOT EXISTS state_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)", [])
        .map_err(crate::LedgerError::from)?;
    let current: Option<String> = conn
        .query_row("SELECT value FROM state_meta WHERE key = 'state_id'", [], |r| r.get(0))
        .optional()
        .map_err(crate::LedgerError::from)?;
    if let (Some(id), false) = (&recorded, new_state) {
        match &current {
            Some(c) if c == id => return Ok(Checked::Same),
            Some(c) => return Err(replaced(format!("another state (state id {c})"), id)),
            None => {
                return Err(replaced(
                    "a state without its id (a new database, or one whose WAL was deleted)".into(),
                    id,
                ));
            }
        }
    }
    let id = match current {
        Some(c) if recorded.as_deref() == Some(c.as_str()) => return Ok(Checked::Same),
        Some(c) => c,
        None => {
            let fresh = new_id(path);
            conn.execute("INSERT OR IGNORE INTO state_meta(key, value) VALUES ('state_id', ?1)", [&fresh])
                .map_err(crate::LedgerError::from)?;
            conn.query_row("SELECT value FROM state_meta WHERE key = 'state_id'", [], |r| r.get(0))
                .map_err(crate::LedgerError::from)?
        }
    };
    write_marker(&marker, path, &id)
        .map_err(|source| StateGuardError::Marker { path: marker.display().to_string(), source })?;
    Ok(if recorded.is_some() { Checked::Replaced } else { Checked::Recorded })
}

fn new_id(path: &Path) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(path.as_os_str().as_encoded_bytes());
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Written whole (temp file, synced, renamed): a crash leaves the old record or the new one.
fn write_marker(marker: &Path, path: &Path, id: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = marker.parent().unwrap_or(Path::new("."));
    baton_fs::ensure_dir(dir)?;
    let body =
        serde_json::json!({"path": std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()), "state_id": id});
    let tmp =
        dir.join(format!(".{}.{}.tmp", marker.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(serde_json::to_string_pretty(&body).unwrap_or_default().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, marker)?;
    std::fs::File::open(dir)?.sync_all()
}
