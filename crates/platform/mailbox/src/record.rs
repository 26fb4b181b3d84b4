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

/// Where an answer to the Claude inbox message `id` (`cm-…`) goes, as the ledger knows the
/// message (its `delivered` event when baton wrote it, else the `mailbox_seen` event of the
/// read that found it): `(to, from)`, the sender as `TEAM/AGENT` and the recipient who answers
/// as `TEAM/AGENT`. `None`: no Claude inbox message with that id was delivered or read.
pub fn answer_route(ledger: &baton_ledger::Ledger, id: &str) -> Result<Option<(String, String)>, StoreError> {
    let events = ledger.events(id)?;
    let found = events.iter().rev().find(|e| {
        e.event == "delivered" || (e.event == "mailbox_seen" && e.detail["kind"] == Kind::ClaudeTeam.as_str())
    });
    let Some(e) = found else { return Ok(None) };
    let (agent, from) = (e.detail["agent"].as_str().unwrap_or_default(), e.detail["from"].as_str().unwrap_or_default());
    let Some((team, _)) = agent.split_once('/') else { return Ok(None) };
    if from.is_empty() {
        return Ok(None);
    }
    // Inside a team Claude Code writes the plain name; across teams, `TEAM/AGENT`.
    let to = if from.contains('/') { from.to_string() } else { format!("{team}/{from}") };
    Ok(Some((to, agent.to_string())))
}

/// The most deliveries [`seen_counts`] reads: status stays quick in a home with years of them.
const COUNTED: usize = 1_000_000;

/// Per Claude inbox agent (`TEAM/AGENT`), how many of baton's deliveries into its inbox its
/// model was seen to receive: deliveries with a `delivery_seen` event ([`crate::receipt`]).
/// `status` gives each claude-team agent its `counts.seen` from it.
pub fn seen_counts(ledger: &baton_ledger::Ledger) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
    let seen: std::collections::HashSet<String> =
        ledger.events_named("delivery_seen", None, COUNTED)?.into_iter().map(|(_, id, _)| id).collect();
    let mut out = std::collections::BTreeMap::new();
    if seen.is_empty() {
        return Ok(out);
    }
    for (_, id, e) in ledger.events_named("delivered", None, COUNTED)? {
        if seen.contains(&id) {
            *out.entry(e.detail["agent"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    Ok(out)
}

/// Gives each agent of the claude-team mailboxes in `boxes` its `counts.seen` ([`seen_counts`]).
pub fn count_seen(ledger: &baton_ledger::Ledger, boxes: &mut [crate::report::Mailbox]) -> Result<(), StoreError> {
    if !boxes.iter().any(|m| m.kind == Kind::ClaudeTeam) {
        return Ok(());
    }
    let seen = seen_counts(ledger)?;
    for a in boxes.iter_mut().filter(|m| m.kind == Kind::ClaudeTeam).flat_map(|m| m.agents.iter_mut()) {
        a.seen = Some(seen.get(&a.agent).copied().unwrap_or(0));
    }
    Ok(())
}

/// The delivery state of each Claude inbox message in `boxes`, by id, as the page of teams
/// shows it beside the message, without reading a transcript: for a message baton delivered,
/// the furthest state its ledger recorded (`serve` and `status` record each step as they look);
/// for one baton did not deliver, only what its inbox says (`read` is `noticed`, unread is
/// `written`): baton knows no more of it.
pub fn delivery_states(
    ledger: &baton_ledger::Ledger,
    boxes: &[crate::report::Mailbox],
) -> Result<std::collections::BTreeMap<String, receipt::State>, StoreError> {
    let mut out = std::collections::BTreeMap::new();
    for i in boxes.iter().filter(|m| m.kind == Kind::ClaudeTeam).flat_map(|m| &m.agents).flat_map(|a| &a.items) {
        let events = ledger.events(&i.id)?;
        let state = if events.iter().any(|e| e.event == "delivered") {
            match receipt::Recorded::from_events(events.iter().map(|e| e.event.as_str())).state() {
                // Its read flag set since the ledger last looked: noticed, already.
                receipt::State::Written if i.state == "read" => receipt::State::Noticed,
                s => s,
            }
        } else {
            match i.state {
                "read" => receipt::State::Noticed,
                "unread" => receipt::State::Written,
                _ => continue,
            }
        };
        out.insert(i.id.to_string(), state);
    }
    Ok(out)
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

/// One recipient of a mailbox message as the ledger saw it: the agent whose mailbox listed it
/// open or unread, and its copy there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub agent: String,
    pub path: std::path::PathBuf,
}

/// The recipients of mailbox message `id`, as the ledger recorded them when first seen: each
/// agent that listed it open or unread (an mcp_agent_mail message is in each recipient's inbox),
/// else the agent whose mailbox had it (a message sent from there), else the inbox it was
/// delivered into. Empty: the ledger never saw it.
pub fn recipients(ledger: &baton_ledger::Ledger, id: &str) -> Result<Vec<Recipient>, StoreError> {
    let events = ledger.events(id)?;
    let of = |e: &baton_ledger::Event, path: &str| Recipient {
        agent: e.detail["agent"].as_str().unwrap_or_default().to_string(),
        path: e.detail[path].as_str().unwrap_or_default().into(),
    };
    let mut out: Vec<Recipient> = Vec::new();
    for e in events.iter().filter(|e| e.event == "mailbox_seen") {
        let r = of(e, "path");
        if matches!(e.detail["state"].as_str(), Some("open" | "unread" | "read" | "done"))
            && !out.iter().any(|o| o.agent == r.agent)
        {
            out.push(r);
        }
    }
    if out.is_empty() {
        let first = events.iter().find(|e| e.event == "mailbox_seen").map(|e| of(e, "path"));
        let delivered = events.iter().find(|e| e.event == "delivered").map(|e| of(e, "inbox"));
        out.extend(first.or(delivered));
    }
    Ok(out)
}

/// Who acknowledged mailbox message `id`: `None` when an acknowledgement named no recipient
/// (recorded before acknowledgements were per recipient: it stands for all of them), else the
/// recipients named.
fn acknowledged_by(events: &[baton_ledger::Event]) -> Option<std::collections::BTreeSet<String>> {
    let mut who = std::collections::BTreeSet::new();
    for e in events.iter().filter(|e| e.event == "acknowledged") {
        match e.detail["recipient"].as_str() {
            Some(r) => {
                who.insert(r.to_string());
            }
            None => return None,
        }
    }
    Some(who)
}

/// Records that each of `who` acknowledged mailbox message `id` (an `acknowledged` event naming
/// the `recipient`; the mailbox's files are left as they are). Returns, for each, whether it had
/// acknowledged it before.
pub fn acknowledge(ledger: &mut baton_ledger::Ledger, id: &str, who: &[Recipient]) -> Result<Vec<bool>, StoreError> {
    let by = acknowledged_by(&ledger.events(id)?);
    let already: Vec<bool> = who.iter().map(|r| by.as_ref().is_none_or(|b| b.contains(&r.agent))).collect();
    let now = crate::when::rfc3339(time::OffsetDateTime::now_utc());
    let new: Vec<&Recipient> = who.iter().zip(&already).filter(|(_, a)| !**a).map(|(r, _)| r).collect();
    if !new.is_empty() {
        ledger.batch(|w| {
            new.iter().try_for_each(|r| {
                let detail =
                    serde_json::json!({"agent": r.agent, "recipient": r.agent, "file": r.path, "mailbox": true});
                w.event(id, &now, "acknowledged", &detail)
            })
        })?;
    }
    Ok(already)
}

/// Clears `ack_required` on each item its agent acknowledged (`baton ack ID`, per recipient):
/// a message acknowledged by one recipient still asks the others. One ledger look per message.
pub fn acknowledgements(ledger: &baton_ledger::Ledger, boxes: &mut [crate::report::Mailbox]) -> Result<(), StoreError> {
    let mut by: std::collections::HashMap<String, Option<std::collections::BTreeSet<String>>> = Default::default();
    for a in boxes.iter_mut().flat_map(|m| m.agents.iter_mut()) {
        for i in a.items.iter_mut().filter(|i| i.ack_required) {
            if !by.contains_key(&*i.id) {
                by.insert(i.id.to_string(), acknowledged_by(&ledger.events(&i.id)?));
            }
            if by[&*i.id].as_ref().is_none_or(|who| who.contains(&a.agent)) {
                i.ack_required = false;
            }
        }
    }
    Ok(())
}
