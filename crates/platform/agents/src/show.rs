//! `baton show ID`: one handoff's record, history, plugin log and body, for every id baton has
//! seen (a TASK it ran, one agent sent another, a RETURN, a mailbox message); a file name finds
//! a rejected or tracked file.
use anyhow::{Result, bail};
use serde_json::{Value, json};

use baton_cli::Ctx;
use baton_cli::text::esc;

/// `baton show ID`: what the ledger knows of a handoff (its row, history and plugin log) and
/// its body, for every id baton has seen: a TASK it ran, one agent sent another, a RETURN; a
/// file name finds a rejected or tracked file.
pub fn show(ctx: &Ctx, id: &str, as_json: bool) -> Result<i32> {
    let mut ledger = ctx.connect()?;
    // A message in a mailbox not seen yet: recorded now, so it is found below.
    if let Ok(boxes) = ctx.config().map_err(anyhow::Error::from).and_then(|cfg| baton_cli::mailboxes::configured(&cfg))
    {
        baton_cli::mailboxes::observe(ctx, &mut ledger, &boxes)?;
        baton_mailbox::record::record_tasks(&ctx.home, &mut ledger, &boxes).map_err(|e| anyhow::anyhow!("{e}"))?;
        // A Claude Code team's task, `TEAM#N`: the task and its history.
        if let Some(t) = baton_mailbox::record::find_task(&ctx.home, &boxes, id) {
            return show_task(&ledger, id, &t, as_json);
        }
    }
    let receipt = Receipt::of(ctx, &mut ledger, id)?;
    let task = ledger.task(id)?;
    let events = ledger.events(id)?;
    let logs = ledger.logs(id)?;
    // The file itself, wherever it is now (an inbox, 02_processed/, 03_failed/): its body.
    let tree = crate::Tree::open(ctx)?;
    let found = tree.find(id, None, &crate::FOLDERS);
    if task.is_none() && events.is_empty() && found.is_none() {
        if let Some(code) = baton_cli::tracking::show_file(ctx, id, as_json)? {
            return Ok(code);
        }
        bail!(
            "no handoff with id {id:?} in {} (ids are the `id` field of the JSON body), and no file of that name in 03_failed/ or an agent's folder",
            ctx.location.shown()
        );
    }
    let (file, body) = match &found {
        Some(f) => (Some(&f.path), Some(&f.body)),
        None => (None, None),
    };
    // Between a RETURN's delivery and the ledger's record of it (a sync and a commit, seconds
    // under load; until the next serve after a crash), the row still says the TASK is in
    // flight. The RETURN in the reply inbox says what happened; `show` says it is there.
    let answered = match &task {
        Some(t) if t.state.is_in_flight() => crate::wait::locate(ctx, &tree, id).ok().and_then(|mut w| w.look()),
        _ => None,
    };
    let answered_status = answered.as_ref().and_then(|(_, r)| r.get("status")).and_then(Value::as_str);
    let between = match (&task, &found) {
        (None, Some(f)) if f.body.get("kind").and_then(Value::as_str) == Some("task") => {
            Some(between_agents(ctx, &tree, id, f, &events))
        }
        _ => None,
    };
    let asking = open_request(task.as_ref(), &events);
    if as_json {
        let mut shown = json!({"task": task, "events": events, "logs": logs, "file": file, "body": body});
        if let Some(r) = &asking {
            shown["input_request"] = r.clone();
        }
        if let Some(state) = &between {
            shown["state"] = json!(state);
        }
        receipt.add_to(&mut shown, &events);
        if let Some((path, _)) = &answered {
            shown["delivered_return"] = json!({"file": path, "status": answered_status});
        }
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(0);
    }
    receipt.print(id, &events);
    if task.is_none()
        && let Some(f) = &found
    {
        let b = &f.body;
        let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        println!("{}  {:?}", field("id"), field("title"));
        println!(
            "  {} from {} to {}   in {}/{}",
            field("kind"),
            esc(&field("from")),
            esc(&field("to")),
            f.agent,
            f.folder
        );
        if let Some(state) = &between {
            println!("  state {state}");
        }
    }
    if let Some(t) = &task {
        println!("{}  {:?}", t.id, t.title);
        println!(
            "  from {} → reply to {}   plugin {}/{}",
            esc(&t.sender),
            esc(&t.reply_to),
            esc(t.plugin.as_deref().unwrap_or("-")),
            esc(t.action.as_deref().unwrap_or("-"))
        );
        println!(
            "  state {}   attempts {}   {}",
            t.state,
            t.attempts,
            t.error_code.as_deref().map(|c| format!("error {c}")).unwrap_or_default()
        );
        asking.iter().for_each(|r| print_request(&t.id, r));
        if let Some(m) = &t.error_message {
            // A trap quotes the plugin's last stderr lines (a traceback): one line each.
            let mut lines = m.lines();
            println!("  error: {}", esc(lines.next().unwrap_or("")));
            for l in lines {
                println!("         {}", esc(l));
            }
        }
        if let Some(r) = &t.return_name {
            println!("  RETURN: {}", esc(r));
        }
        if let Some((path, _)) = &answered {
            println!(
                "  its RETURN ({}) is delivered, and the ledger has not recorded it yet: {}",
                answered_status.unwrap_or("-"),
                esc(&path.to_string_lossy())
            );
        }
    }
    println!("history:");
    for e in &events {
        let detail = if e.detail == Value::Object(Default::default()) { String::new() } else { e.detail.to_string() };
        println!("  {}  {:<16} {}", e.at, e.event, esc(&detail));
    }
    if !logs.is_empty() {
        println!("plugin log:");
        for l in &logs {
            println!("  {}  {:<8} {}", l.at, esc(&l.level), esc(&l.message));
        }
    }
    if let Some(f) = &found {
        println!("file: {}", esc(&f.path.to_string_lossy()));
        println!("body:");
        for line in serde_json::to_string_pretty(&f.body)?.lines() {
            println!("  {}", esc(line));
        }
    }
    Ok(0)
}

/// A Claude inbox message's receipt, as `show` gives it: its delivery state (brought up to
/// date), when its recipient's model was seen to receive it, and the team task it is about.
struct Receipt {
    delivery: Option<&'static str>,
    seen: Option<Value>,
}

impl Receipt {
    fn of(ctx: &Ctx, ledger: &mut baton_ledger::Ledger, id: &str) -> Result<Receipt> {
        let mut transcripts = crate::claude_inbox::transcripts(ctx);
        let delivery = crate::claude_inbox::delivery(ctx, ledger, &mut transcripts, id)?.map(|l| l.state.as_str());
        let seen = crate::claude_inbox::seen_detail(ledger, id)?;
        Ok(Receipt { delivery, seen })
    }

    /// A message sent with `--claude-task`: the team task it is about.
    fn claude_task(events: &[baton_ledger::Event]) -> Option<&str> {
        events.iter().find(|e| e.event == "delivered").and_then(|e| e.detail["claude_task"].as_str())
    }

    fn add_to(&self, shown: &mut Value, events: &[baton_ledger::Event]) {
        if let Some(d) = self.delivery {
            shown["delivery"] = json!(d);
        }
        if let Some(t) = Self::claude_task(events) {
            shown["claude_task"] = json!(t);
        }
        if let Some(seen) = &self.seen {
            shown["seen_at"] = seen["seen_at"].clone();
            shown["transcript"] = seen["transcript"].clone();
        }
    }

    fn print(&self, id: &str, events: &[baton_ledger::Event]) {
        if let Some(d) = self.delivery {
            match self.seen.as_ref().and_then(|s| s["seen_at"].as_str()) {
                Some(at) => println!("{id}  delivery {d} (seen at {at})"),
                None => println!("{id}  delivery {d}"),
            }
        }
        if let Some(t) = Self::claude_task(events) {
            println!("  about the team task {t} (baton show {t})");
        }
    }
}

/// The state of a TASK between agents (no ledger row: baton did not run it), from the files:
/// `answered (STATUS), acknowledged` once its sender marked the RETURN read, `answered
/// (STATUS)` while the RETURN waits in the sender's inbox, else `open` in its recipient's inbox
/// or `taken` out of it.
fn between_agents(ctx: &Ctx, tree: &crate::Tree, id: &str, f: &crate::Found, events: &[baton_ledger::Event]) -> String {
    let status_of = |v: &Value| v.get("status").and_then(Value::as_str).unwrap_or("-").to_string();
    if let Some(ack) = events.iter().rev().find(|e| e.event == "acknowledged") {
        let read = ack.detail["file"].as_str().and_then(|p| std::fs::read(p).ok());
        let status = read.and_then(|b| serde_json::from_slice::<Value>(&b).ok()).map(|v| status_of(&v));
        return format!("answered ({}), acknowledged", status.unwrap_or_else(|| "-".into()));
    }
    if let Some((_, ret)) = crate::wait::locate(ctx, tree, id).ok().and_then(|mut w| w.look()) {
        return format!("answered ({}), not yet acknowledged", status_of(&ret));
    }
    if f.folder == baton_home::config::INBOX { "open".into() } else { "taken".into() }
}

/// `show TEAM#N`: a Claude Code team's task (its list's file) and its history (each change of
/// status, owner or subject baton saw, as `mailbox_seen` events), and the messages linked to it
/// (`send --claude-task`, as `message_linked` events).
fn show_task(ledger: &baton_ledger::Ledger, id: &str, t: &baton_mailbox::tasks::Task, as_json: bool) -> Result<i32> {
    let events = ledger.events(id)?;
    let messages: Vec<&str> =
        events.iter().filter(|e| e.event == "message_linked").filter_map(|e| e.detail["message"].as_str()).collect();
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"task": t.to_json(), "events": events, "messages": messages}))?
        );
        return Ok(0);
    }
    println!("{id}  {:?}", t.subject);
    println!("  status {}   owner {}", t.status, esc(t.owner.as_deref().unwrap_or("-")));
    if !t.blocked_by.is_empty() {
        println!("  blocked by {}", t.blocked_by.join(", "));
    }
    if !t.blocks.is_empty() {
        println!("  blocks {}", t.blocks.join(", "));
    }
    if !messages.is_empty() {
        println!("  messages about it: {}", messages.join(", "));
    }
    println!("history:");
    for e in &events {
        println!("  {}  {:<16} {}", e.at, e.event, esc(&e.detail.to_string()));
    }
    println!("file: {}", esc(&t.file.to_string_lossy()));
    Ok(0)
}

/// A TASK that asked back and waits: the question it waits on.
fn open_request(task: Option<&baton_ledger::TaskRow>, events: &[baton_ledger::Event]) -> Option<Value> {
    let t = task.filter(|t| t.state == baton_ledger::TaskState::InputRequired)?;
    baton_pipeline::asking::open_request(events).map(|r| crate::answer::request_json(&t.id, &r))
}

/// The open input request of a TASK that asked back, as `show` prints it.
fn print_request(id: &str, r: &Value) {
    let s = |k: &str| esc(r[k].as_str().unwrap_or(""));
    println!("  input required: `{}` asks {}: {}", s("request_id"), s("to"), s("message"));
    println!("    schema {}", r["input_schema"]);
    println!("    asked {}, expires {}; answer with `baton answer {id} --input JSON`", s("asked_at"), s("expires_at"));
}
