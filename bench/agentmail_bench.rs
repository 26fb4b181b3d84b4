//! Reading an mcp_agent_mail archive as `status` does: 10,000 messages among 20 agents, each
//! written six times as the server writes it (canonical, the sender's outbox, four inboxes:
//! 60,000 files). Read first without an index (every file read; the page cache warm, as the
//! tree was just written), then through the mailbox's index beside a state folder: the first
//! indexed reading makes it, the next `ROUNDS` find nothing changed. The files were just
//! written, so the index made by the first indexed reading distrusts the newest of them (racy,
//! see `crates/platform/mailbox/src/index.rs`) and the second reads those again; the bench
//! waits `RACY` after writing the tree so that the rounds measured are the steady state, and
//! prints what each reading read again and kept.
//!
//! `CARGO_TARGET_DIR=target-rel cargo run --release -p baton-mailbox --example agentmail_bench -- 10000 7 [DIR]`
//!
//! With `DIR`, the tree is written there once and kept: a later run with the same `DIR` reads it
//! as it is (for a profiler that should see only the readings).
#![allow(clippy::disallowed_methods)] // benchmarks make their trees with `create_dir_all` (clippy.toml)
use std::path::Path;
use std::time::Instant;

use baton_mailbox::settings::{Kind, MailboxSettings};

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

/// This thread's time on a CPU so far, in ms (`/proc/thread-self/schedstat`): on a shared
/// machine the wall time of a reading is mostly its wait for a core.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e6)
}

fn main() {
    let messages: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(7);
    let tmp = tempfile::tempdir().unwrap();
    let kept = std::env::args().nth(3).map(std::path::PathBuf::from);
    let root = kept.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let project = root.join("projects/src-app");
    let reuse = kept.is_some() && project.join("messages").is_dir();
    let agents: Vec<String> = (0..20).map(|i| format!("Agent{i:02}")).collect();
    for a in &agents {
        write(
            &project.join(format!("agents/{a}/profile.json")),
            &format!(r#"{{"name": "{a}", "program": "cli", "model": "m"}}"#),
        );
    }
    let mut files = 0;
    for id in (1..=messages).filter(|_| !reuse) {
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
    if reuse {
        files = messages * 6;
    }
    let s = MailboxSettings::new(Kind::AgentMail, &root);
    // Files older than the racy window, as an archive's files are when nothing is writing.
    std::thread::sleep(std::time::Duration::from_nanos(baton_mailbox::index::RACY as u64 + 500_000_000));
    let state = tempfile::tempdir().unwrap();
    let show = |what: &str, m: &baton_mailbox::report::Mailbox, ms: f64, cpu: f64| {
        let items: usize = m.agents.iter().map(|a| a.items.len()).sum();
        let c = m.index.as_ref().map(|(_, c)| *c).unwrap_or_default();
        println!(
            "{what}: {messages} messages, {files} files, {} agents, {items} items in {ms:.1} ms, {cpu:.1} ms on a CPU (files read {}, kept {}; folders listed {}, kept {}; index written {})",
            m.agents.len(),
            c.read,
            c.kept,
            c.listed,
            c.dirs_kept,
            c.written
        );
    };
    let (t, c) = (Instant::now(), cpu_ms());
    let m = baton_mailbox::report::read_one("mail", &s, &root);
    show("no index", &m, t.elapsed().as_secs_f64() * 1e3, cpu_ms() - c);
    drop(m);
    let (mut unchanged, mut unchanged_cpu) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let (t, c) = (Instant::now(), cpu_ms());
        let m = baton_mailbox::report::read_one_indexed("mail", &s, &root, Some(state.path()));
        let (ms, cpu) = (t.elapsed().as_secs_f64() * 1e3, cpu_ms() - c);
        show(if round == 0 { "first, making the index" } else { "unchanged" }, &m, ms, cpu);
        if round > 0 {
            unchanged.push(ms);
            unchanged_cpu.push(cpu);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    if !unchanged.is_empty() {
        let ix = std::fs::read_dir(state.path()).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum::<u64>();
        let (w, wmin, wmax) = median(&mut unchanged);
        let (c, cmin, cmax) = median(&mut unchanged_cpu);
        println!(
            "unchanged: median {w:.1} ms ({wmin:.1}-{wmax:.1}), on a CPU {c:.1} ms ({cmin:.1}-{cmax:.1}), over {} rounds; index {:.1} MB",
            unchanged.len(),
            ix as f64 / 1e6
        );
    }
}
