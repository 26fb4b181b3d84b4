//! A conversation: a TASK, its RETURN and what followed, for `GET /api/conversations/{id}` and
//! the page `#/conversation/ID`. Handoffs join a conversation by the links they carry: a TASK's
//! `reply_to` (where its RETURN went), a RETURN's or a reply's `in_reply_to`, a shared
//! `correlation_id`, and a plugin's follow-up TASKs (`ID.f1`, `ID.f2`, …, carrying their
//! parent's correlation id). It starts from any of them and walks those links both ways, so
//! the page of a follow-up shows the TASK that started it too.
use std::collections::{BTreeSet, VecDeque};

use baton_ledger::Ledger;
use serde_json::{Value, json};

use crate::App;

/// The most handoffs one conversation lists (the walk stops there and says so).
const MAX: usize = 200;
/// Follow-ups looked for per TASK (`ID.f1` … ): a plugin emits a handful.
const MAX_FOLLOW_UPS: u32 = 50;

/// What the walk has found: the entries, the ids already visited, and the ids to visit.
struct Walk {
    entries: Vec<Value>,
    seen: BTreeSet<String>,
    queue: VecDeque<(String, &'static str)>,
    correlation: BTreeSet<String>,
}

impl Walk {
    fn visit(&mut self, id: Option<&str>, link: &'static str) {
        if let Some(id) = id.filter(|i| !i.is_empty() && i.len() <= 256)
            && !self.seen.contains(id)
        {
            self.queue.push_back((id.to_string(), link));
        }
    }
}

/// The conversation `id` belongs to, oldest first; `None` when nothing the ledger knows has
/// that id.
pub(crate) fn conversation(app: &App, ledger: &Ledger, id: &str) -> baton_ledger::Result<Option<Value>> {
    let mut w =
        Walk { entries: Vec::new(), seen: BTreeSet::new(), queue: VecDeque::new(), correlation: BTreeSet::new() };
    w.queue.push_back((id.to_string(), "start"));
    while let Some((next, link)) = w.queue.pop_front() {
        if w.entries.len() >= MAX {
            break;
        }
        if !w.seen.insert(next.clone()) {
            continue;
        }
        let before = w.entries.len();
        task(app, ledger, &mut w, &next, link)?;
        observed(ledger, &mut w, &next, link)?;
        // Only where a TASK can be meant (listing the agents' folders is not free).
        if matches!(link, "start" | "in_reply_to") {
            between(app, ledger, &mut w, &next, link);
        }
        if before == w.entries.len() && next == id {
            return Ok(None);
        }
    }
    let truncated = !w.queue.is_empty();
    w.entries.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    w.entries.dedup_by(|a, b| a["kind"] == b["kind"] && a["id"] == b["id"] && a["file"] == b["file"]);
    Ok(Some(json!({
        "id": id, "entries": w.entries, "correlation_ids": w.correlation, "truncated": truncated, "limit": MAX,
    })))
}

/// Baton's own TASK `id`, if it is one: the TASK (its body's `correlation_id` and
/// `in_reply_to`), its RETURN, and its follow-ups.
fn task(app: &App, ledger: &Ledger, w: &mut Walk, id: &str, link: &'static str) -> baton_ledger::Result<()> {
    let Some(t) = ledger.task(id)? else { return Ok(()) };
    let body = crate::data::task_body(app, &t).map(|(_, v)| v);
    let field = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| v[k].as_str()).map(str::to_string);
    let correlation = field(&body, "correlation_id");
    let in_reply_to = field(&body, "in_reply_to");
    w.entries.push(json!({
        "kind": "task", "id": t.id, "from": t.sender, "to": "baton", "reply_to": t.reply_to, "title": t.title,
        "plugin": t.plugin, "action": t.action, "state": t.state, "at": t.claimed_at, "link": link,
        "correlation_id": correlation, "in_reply_to": in_reply_to, "file": t.file_name,
    }));
    if let Some(c) = &correlation {
        w.correlation.insert(c.clone());
    }
    w.visit(correlation.as_deref(), "correlation_id");
    w.visit(in_reply_to.as_deref(), "in_reply_to");
    if let Some((path, r)) = crate::data::return_body(app, &t) {
        w.entries.push(json!({
            "kind": "return", "id": r["id"], "from": r["from"], "to": t.reply_to, "title": r["title"],
            "state": r["status"], "summary": r["summary"], "at": r["created_at"], "link": "reply_to",
            "in_reply_to": r["in_reply_to"], "correlation_id": r["correlation_id"],
            "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
        }));
    }
    for n in 1..=MAX_FOLLOW_UPS {
        let f = baton_runtime::follow_up_id(id, n);
        if ledger.task(&f)?.is_none() && ledger.stats().observed_of(&f, 1)?.is_empty() {
            break;
        }
        w.visit(Some(&f), "follow_up");
    }
    Ok(())
}

/// A TASK between agents whose file `serve` never saw land (filed before it ran): found in
/// the agents' folders, with its RETURN, unless the walk holds them already.
fn between(app: &App, ledger: &Ledger, w: &mut Walk, id: &str, link: &'static str) {
    let has = |w: &Walk, kind: &str, id: &str| w.entries.iter().any(|e| e["kind"] == kind && e["id"] == id);
    if has(w, "task", id) || ledger.task(id).ok().flatten().is_some() {
        return;
    }
    let Some(b) = crate::between::find(app, ledger, id) else { return };
    let name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let t = &b.task.1;
    w.entries.push(json!({
        "kind": "task", "id": id, "from": t["from"], "to": t["to"], "reply_to": t["reply_to"], "title": t["title"],
        "state": b.state, "at": t["created_at"], "link": link, "correlation_id": t["correlation_id"],
        "in_reply_to": t["in_reply_to"], "file": name(&b.task.0),
    }));
    w.visit(t["correlation_id"].as_str(), "correlation_id");
    w.visit(t["in_reply_to"].as_str(), "in_reply_to");
    if let Some((path, r)) = &b.ret
        && !has(w, "return", r["id"].as_str().unwrap_or_default())
    {
        w.entries.push(json!({
            "kind": "return", "id": r["id"], "from": r["from"], "to": r["to"], "title": r["title"],
            "state": r["status"], "summary": r["summary"], "at": r["created_at"], "link": "in_reply_to",
            "in_reply_to": r["in_reply_to"], "correlation_id": r["correlation_id"], "file": name(path),
        }));
    }
}

/// What other agents' inboxes held of `id`: it (a handoff between agents) and the replies to
/// it (`in_reply_to`), whose own replies are walked next.
fn observed(ledger: &Ledger, w: &mut Walk, id: &str, link: &'static str) -> baton_ledger::Result<()> {
    for (o, seen_at) in ledger.stats().observed_of(id, MAX as i64)? {
        let is_reply = o.id != id;
        w.entries.push(json!({
            "kind": o.kind.to_ascii_lowercase(), "id": o.id, "from": o.sender, "to": o.recipient.clone().unwrap_or_else(|| o.agent.clone()),
            "title": o.title, "at": o.created_at, "seen_at": seen_at, "in_reply_to": o.in_reply_to,
            "link": if is_reply { "in_reply_to" } else { link }, "inbox": o.agent, "file": o.file_name,
        }));
        if is_reply {
            w.visit(Some(&o.id), "in_reply_to");
        }
        w.visit(o.in_reply_to.as_deref(), "in_reply_to");
    }
    Ok(())
}
