//! `baton retry`: what is in baton's `03_failed/`, which of it a retry selects (by id, by file
//! name, or all of it filtered by error code and plugin), and moving a selected handoff back
//! into the inbox as a new attempt of the same handoff. The CLI and the dashboard's bulk retry
//! both call [`select_failed`] and [`retry_selected`], so both move exactly what they listed.
//!
//! A retried handoff keeps its id: the ledger is told the content that was moved back (it may
//! have been fixed by hand), so that copy, and only that copy, runs again; its error record is
//! moved aside into `.superseded/` (journalled, never deleted), so the next failure is filed
//! under the same name instead of piling up numbered copies.
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use baton_handoff::{Body, schema};
use baton_ledger::{Ledger, TaskState};

use crate::PipelineError;
use baton_home::Paths;

/// One failed handoff in `03_failed/`: the original and what its error record says.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedHandoff {
    /// The original's path in `03_failed/`.
    pub file: PathBuf,
    /// Its file name there.
    pub name: String,
    /// Its `<name>.error.json` record, if it has one.
    pub record: Option<PathBuf>,
    /// The handoff's `id` (from the file itself; else from the record), if it has one.
    pub id: Option<String>,
    /// The plugin the TASK names, if it names one.
    pub plugin: Option<String>,
    /// The error code the record gives (`unknown_action`, `duplicate_id`, …).
    pub code: Option<String>,
    /// The record's message.
    pub message: Option<String>,
    /// When it was filed (the record's `at`).
    pub failed_at: Option<String>,
    /// The claim the record names (`<claim id>~<name>`): which attempt failed.
    #[serde(skip)]
    claim: Option<String>,
}

/// Which failed handoffs a retry takes. Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryFilter {
    /// An id, or a file name in `03_failed/` (`baton retry ID|FILE`). `None`: all of them.
    pub target: Option<String>,
    /// Only those filed with this error code.
    pub code: Option<String>,
    /// Only TASKs for this plugin.
    pub plugin: Option<String>,
}

/// What [`retry_selected`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetryOutcome {
    /// Moved back: each failed handoff and where it now is in the inbox.
    pub moved: Vec<Moved>,
    /// Left where they were, each with the reason and the fix.
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    #[serde(flatten)]
    pub handoff: FailedHandoff,
    pub to: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    #[serde(flatten)]
    pub handoff: FailedHandoff,
    #[serde(serialize_with = "as_text")]
    pub reason: RetryRefused,
}

/// Why `baton retry` left a failed handoff where it is; each message says the fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RetryRefused {
    #[error("{} cannot be read as a handoff (missing, unreadable, or over {} MiB)", file.display(), MAX_READ >> 20)]
    Unreadable { file: PathBuf },
    #[error("{} is a RETURN, not a TASK: there is nothing to run", file.display())]
    IsReturn { file: PathBuf },
    #[error("{} is not a valid TASK ({}: {}); fix the file in place, then retry it", file.display(), invalid.code, invalid.message)]
    Invalid { file: PathBuf, invalid: baton_handoff::schema::Invalid },
    #[error(
        "id {id:?} is {state} now (as {file_name}); wait for its RETURN (`baton wait {id}`) before retrying this copy"
    )]
    Running { id: String, state: TaskState, file_name: String },
    /// Refused for what it is (`invalid`, `unknown_action`, ...): unchanged it fails again.
    #[error("{why}")]
    FailsUnchanged { why: String },
}

/// The reason as its message (`retry --json`'s `reason`).
fn as_text<S: serde::Serializer>(r: &RetryRefused, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(r)
}

/// Files in `03_failed/` bigger than this are not read (one refused `too_large` may be huge).
const MAX_READ: u64 = 64 << 20;

/// A regular file's bytes, when it is at most [`MAX_READ`] (never following a symlink).
pub(crate) fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    (meta.is_file() && meta.len() <= MAX_READ).then(|| std::fs::read(path).ok()).flatten()
}

/// Every failed handoff in `agent`'s `03_failed/`, by file name. A file that is not JSON is
/// listed too (without id or plugin): it may be fixed and retried by name.
pub fn list_failed(paths: &Paths, agent: &str) -> Result<Vec<FailedHandoff>, PipelineError> {
    let dir = paths.failed(agent);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PipelineError::io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let bytes = name.as_bytes();
        if bytes.ends_with(b".error.json") || bytes.starts_with(b".") || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        out.push(describe(&dir, name));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(crate) fn describe(dir: &Path, name: OsString) -> FailedHandoff {
    let file = dir.join(&name);
    let record_path = dir.join(baton_fs::error_record_name(&name));
    let record: Option<Value> = std::fs::read(&record_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let body: Option<Value> = read_small(&file).and_then(|b| serde_json::from_slice(&b).ok());
    let s = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
    FailedHandoff {
        id: s(&body, "id").or_else(|| s(&record, "task_id")),
        plugin: s(&body, "plugin"),
        code: s(&record, "code"),
        message: s(&record, "message"),
        failed_at: s(&record, "at"),
        claim: s(&record, "claim"),
        record: record_path.is_file().then_some(record_path),
        name: name.to_string_lossy().into_owned(),
        file,
    }
}

/// The failed handoffs `filter` selects, by file name. A target that is a file name selects
/// that file; one that is an id selects the file of the attempt the ledger knows last (else
/// the first by name) when several carry it.
pub fn select_failed(
    paths: &Paths,
    agent: &str,
    ledger: &Ledger,
    filter: &RetryFilter,
) -> Result<Vec<FailedHandoff>, PipelineError> {
    let all = list_failed(paths, agent)?;
    let keep = |f: &FailedHandoff| {
        filter.code.as_ref().is_none_or(|c| f.code.as_ref() == Some(c))
            && filter.plugin.as_ref().is_none_or(|p| f.plugin.as_ref() == Some(p))
    };
    let Some(target) = &filter.target else { return Ok(all.into_iter().filter(keep).collect()) };
    if let Some(f) = all.iter().find(|f| &f.name == target) {
        return Ok(Some(f.clone()).filter(keep).into_iter().collect());
    }
    let mut with_id: Vec<FailedHandoff> =
        all.into_iter().filter(|f| f.id.as_ref() == Some(target)).filter(keep).collect();
    if with_id.len() > 1 {
        let last = ledger.task(target)?.map(|r| r.claim);
        if let Some(i) = with_id.iter().position(|f| f.claim.is_some() && f.claim == last) {
            return Ok(vec![with_id.swap_remove(i)]);
        }
        with_id.truncate(1);
    }
    Ok(with_id)
}

/// Moves each of `selected` back into `agent`'s inbox (see [`retry_one`]); one that cannot be
/// is listed in `refused` with the reason, and the others go on.
pub fn retry_selected(
    paths: &Paths,
    agent: &str,
    ledger: &Ledger,
    selected: Vec<FailedHandoff>,
) -> Result<RetryOutcome, PipelineError> {
    let mut out = RetryOutcome::default();
    for handoff in selected {
        match retry_one(paths, agent, ledger, &handoff)? {
            Ok(to) => out.moved.push(Moved { handoff, to }),
            Err(reason) => out.refused.push(Refused { handoff, reason }),
        }
    }
    Ok(out)
}

/// Moves one failed handoff back into the inbox as a new attempt of the same handoff: its
/// error record goes into `.superseded/` first (journalled), the ledger is told the content
/// that runs (so an edited file runs under its id, and no other copy does), then the file
/// moves. `Ok(Err(reason))`: refused, nothing moved (the file is not a TASK, or that id is
/// running now); the reason says the fix.
pub fn retry_one(
    paths: &Paths,
    agent: &str,
    ledger: &Ledger,
    f: &FailedHandoff,
) -> Result<Result<PathBuf, RetryRefused>, PipelineError> {
    let Some(bytes) = read_small(&f.file) else {
        return Ok(Err(RetryRefused::Unreadable { file: f.file.clone() }));
    };
    let value = match schema::parse(&bytes) {
        Ok((Body::Task(_), value)) => value,
        Ok((Body::Return(_) | Body::InputRequest(_) | Body::Input(_), _)) => {
            return Ok(Err(RetryRefused::IsReturn { file: f.file.clone() }));
        }
        Err(invalid) => return Ok(Err(RetryRefused::Invalid { file: f.file.clone(), invalid })),
    };
    let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
    let row = ledger.task(id)?;
    if let Some(row) = &row
        && row.state.is_in_flight()
    {
        return Ok(Err(RetryRefused::Running {
            id: id.to_string(),
            state: row.state,
            file_name: row.file_name.clone(),
        }));
    }
    if let Some(row) = &row {
        file_earlier_return(paths, row)?;
    }
    let agent_dir = paths.agent(agent);
    if let Some(record) = &f.record
        && record.exists()
    {
        crate::superseded::move_aside(
            &agent_dir,
            record,
            "the error record of an attempt that `baton retry` runs again",
        )
        .map_err(|e| PipelineError::io(record, e))?;
    }
    ledger.request_retry(id, &schema::content_hash(&value))?;
    let inbox = paths.inbox(agent);
    crate::post::make_inbox(&inbox)?;
    let name = f.file.file_name().unwrap_or_default();
    let to = baton_fs::move_into(&f.file, &inbox, name).map_err(|e| PipelineError::io(&f.file, e))?;
    baton_fs::sync_dir(&inbox).map_err(|e| PipelineError::io(&inbox, e))?;
    Ok(Ok(to))
}

/// Replaces the failed handoff at `file` with `edited` (a retry with edited params): the
/// original goes into the agent's `.superseded/` first (journalled, never deleted), then the
/// edited bytes take its name (written beside it and renamed, so the name never holds half).
pub fn replace_failed(file: &Path, edited: &[u8]) -> Result<(), PipelineError> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Err(PipelineError::io(file, std::io::Error::other("not a file in 03_failed/")));
    };
    let agent_dir = dir.parent().unwrap_or(dir);
    let mut tmp_name = std::ffi::OsString::from(".edit-");
    tmp_name.push(name);
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, edited)?;
        f.sync_all()
    };
    write().map_err(|e| PipelineError::io(&tmp, e))?;
    crate::superseded::move_aside(agent_dir, file, "the TASK as it failed, before `baton retry --params` edited it")
        .map_err(|e| PipelineError::io(file, e))?;
    baton_fs::rename_noreplace(&tmp, file).map_err(|e| PipelineError::io(file, e))?;
    baton_fs::sync_dir(dir).map_err(|e| PipelineError::io(dir, e))
}

/// One RETURN per TASK in the sender's inbox: the RETURN of the attempt that `baton retry` runs
/// again is filed in the sender's `02_processed/` (renamed, never rewritten) before the new
/// attempt runs, so the inbox holds the latest answer only and the earlier one is still there
/// to read; the new attempt's record names it (`superseded_by`, see `outputs`).
fn file_earlier_return(paths: &Paths, row: &baton_ledger::TaskRow) -> Result<(), PipelineError> {
    let Some(name) = row.return_name.as_deref() else { return Ok(()) };
    let inbox = paths.inbox(&row.reply_to);
    let earlier = inbox.join(name);
    if !earlier.is_file() {
        return Ok(()); // read and filed by its agent already, or never delivered
    }
    let processed = paths.agent(&row.reply_to).join("02_processed");
    baton_fs::ensure_dir(&processed).map_err(|e| PipelineError::io(&processed, e))?;
    let to = baton_fs::move_into(&earlier, &processed, std::ffi::OsStr::new(name))
        .map_err(|e| PipelineError::io(&earlier, e))?;
    let _ = baton_fs::sync_dir(&processed);
    let _ = baton_fs::sync_dir(&inbox);
    tracing::info!(id = %row.id, moved_to = %to.display(), "the RETURN of the attempt retried was filed in 02_processed/");
    Ok(())
}
