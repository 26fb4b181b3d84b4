//! A handoff between agents on the task and conversation pages. baton did not run it, so the
//! ledger has no row for it, and `serve` observed only what landed in an inbox while it ran: a
//! TASK filed before that is found in the agents' folders instead, as `baton show` finds it,
//! and its state is said the way `baton show` and `baton status` say it.
use std::path::PathBuf;

use baton_ledger::Ledger;
use serde_json::{Value, json};

use crate::App;

/// The folders of an agent a handoff can be in.
const FOLDERS: [&str; 3] = [baton_home::config::INBOX, "02_processed", "03_failed"];

/// A TASK between agents, its RETURN, and its state.
pub(crate) struct Between {
    pub task: (PathBuf, Value),
    pub ret: Option<(PathBuf, Value)>,
    /// `open` (in its recipient's inbox), `taken` (moved out of it, not answered), `answered
    /// (STATUS), not yet acknowledged`, or `answered (STATUS), acknowledged`.
    pub state: String,
}

impl Between {
    /// Its summary for the task page: who asked whom, what, and where it stands.
    pub fn to_json(&self) -> Value {
        let t = &self.task.1;
        json!({"from": t["from"], "to": t["to"], "title": t["title"], "created_at": t["created_at"],
               "body": t["body"], "state": self.state, "file": self.task.0})
    }
}

/// The TASK between agents with `id`, if one is in an agent's folders: found by name (what
/// `send` and the agents write carries the id), its RETURN as the ledger observed it in an
/// inbox or else in the sender's folders, and its state.
pub(crate) fn find(app: &App, ledger: &Ledger, id: &str) -> Option<Between> {
    let task = task_file(app, id)?;
    let ret = observed_return(app, ledger, id).or_else(|| {
        let sender = task.1["reply_to"].as_str().or(task.1["from"].as_str())?;
        return_in(app, sender, id)
    });
    let acknowledged = ledger.events(id).ok()?.iter().any(|e| e.event == "acknowledged");
    let status = |r: &Value| r["status"].as_str().unwrap_or("-").to_string();
    let state = match &ret {
        Some((_, r)) if acknowledged => format!("answered ({}), acknowledged", status(r)),
        Some((_, r)) => format!("answered ({}), not yet acknowledged", status(r)),
        None if task.0.parent().is_some_and(|d| d.ends_with(baton_home::config::INBOX)) => "open".into(),
        None => "taken".into(),
    };
    Some(Between { task, ret, state })
}

/// Every agent's folder under the handoffs root (baton's own included: its files carry ids the
/// ledger knows, and are found there first).
fn agents(app: &App) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(&app.paths.handoffs) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().filter(|n| !n.starts_with('.')).map(str::to_string))
        .collect()
}

/// The first file in `agent`'s folders whose name passes `name_ok` and whose body passes `ok`.
fn first_in(
    app: &App,
    agent: &str,
    name_ok: impl Fn(&str) -> bool,
    ok: impl Fn(&Value) -> bool,
) -> Option<(PathBuf, Value)> {
    FOLDERS.iter().find_map(|f| {
        let entries = std::fs::read_dir(app.paths.agent(agent).join(f)).ok()?;
        entries.flatten().find_map(|e| {
            let name = e.file_name();
            let wanted = name.to_str().is_some_and(|n| n.ends_with(".json") && !n.starts_with('.') && name_ok(n));
            wanted.then_some(())?;
            crate::files::read_json(app, &e.path()).filter(&ok).map(|v| (e.path(), v))
        })
    })
}

fn task_file(app: &App, id: &str) -> Option<(PathBuf, Value)> {
    agents(app).iter().find_map(|a| first_in(app, a, |n| n.contains(id), |v| v["id"] == id && v["kind"] == "task"))
}

/// The RETURN to `id` as `serve` observed it landing in an inbox, if it is still where it landed
/// or was filed.
fn observed_return(app: &App, ledger: &Ledger, id: &str) -> Option<(PathBuf, Value)> {
    let seen = ledger.stats().observed_of(id, 20).ok()?;
    seen.iter().filter(|(o, _)| o.id != id && o.in_reply_to.as_deref() == Some(id)).find_map(|(o, _)| {
        crate::files::find_in_agent(app, &o.agent, &[&o.file_name], |v| v["in_reply_to"] == id && v["kind"] == "return")
    })
}

/// A RETURN to `id` in `agent`'s folders: RETURN files only (their names say so), each read.
fn return_in(app: &App, agent: &str, id: &str) -> Option<(PathBuf, Value)> {
    if agent.contains('/') || agent.starts_with('.') {
        return None;
    }
    first_in(app, agent, |n| n.contains("RETURN"), |v| v["in_reply_to"] == id && v["kind"] == "return")
}
