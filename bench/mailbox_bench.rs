//! Mailboxes: delivery into a Claude Code inbox already holding 1,000 messages (p50/p99 of
//! one append under the lock, fsync included), against the same file written with no lock
//! at all (the disk's own cost); and reading 100 teams of 10 inboxes as `status` does.
//!
//! `CARGO_TARGET_DIR=target-rel cargo run --release -p baton-mailbox --example mailbox_bench -- 200`
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)
use std::path::Path;
use std::time::Instant;

use baton_mailbox::deliver::{Outgoing, deliver};
use baton_mailbox::settings::{Kind, MailboxSettings};

fn inbox_of(n: usize) -> String {
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"from": "lead", "text": format!("message {i}: {}", "x".repeat(200)), "summary": format!("m{i}"), "timestamp": "2026-02-22T16:25:22.959Z", "read": i % 3 != 0}))
        .collect();
    serde_json::to_string_pretty(&items).unwrap()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let d = tempfile::tempdir().unwrap();
    let inbox = d.path().join("worker.json");
    let base = inbox_of(1000);
    let (mut locked, mut plain) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        // Each round starts again from 1,000 messages.
        std::fs::write(&inbox, &base).unwrap();
        let msg = Outgoing {
            from: "baton".into(),
            text: format!("round {i}"),
            summary: Some("bench".into()),
            timestamp: "2026-02-22T16:25:22.959Z".into(),
        };
        let t = Instant::now();
        deliver(&inbox, &msg).unwrap();
        locked.push(t.elapsed().as_secs_f64() * 1e3);
        // Reference: read, append and write the same file in place, no lock, no temp, no fsync.
        std::fs::write(&inbox, &base).unwrap();
        let t = Instant::now();
        let mut v: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
        v.push(serde_json::json!({"from": "baton", "text": "x", "timestamp": "t", "read": false}));
        std::fs::write(&inbox, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        plain.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "delivery into 1000 messages, {rounds} rounds: p50 {:.2} ms, p99 {:.2} ms; reference (no lock, no fsync) p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut locked.clone(), 0.5),
        pct(&mut locked, 0.99),
        pct(&mut plain.clone(), 0.5),
        pct(&mut plain, 0.99)
    );
    let teams = d.path().join("teams");
    make_teams(&teams, 100, 10, 20);
    let s = MailboxSettings::new(Kind::ClaudeTeam, &teams);
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let m = baton_mailbox::report::read_one("team", &s, Path::new("/"));
        count = m.agents.iter().map(|a| a.items.len()).sum();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("read 100 teams x 10 inboxes ({count} messages): median {:.1} ms", pct(&mut times, 0.5));
}

/// `teams` teams of `inboxes` inboxes of `messages` messages each, with a config.json.
pub fn make_teams(root: &Path, teams: usize, inboxes: usize, messages: usize) {
    for t in 0..teams {
        let dir = root.join(format!("team-{t}")).join("inboxes");
        std::fs::create_dir_all(&dir).unwrap();
        let members: Vec<serde_json::Value> = (0..inboxes).map(|a| serde_json::json!({"name": format!("agent-{a}"), "agentType": "general-purpose", "model": "haiku", "cwd": "/src"})).collect();
        std::fs::write(dir.parent().unwrap().join("config.json"), serde_json::json!({"name": format!("team-{t}"), "leadAgentId": format!("agent-0@team-{t}"), "members": members}).to_string()).unwrap();
        for a in 0..inboxes {
            std::fs::write(dir.join(format!("agent-{a}.json")), inbox_of(messages)).unwrap();
        }
    }
}
