//! The dashboard's one seam to the pipeline's retry: the single retry (`POST
//! /api/handoffs/{id}/retry`) and the bulk retry of the task list's filtered failures (`POST
//! /api/tasks/retry`) both come through here, so a change of how baton retries (the same id,
//! a new attempt) is one edit in this file.
use std::path::PathBuf;

use baton_ledger::Ledger;

use crate::App;
use crate::data::{self, TaskQuery};

/// What a retry did to one task.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Moved {
    pub id: String,
    /// Where the handoff went (back into baton's inbox); `None`: it was not in `03_failed/`
    /// any more (retried or moved by someone else meanwhile).
    pub moved_to: Option<PathBuf>,
    /// Why the pipeline refused to move it (the fix is in the message), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// Retries one failed or rejected task: its handoff goes back into the inbox and its next
/// claim runs again. `Ok(None)`: no failed handoff with that id.
pub(crate) fn one(app: &App, ledger: &mut Ledger, id: &str) -> Result<Option<PathBuf>, baton_pipeline::PipelineError> {
    baton_pipeline::retry_failed(&app.paths, &app.cfg.agent, ledger, id)
}

/// What a bulk retry with these filters would take, newest first (at most [`data::MAX_BULK`]),
/// and what it leaves out (refused for what they are: retried unchanged, refused again).
pub(crate) fn matching(ledger: &Ledger, q: &TaskQuery) -> Result<data::Bulk, crate::DashboardError> {
    data::retryable_ids(ledger, q, data::MAX_BULK)
}

/// Retries every failed or rejected task matching `q` (see [`one`]): `03_failed/` is listed
/// once and the selected handoffs are moved by the pipeline's own bulk retry
/// (`baton_pipeline::retry`, what `baton retry --all` uses). An id no longer in `03_failed/`,
/// or one the pipeline refuses (it is running now, the file is not a TASK), is reported with
/// `moved_to: None` and the reason.
pub(crate) fn all_matching(
    app: &App,
    ledger: &mut Ledger,
    ids: Vec<String>,
) -> Result<Vec<Moved>, baton_pipeline::PipelineError> {
    use baton_pipeline::retry::{list_failed, retry_selected};
    let mut failed: std::collections::HashMap<String, baton_pipeline::retry::FailedHandoff> =
        std::collections::HashMap::new();
    for f in list_failed(&app.paths, &app.cfg.agent)? {
        if let Some(id) = f.id.clone() {
            failed.entry(id).or_insert(f);
        }
    }
    let selected: Vec<_> = ids.iter().filter_map(|id| failed.remove(id)).collect();
    let outcome = retry_selected(&app.paths, &app.cfg.agent, ledger, selected)?;
    let mut by_id: std::collections::HashMap<String, Moved> = std::collections::HashMap::new();
    for m in outcome.moved {
        let id = m.handoff.id.unwrap_or_default();
        by_id.insert(id.clone(), Moved { id, moved_to: Some(m.to), refused: None });
    }
    for r in outcome.refused {
        let id = r.handoff.id.unwrap_or_default();
        by_id.insert(id.clone(), Moved { id, moved_to: None, refused: Some(r.reason.to_string()) });
    }
    Ok(ids.into_iter().map(|id| by_id.remove(&id).unwrap_or(Moved { id, moved_to: None, refused: None })).collect())
}
