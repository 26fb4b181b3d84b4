//! Reading an mcp_agent_mail archive as `status` does: 10,000 messages among 20 agents, each
//! written six times as the server writes it (canonical, the sender's outbox, four inboxes:
//! 60,000 files), read twice (the second read finds the files in the page cache).
//!
//! `CARGO_TARGET_DIR=target-rel cargo run --release -p baton-mailbox --example agentmail_bench -- 10000`
#![allow(clippy::disallowed_methods)] // benchmarks make their trees with `create_dir_all` (clippy.toml)
use std::path::Path;
use std::time::Instant;

use baton_mailbox::settings::{Kind, MailboxSettings};

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

fn main() {
    let messages: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("projects/src-app");
    let agents: Vec<String> = (0..20).map(|i| format!("Agent{i:02}")).collect();
    for a in &agents {
        write(
            &project.join(format!("agents/{a}/profile.json")),
            &format!(r#"{{"name": "{a}", "program": "cli", "model": "m"}}"#),
        );
    }
    let mut files = 0;
    for id in 1..=messages {
        let from = &agents[id % 20];
        let to: Vec<&String> = (1..=4).map(|k| &agents[(id + k) % 20]).collect();
        let month = 1 + id % 12;
        let created = format!("2026-{month:02}-18T09:30:00.000000+00:00");
        let fm = serde_json::json!({
            "ack_required": id % 5 == 0, "attachments": [], "bcc": [], "cc": [], "created": created,
            "from": from, "id": id, "importance": "normal", "project": "/src/app", "project_slug": "src-app",
            "subject": format!("Message {id}"), "thread_id": format!("T-{}", id / 10), "to": to,
        });
        let text =
            format!("---json\n{}\n---\n\n{}\n", serde_json::to_string_pretty(&fm).unwrap(), "Body text. ".repeat(40));
        let name = format!("2026-{month:02}-18T09-30-00Z__message-{id}__{id}.md");
        let dir = format!("2026/{month:02}");
        write(&project.join("messages").join(&dir).join(&name), &text);
        write(&project.join(format!("agents/{from}/outbox")).join(&dir).join(&name), &text);
        for r in &to {
            write(&project.join(format!("agents/{r}/inbox")).join(&dir).join(&name), &text);
        }
        files += 6;
    }
    let s = MailboxSettings::new(Kind::AgentMail, d.path());
    for round in ["first", "second"] {
        let t = Instant::now();
        let m = baton_mailbox::report::read_one("mail", &s, d.path());
        let items: usize = m.agents.iter().map(|a| a.items.len()).sum();
        println!(
            "{round} read: {messages} messages, {files} files, {} agents, {items} items in {:.0} ms",
            m.agents.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
