//! Triage beyond a retry, as Sidekiq's dead set and Oban Web offer it: `baton discard` moves
//! failed handoffs (each with its error record) out of `03_failed/` into `04_discarded/`, one
//! line each in that folder's `journal.jsonl`, and `baton restore` moves one back where it was.
//! Nothing is ever deleted: a discarded handoff is out of the failed list, not out of reach.
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use crate::PipelineError;
use crate::retry::FailedHandoff;
use baton_home::Paths;

/// Where discarded handoffs go, beside an agent's `03_failed/`.
pub const DISCARDED: &str = "04_discarded";

/// A handoff moved by [`discard`] or [`restore`]: where it was, and where it is now.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    #[serde(flatten)]
    pub handoff: FailedHandoff,
    pub to: PathBuf,
    /// Where its error record went, when it had one.
    pub record_to: Option<PathBuf>,
}

/// Moves each of `selected` (from [`crate::retry::select_failed`]) into `agent`'s
/// `04_discarded/`, its error record beside it, and journals each move.
pub fn discard(paths: &Paths, agent: &str, selected: Vec<FailedHandoff>) -> Result<Vec<Moved>, PipelineError> {
    let dir = paths.agent(agent).join(DISCARDED);
    baton_fs::ensure_dir(&dir).map_err(|e| PipelineError::io(&dir, e))?;
    let mut out = Vec::new();
    for handoff in selected {
        let moved = move_pair(&handoff, &dir, &handoff.file.file_name().unwrap_or_default().to_owned())?;
        journal(&dir, "discard", &moved)?;
        tracing::info!(file = %handoff.file.display(), moved_to = %moved.to.display(), "discarded");
        out.push(moved);
    }
    Ok(out)
}

/// Every handoff in `agent`'s `04_discarded/`, by file name.
pub fn list_discarded(paths: &Paths, agent: &str) -> Result<Vec<FailedHandoff>, PipelineError> {
    let dir = paths.agent(agent).join(DISCARDED);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PipelineError::io(&dir, e)),
    };
    let mut out: Vec<FailedHandoff> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let b = n.as_bytes();
            !b.ends_with(b".error.json") && !b.starts_with(b".") && n != "journal.jsonl"
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| crate::retry::describe(&dir, e.file_name()))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Moves the discarded handoff `target` (its id, or its file name in `04_discarded/`) back into
/// `03_failed/` under the name it had there (the journal's; numbered if that name was taken
/// since), its error record beside it. `None`: nothing discarded has that id or name.
pub fn restore(paths: &Paths, agent: &str, target: &str) -> Result<Option<Moved>, PipelineError> {
    let all = list_discarded(paths, agent)?;
    // By name first; by id, the one discarded last (the journal's order is the names' order
    // only within a second, so the journal decides).
    let dir = paths.agent(agent).join(DISCARDED);
    let lines = read_journal(&dir);
    let Some(handoff) = all.iter().find(|f| f.name == target).cloned().or_else(|| {
        let with_id = all.iter().filter(|f| f.id.as_deref() == Some(target));
        with_id
            .max_by_key(|f| lines.iter().rposition(|l| l["moved_to"].as_str() == Some(&f.file.to_string_lossy())))
            .cloned()
    }) else {
        return Ok(None);
    };
    let was = lines
        .iter()
        .rev()
        .find(|l| l["op"] == "discard" && l["moved_to"].as_str() == Some(&handoff.file.to_string_lossy()))
        .and_then(|l| l["file"].as_str())
        .and_then(|f| Path::new(f).file_name().map(OsStr::to_owned))
        .unwrap_or_else(|| handoff.file.file_name().unwrap_or_default().to_owned());
    let failed = paths.failed(agent);
    baton_fs::ensure_dir(&failed).map_err(|e| PipelineError::io(&failed, e))?;
    let moved = move_pair(&handoff, &failed, &was)?;
    journal(&dir, "restore", &moved)?;
    tracing::info!(file = %handoff.file.display(), moved_to = %moved.to.display(), "restored");
    Ok(Some(moved))
}

/// One line of `04_discarded/journal.jsonl`: what moved (`op`), from where to where, with its
/// error record.
fn journal(dir: &Path, op: &str, moved: &Moved) -> Result<(), PipelineError> {
    let h = &moved.handoff;
    let line = json!({
        "at": baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()),
        "op": op,
        "id": h.id,
        "code": h.code,
        "file": h.file,
        "moved_to": moved.to,
        "record": h.record,
        "record_moved_to": moved.record_to,
    });
    crate::superseded::journal(dir, &line).map_err(|e| PipelineError::io(dir, e))
}

fn read_journal(dir: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(dir.join("journal.jsonl")) else { return Vec::new() };
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Moves a handoff into `dir` as `name` (numbered when taken: never over another file), then
/// its error record to the record name of where it went.
fn move_pair(handoff: &FailedHandoff, dir: &Path, name: &OsString) -> Result<Moved, PipelineError> {
    let to = baton_fs::move_into(&handoff.file, dir, name).map_err(|e| PipelineError::io(&handoff.file, e))?;
    let record_to = match &handoff.record {
        Some(record) if baton_fs::present(record).map_err(|e| PipelineError::io(record, e))?.is_some() => {
            let record_name = baton_fs::error_record_name(to.file_name().unwrap_or_default());
            Some(baton_fs::move_into(record, dir, &record_name).map_err(|e| PipelineError::io(record, e))?)
        }
        _ => None,
    };
    baton_fs::sync_dir(dir).map_err(|e| PipelineError::io(dir, e))?;
    if let Some(from) = handoff.file.parent() {
        let _ = baton_fs::sync_dir(from);
    }
    Ok(Moved { handoff: handoff.clone(), to, record_to })
}
