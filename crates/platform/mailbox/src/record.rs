//! What baton keeps in its ledger of the deliveries it made into Claude Code inboxes: the
//! ledger as the receipts' event store ([`crate::receipt::EventStore`]), the transcripts' read
//! positions beside the state, and `status`'s UNSEEN list.
use std::path::Path;

use serde_json::Value;

use crate::receipt::{self, StoreError, Transcripts};
use crate::settings::{Kind, Mailboxes};

impl From<baton_ledger::LedgerError> for StoreError {
    fn from(e: baton_ledger::LedgerError) -> Self {
        StoreError(Box::new(e))
    }
}

/// The ledger as the receipts' event store.
pub struct Events<'a>(pub &'a mut baton_ledger::Ledger);

impl receipt::EventStore for Events<'_> {
    fn events(&mut self, id: &str) -> Result<Vec<(String, Value)>, StoreError> {
        Ok(self.0.events(id)?.into_iter().map(|e| (e.event, e.detail)).collect())
    }

    fn record(&mut self, id: &str, steps: &[receipt::Step]) -> Result<(), StoreError> {
        let now = crate::when::rfc3339(time::OffsetDateTime::now_utc());
        let events = steps.iter().filter_map(|s| Some((s.state.event()?, &s.detail)));
        Ok(self.0.batch(|w| events.into_iter().try_for_each(|(e, d)| w.event(id, &now, e, d)))?)
    }
}

/// The transcripts of the claude-team mailboxes, with what was read of them so far
/// (`transcripts.json` beside the state file `state`), for receipts.
pub fn transcripts(home: &Path, state: &Path, boxes: &Mailboxes) -> Transcripts {
    let roots: Vec<_> = boxes
        .values()
        .filter(|s| s.kind == Kind::ClaudeTeam)
        .map(|s| (crate::claude::teams_folder(&s.resolved_path(home)), s.projects_path(home)))
        .collect();
    Transcripts::open(state.parent().map(|d| d.join("transcripts.json")), &roots)
}

/// How many of the newest deliveries `status` looks at for UNSEEN.
const LOOKED_AT: usize = 500;

/// `status`'s UNSEEN (the newest deliveries looked at, their new steps recorded), and where
/// receipts stop at `noticed` because no transcripts folder is there (said once). `serve`'s
/// observer calls it every second with the same [`Transcripts`], so `seen` is recorded within
/// about a second of its transcript line.
pub fn unseen(
    home: &Path,
    transcripts: &mut Transcripts,
    ledger: &mut baton_ledger::Ledger,
    boxes: &Mailboxes,
    unseen_after: std::time::Duration,
) -> Result<(Vec<Value>, Option<String>), StoreError> {
    let claude = boxes.values().filter(|s| s.kind == Kind::ClaudeTeam);
    let note = claude.map(|s| s.projects_path(home)).find(|p| !p.is_dir()).map(|p| {
        format!(
            "receipts stop at `noticed`: no Claude Code transcripts at {} (set `projects = \"…\"` in the mailbox's table)",
            p.display()
        )
    });
    let ids: Vec<String> =
        ledger.events_named("delivered", None, LOOKED_AT)?.into_iter().map(|(_, id, _)| id).collect();
    if ids.is_empty() {
        return Ok((Vec::new(), note));
    }
    let list = receipt::unseen(&mut Events(ledger), transcripts, &ids, unseen_after)?;
    Ok((list, note))
}

/// Each team task whose status, owner or subject changed since the ledger last saw it, recorded
/// under its id `TEAM#N` as a `mailbox_seen` event (its history, for `show TEAM#N`). Returns
/// how many were recorded.
pub fn record_tasks(home: &Path, ledger: &mut baton_ledger::Ledger, boxes: &Mailboxes) -> Result<usize, StoreError> {
    let mut changed = Vec::new();
    for s in boxes.values().filter(|s| s.kind == Kind::ClaudeTeam) {
        let tasks_root = s.tasks_path(home);
        for team in crate::claude::scan(&crate::claude::teams_folder(&s.resolved_path(home))) {
            for t in crate::tasks::read(&tasks_root, &team.name).tasks {
                let id = format!("{}#{}", team.name, t.id);
                let now = t.to_json();
                let last = ledger.events(&id)?.into_iter().rev().find(|e| e.event == "mailbox_seen");
                let same = last.is_some_and(|e| {
                    ["status", "owner", "subject", "blocks", "blocked_by"].iter().all(|k| e.detail[k] == now[k])
                });
                if !same {
                    changed.push((id, now));
                }
            }
        }
    }
    if changed.is_empty() {
        return Ok(0);
    }
    let at = crate::when::rfc3339(time::OffsetDateTime::now_utc());
    ledger.batch(|w| changed.iter().try_for_each(|(id, detail)| w.event(id, &at, "mailbox_seen", detail)))?;
    Ok(changed.len())
}

/// The task `TEAM#N` in the configured claude-team mailboxes, if there is one.
pub fn find_task(home: &Path, boxes: &Mailboxes, reference: &str) -> Option<crate::tasks::Task> {
    let (team, n) = crate::tasks::parse_ref(reference)?;
    boxes
        .values()
        .filter(|s| s.kind == Kind::ClaudeTeam)
        .find_map(|s| crate::tasks::read(&s.tasks_path(home), team).get(n).cloned())
}
