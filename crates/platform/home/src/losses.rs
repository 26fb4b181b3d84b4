//! Rows the state lost. A SQLite state whose `-wal` file was deleted while `serve` ran (and the
//! process then killed, so nothing was checkpointed) reopens without the transactions that WAL
//! held: the state's id is still there (an earlier checkpoint wrote it), so the state guard
//! finds "the same state", yet a TASK answered meanwhile has no record, and dropped again it
//! would run again. The handoffs folders keep what those rows said: every TASK filed in
//! `02_processed/` was answered, and the ledger keeps a row for each.
//! At start, the newest originals filed there (by the time they were filed, their `ctime`) are
//! checked against the ledger; one it has no record of means rows were lost, and `serve` stops
//! with the reason rather than answer those TASKs twice.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::HomeError;
use crate::config::Paths;

/// How many of the newest filed originals are checked: the rows a deleted WAL held are the
/// last ones written, so the newest filings are where a loss shows.
const NEWEST: usize = 32;

/// Where `serve --new-state` records that the state is taken as it is: TASKs filed before the
/// time this file holds (seconds since the epoch) are not checked again.
fn accepted_path(home: &Path, state: &Path) -> PathBuf {
    baton_ledger::guard::marker_path(home, state).with_extension("accepted")
}

/// Records that the state at `state` is taken as it is (`serve --new-state`): what was filed so
/// far is not held against it.
pub fn accept(home: &Path, location: &baton_ledger::Location) -> std::io::Result<()> {
    let baton_ledger::Location::Sqlite(state) = location else { return Ok(()) };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let file = accepted_path(home, state);
    if let Some(dir) = file.parent() {
        baton_fs::ensure_dir(dir)?;
    }
    // One second on: a TASK filed in the second of the acceptance is the old state's.
    std::fs::write(&file, (now + 1).to_string())
}

/// Whether the home's last `serve` ran from `location` too, and records that this one does.
/// Only then do the filed TASKs belong to this state: a home that served from another state
/// meanwhile (a PostgreSQL server after `baton migrate`, another `--state`) filed TASKs this one
/// never saw, and that is no loss.
pub fn served_from_before(home: &Path, location: &baton_ledger::Location) -> std::io::Result<bool> {
    let record = home.join(".states").join("last-served");
    let this = match location {
        baton_ledger::Location::Sqlite(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()).display().to_string(),
        other => other.shown(),
    };
    let before = std::fs::read_to_string(&record).is_ok_and(|s| s == this);
    if !before {
        baton_fs::ensure_dir(record.parent().unwrap_or(home))?;
        std::fs::write(&record, &this)?;
    }
    Ok(before)
}

/// A filed TASK the ledger has no record of: its file and id.
#[derive(Debug)]
pub struct Lost {
    pub file: PathBuf,
    pub id: String,
}

/// The first of the newest TASKs filed in `agent`'s `02_processed/` that `ledger` has no row
/// for, if any. A file that cannot be read or parsed, or is not a TASK, is skipped: only a
/// TASK read whole and missing from the ledger says rows were lost.
pub fn unrecorded(
    paths: &Paths,
    agent: &str,
    max_bytes: u64,
    since: i64,
    ledger: &baton_ledger::Ledger,
) -> Result<Option<Lost>, HomeError> {
    // No task row at all: a state whose history was pruned by hand (or never used), and one
    // whose WAL held every row also lost its id, which the state guard reports. Nothing to
    // compare the filings with.
    if ledger.task_count()? == 0 {
        return Ok(None);
    }
    let dir = paths.processed(agent);
    let entries = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HomeError::io(&dir, e)),
    };
    let mut filed: Vec<((i64, i64), PathBuf)> = entries
        .flatten()
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .filter_map(|e| {
            let m = e.metadata().ok().filter(|m| m.is_file() && m.ctime() >= since)?;
            Some(((m.ctime(), m.ctime_nsec()), e.path()))
        })
        .collect();
    filed.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
    for (_, file) in filed.into_iter().take(NEWEST) {
        let Ok(bytes) = baton_fs::read_capped(&file, max_bytes) else { continue };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        let is_task = value["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case("task"));
        let Some(id) = value["id"].as_str().filter(|_| is_task) else { continue };
        if ledger.task(id)?.is_none() {
            return Ok(Some(Lost { file, id: id.to_string() }));
        }
    }
    Ok(None)
}

/// As [`unrecorded`], for the home at `home` and its SQLite state at `location` (a PostgreSQL
/// ledger lives on its server; nothing is checked). For `serve`'s start, after the state guard.
pub fn check_home(home: &Path, location: &baton_ledger::Location) -> Result<Option<Lost>, HomeError> {
    let baton_ledger::Location::Sqlite(state) = location else { return Ok(None) };
    let cfg = crate::Config::load(home)?;
    let paths = Paths::new(home, state, &cfg);
    let ledger = crate::state::connect(location)?;
    let since =
        std::fs::read_to_string(accepted_path(home, state)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    unrecorded(&paths, &cfg.agent, cfg.max_file_bytes, since, &ledger)
}
