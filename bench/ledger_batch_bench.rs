//! The pipeline's write cost on the SQLite ledger: 20,000 TASKs written through `Ledger::batch`
//! in batches of 100, each the statements a handoff's run makes (its claim, its attempt, two
//! events, its answer, its search text), on a fresh file in the temp folder; the median of 5
//! runs. Not a test: run it by hand when the ledger's SQL changes, old commit against new, in
//! the same minutes (issue 84: the ledger moved onto `baton_store::sql`).
//!
//!     cargo run --release -p baton-ledger --example ledger_batch_bench [-- TASKS BATCH RUNS]
use std::time::{Duration, Instant};

use baton_ledger::{Ledger, TaskRow, TaskState};

fn arg(i: usize, default: usize) -> usize {
    std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn row(id: &str) -> TaskRow {
    TaskRow {
        id: id.into(),
        content_hash: format!("sha256:{id}"),
        claim: format!("claim-{id}"),
        file_name: format!("{id}.json"),
        sender: "claude".into(),
        reply_to: "claude".into(),
        plugin: Some("echo".into()),
        action: Some("echo".into()),
        title: format!("Review the change {id}"),
        state: TaskState::Claimed,
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at: "2026-11-29T12:00:00.000Z".into(),
        finished_at: None,
        duration_ms: None,
    }
}

/// One run: a fresh ledger, `tasks` TASKs in batches of `batch`; the time of the writes alone.
fn run(tasks: usize, batch: usize) -> Duration {
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut l = Ledger::open(&dir.path().join("bench.sqlite")).expect("the ledger");
    let detail = serde_json::json!({"agent": "claude", "file": "x.json"});
    let summary = "reviewed the change: two words of the answer";
    let text =
        baton_ledger::search::SearchText { params: Some(&detail), error: None, summary: Some(summary), result: None };
    let started = Instant::now();
    for b in 0..tasks.div_ceil(batch) {
        l.batch(|w| {
            for i in b * batch..((b + 1) * batch).min(tasks) {
                let id = format!("01JD{i:022}");
                w.insert_task(&row(&id))?;
                w.start_attempt(&id, 1)?;
                w.event(&id, "2026-11-29T12:00:00.001Z", "claimed", &detail)?;
                w.event(&id, "2026-11-29T12:00:00.002Z", "completed", &detail)?;
                w.finish(&id, TaskState::Completed, None, Some("r.json"), "2026-11-29T12:00:00.003Z", 1.5)?;
                w.search_text(&id, &text)?;
            }
            Ok(())
        })
        .expect("a batch");
    }
    started.elapsed()
}

fn main() {
    let (tasks, batch, runs) = (arg(1, 20_000), arg(2, 100), arg(3, 5));
    let mut times: Vec<Duration> = (0..runs).map(|_| run(tasks, batch)).collect();
    times.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let all: Vec<String> = times.iter().map(|d| format!("{:.0}", ms(d))).collect();
    println!(
        "{tasks} tasks in batches of {batch}: median {:.0} ms ({:.1} µs a task), runs {} ms",
        ms(&times[times.len() / 2]),
        ms(&times[times.len() / 2]) * 1e3 / tasks as f64,
        all.join(", ")
    );
}
