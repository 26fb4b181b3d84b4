//! The dashboard's one seam to the pipeline's retry: the single retry (`POST
//! /api/handoffs/{id}/retry`) and the bulk retry of the task list's filtered failures (`POST
//! /api/tasks/retry`) both come through here, so a change of how baton retries (the same id,
//! a new attempt) is one edit in this file.
use std::path::PathBuf;

use baton_ledger::Ledger;

use crate::data::{self, TaskQuery};
use crate::App;

/// What a retry did to one task.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Moved {
    pub id: String,
    /// Where the handoff went (back into baton's inbox); `None`: it was not in `03_failed/`
    /// any more (retried or moved by someone else meanwhile).
    pub moved_to: Option<PathBuf>,
}

/// The most tasks one bulk retry takes (the confirmation names the number).
pub(crate) const MAX_BULK: i64 = 10_000;

/// Retries one failed or rejected task: its handoff goes back into the inbox and its next
/// claim runs again. `Ok(None)`: no failed handoff with that id.
pub(crate) fn one(app: &App, ledger: &mut Ledger, id: &str) -> Result<Option<PathBuf>, baton_pipeline::PipelineError> {
    baton_pipeline::retry_failed(&app.paths, &app.cfg.agent, ledger, id)
}

/// The ids a bulk retry with these filters would take, newest first (at most [`MAX_BULK`]).
pub(crate) fn matching(ledger: &Ledger, q: &TaskQuery) -> Result<Vec<String>, String> {
    data::retryable_ids(ledger, q, MAX_BULK).map(|(ids, _)| ids)
}

/// Retries every failed or rejected task matching `q` (see [`one`]).
pub(crate) fn all_matching(app: &App, ledger: &mut Ledger, ids: Vec<String>) -> Result<Vec<Moved>, baton_pipeline::PipelineError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let moved_to = one(app, ledger, &id)?;
        out.push(Moved { id, moved_to });
    }
    Ok(out)
}
