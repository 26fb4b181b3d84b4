//! Where the records of a superseded attempt go: a RETURN staged in `.outbox/` that was never
//! delivered, or an `.error.json` written in `03_failed/` for an attempt that was then deferred,
//! belong to that attempt alone. A later attempt writes its own, and the old ones are moved
//! (never deleted) into `handoffs/<baton>/.superseded/`, one line each in its `journal.jsonl`
//! (when, what, where it went, why), so that nothing is lost and nothing stale is delivered.
use std::io::Write;
use std::path::{Path, PathBuf};

/// Moves `file` into `.superseded/` beside `agent_dir`'s other folders and journals it.
/// `why` says which attempt it belonged to.
pub(crate) fn move_aside(agent_dir: &Path, file: &Path, why: &str) -> std::io::Result<PathBuf> {
    let dir = agent_dir.join(".superseded");
    baton_fs::ensure_dir(&dir)?;
    let name = file.file_name().unwrap_or_default();
    let stamp = baton_handoff::stamp::file_stamp(baton_handoff::stamp::now());
    let mut wanted = std::ffi::OsString::from(format!("{stamp}-"));
    wanted.push(name);
    let wanted = baton_fs::fit(&wanted, baton_fs::NUMBER_ROOM);
    let to = baton_fs::numbered_slot(&wanted, |candidate| {
        let to = dir.join(&candidate);
        match baton_fs::rename_noreplace(file, &to) {
            Ok(()) => Ok(Some(to)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        }
    })?;
    let line = serde_json::json!({
        "at": baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()),
        "op": "superseded",
        "file": file.display().to_string(),
        "moved_to": to.display().to_string(),
        "why": why,
    });
    journal(&dir, &line)?;
    tracing::info!(file = %file.display(), moved_to = %to.display(), "{why}");
    Ok(to)
}

/// Appends one line to `dir/journal.jsonl` and makes it durable with the folder's moves: the
/// record of a move that lets the user see, and undo, what baton put aside.
pub(crate) fn journal(dir: &Path, line: &serde_json::Value) -> std::io::Result<()> {
    let mut journal = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("journal.jsonl"))?;
    journal.write_all(format!("{line}\n").as_bytes())?;
    journal.sync_data()?;
    let _ = baton_fs::sync_dir(dir);
    Ok(())
}
