//! `baton inbox AGENT`: the handoffs waiting for an agent (TASKs to do, RETURNs to read),
//! oldest first. It reads only: nothing is moved or changed.
use std::os::unix::ffi::OsStrExt;

use anyhow::Result;
use serde_json::{Value, json};

use baton_handoff::names;

use super::{FOLDERS, Tree, age_secs};
use baton_cli::Ctx;
use baton_cli::text::esc;

#[derive(clap::Args, Debug)]
pub struct InboxArgs {
    /// The agent (its folder under the handoffs root), or `TEAM/AGENT` (a Claude Code team's
    /// agent: the messages in its inbox).
    pub agent: String,
    #[arg(long)]
    pub json: bool,
    /// Also what the agent already filed (02_processed/, 03_failed/).
    #[arg(long)]
    pub all: bool,
}

/// The entries of an agent's folders, oldest first. Each has `state` (`waiting`, `processed`,
/// `failed`), `kind`, `id`, `from`, `title`, `created_at`, `age_secs`, `age` (for people),
/// `file` and `body` (the whole JSON body); a RETURN also
/// `in_reply_to` and `status`. A file that is not a valid handoff has `problem` instead.
pub fn list(tree: &Tree, agent: &str, all: bool) -> Result<(String, Vec<Value>)> {
    if names::team_agent(agent).is_some() {
        return team_inbox(tree, agent, all);
    }
    let folder = tree.agent(agent, false)?;
    let mut out = Vec::new();
    for (i, sub) in FOLDERS.iter().enumerate() {
        if i > 0 && !all {
            break;
        }
        let state = ["waiting", "processed", "failed"][i];
        let dir = tree.root.join(&folder).join(sub);
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name();
            match names::classify(name.as_bytes()) {
                names::Entry::Candidate => {}
                names::Entry::Ignored => continue,
                names::Entry::SyncConflict(why) => {
                    out.push(json!({"state": state, "file": e.path(), "problem": format!("not run: {why}")}));
                    continue;
                }
            }
            let bytes = match baton_fs::read_capped(&e.path(), 16 << 20) {
                Ok(b) => b,
                Err(err) => {
                    out.push(json!({"state": state, "file": e.path(), "problem": err.to_string()}));
                    continue;
                }
            };
            let v = match baton_handoff::parse(&bytes) {
                Ok((_, v)) => v,
                Err(err) => {
                    out.push(json!({"state": state, "file": e.path(), "problem": err.message}));
                    continue;
                }
            };
            let s = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
            let created = v.get("created_at").and_then(Value::as_str).unwrap_or_default();
            let mut item = json!({
                "state": state,
                "kind": s("kind"),
                "id": s("id"),
                "from": s("from"),
                "title": s("title"),
                "created_at": created,
                "age_secs": age_secs(created),
                "age": super::human_age(age_secs(created)),
                "file": e.path(),
                "body": v,
            });
            if v["kind"] == "return" {
                item["in_reply_to"] = s("in_reply_to");
                item["status"] = s("status");
            } else {
                for k in ["to", "plugin", "action", "priority", "deadline", "reply_to"] {
                    if let Some(x) = v.get(k) {
                        item[k] = x.clone();
                    }
                }
            }
            out.push(item);
        }
    }
    // Oldest first; files without a body time (invalid) by name, after the dated ones.
    let key = |v: &Value| {
        let t =
            v["created_at"].as_str().and_then(baton_handoff::stamp::parse_rfc3339).map(|t| t.unix_timestamp_nanos());
        (t.is_none(), t.unwrap_or(0), v["file"].as_str().unwrap_or_default().to_string())
    };
    out.sort_by_key(key);
    Ok((folder, out))
}

/// `inbox TEAM/AGENT`: the messages in that agent's Claude Code inbox, oldest first, each with
/// its `cm-` id and `state` (`unread`, or `read` once Claude Code took it; with `all`, read ones
/// too), a RETURN baton appended there as `kind: "return"` with its `in_reply_to` and `status`.
/// The inbox file is only read.
fn team_inbox(tree: &Tree, agent: &str, all: bool) -> Result<(String, Vec<Value>)> {
    let r = crate::claude_inbox::recipient(&tree.ctx(), agent, false)?;
    let inbox = baton_mailbox::claude::read_inbox(&r.team, &r.name, &r.inbox);
    let messages = match inbox.messages {
        Ok(m) => m,
        // Not there yet (in the roster, nothing sent): empty, as an empty folder is.
        Err(_) if !r.inbox.exists() => Vec::new(),
        Err(e) => anyhow::bail!("{}: {e}", r.inbox.display()),
    };
    let mut out = Vec::new();
    for m in messages.iter().filter(|m| all || !m.read) {
        let id = baton_mailbox::claude::message_id(agent, &m.from, &m.timestamp, &m.text);
        let created = m.at.map(baton_mailbox::when::rfc3339).unwrap_or_else(|| m.timestamp.clone());
        let mut item = json!({
            "state": if m.read { "read" } else { "unread" },
            "kind": "message",
            "id": id,
            "from": m.from,
            "title": m.title,
            "created_at": created,
            "age_secs": age_secs(&created),
            "age": super::human_age(age_secs(&created)),
            "file": r.inbox,
            "text": m.text,
        });
        // A RETURN baton appended (its text is the RETURN's JSON).
        if let Ok(v) = serde_json::from_str::<Value>(&m.text)
            && v["kind"] == "return"
        {
            item["kind"] = json!("return");
            item["in_reply_to"] = v["in_reply_to"].clone();
            item["status"] = v["status"].clone();
            item["body"] = v;
        }
        out.push(item);
    }
    Ok((agent.to_string(), out))
}

pub fn run(ctx: &Ctx, a: InboxArgs) -> Result<i32> {
    let tree = Tree::open(ctx)?;
    let (folder, items) = list(&tree, &a.agent, a.all)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!({"agent": folder, "handoffs": items}))?);
        return Ok(0);
    }
    if names::team_agent(&folder).is_some() {
        let unread = items.iter().filter(|i| i["state"] == "unread").count();
        let file = items.first().and_then(|i| i["file"].as_str()).unwrap_or("its Claude Code inbox");
        println!("{folder}: {unread} unread in {file}");
    } else {
        let waiting = items.iter().filter(|i| i["state"] == "waiting").count();
        println!("{folder}: {waiting} waiting in {}", tree.root.join(&folder).join(FOLDERS[0]).display());
    }
    for i in &items {
        let file = i["file"].as_str().unwrap_or_default();
        let file = std::path::Path::new(file).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(p) = i["problem"].as_str() {
            println!("  {:<9} INVALID  {}: {}", i["state"].as_str().unwrap_or(""), esc(&file), esc(p));
            continue;
        }
        let what = match i["kind"].as_str() {
            Some("message") => "MESSAGE".to_string(),
            Some("return") => format!(
                "RETURN {} for {}",
                i["status"].as_str().unwrap_or("?"),
                i["in_reply_to"].as_str().unwrap_or("?")
            ),
            _ => "TASK".to_string(),
        };
        println!(
            "  {:<9} {:<8} {}  from {}  {}  {:?}  ({})",
            i["state"].as_str().unwrap_or(""),
            what,
            esc(i["id"].as_str().unwrap_or("")),
            esc(i["from"].as_str().unwrap_or("")),
            super::human_age(i["age_secs"].as_i64().unwrap_or(0)),
            i["title"].as_str().unwrap_or(""),
            esc(&file)
        );
    }
    Ok(0)
}
