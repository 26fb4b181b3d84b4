//! `/metrics` and the overview's data with 1,000,000 executions in the ledger (the target: both
//! under 50 ms). Not a test: run it by hand and record the result in bench/README.md.
//!
//!     cargo run --release -p baton-stats --example stats_bench [-- EXECUTIONS]
//!
//! The ledger is filled through the calls the pipeline makes for each handoff (insert_task,
//! start_attempt, finish, two events) and the group's `record_stats`, in groups of 256, with
//! answers spread over the last 7 days (about 100 a minute) across three plugins and
//! `unknown`, 8% failed and 4% rejected. Then `metrics_text` and `overview` are timed (median
//! of 21 runs each after one warm-up), against a reference in the same run: the same numbers
//! computed the naive way, by scanning the executions (`tasks`) for the 7-day window.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use baton_ledger::stats::{Answered, StatsBatch};
use baton_ledger::{Ledger, TaskRow, TaskState};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> Duration {
    f();
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state/baton.sqlite");
    let mut ledger = Ledger::open(&path).expect("ledger");
    let now_ms: i64 = 1_800_000_000_000;
    let span_ms: i64 = 7 * 86_400_000 - 60_000;
    let plugins = ["echo", "audit", "djay", "unknown"];
    let mut x: u64 = 42;
    let mut rnd = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let fill = Instant::now();
    let group = 256;
    let mut i = 0;
    while i < n {
        let end = (i + group).min(n);
        let rows: Vec<(TaskRow, TaskState, i64, f64, f64)> = (i..end)
            .map(|k| {
                let at = now_ms - span_ms + (k as i64 * span_ms) / n as i64;
                let run = 0.2 * 10f64.powf(rnd() * 3.0);
                let drop = run + 1.0 + 20.0 * rnd();
                let r = rnd();
                let state = if r < 0.08 {
                    TaskState::Failed
                } else if r < 0.12 {
                    TaskState::Rejected
                } else {
                    TaskState::Completed
                };
                let stamp = baton_handoff::stamp::rfc3339(
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000).expect("time"),
                );
                let row = TaskRow {
                    id: format!("T{k:08}"),
                    content_hash: format!("{k:064x}"),
                    claim: format!("claim-{k}"),
                    file_name: format!("20260101T000000Z__TASK__T{k}__Agent.json"),
                    sender: "Agent".into(),
                    reply_to: "Agent".into(),
                    plugin: Some(plugins[k % plugins.len()].into()),
                    action: Some("run".into()),
                    title: format!("Task {k}"),
                    state: TaskState::Claimed,
                    error_code: None,
                    error_message: None,
                    attempts: 0,
                    return_name: None,
                    claimed_at: stamp,
                    finished_at: None,
                    duration_ms: None,
                };
                (row, state, at, drop, run)
            })
            .collect();
        ledger
            .batch(|b| {
                let mut stats = StatsBatch::default();
                for (row, state, at, drop, run) in &rows {
                    b.insert_task(row)?;
                    b.event(&row.id, &row.claimed_at, "claimed", &serde_json::json!({"file": row.file_name}))?;
                    b.start_attempt(&row.id, 1)?;
                    b.finish(&row.id, *state, None, Some("r.json"), &row.claimed_at, *run)?;
                    b.event(&row.id, &row.claimed_at, state.as_str(), &serde_json::json!({"duration_ms": run}))?;
                    let plugin = row.plugin.as_deref().unwrap_or("unknown");
                    stats.add(&Answered {
                        plugin,
                        state: *state,
                        at_ms: *at,
                        drop_ms: Some(*drop),
                        run_ms: Some(*run),
                        error_code: row.error_code.as_deref(),
                    });
                }
                b.record_stats(&stats)
            })
            .expect("batch");
        i = end;
    }
    let fill = fill.elapsed();
    let conn = ledger.connection();
    let stats = ledger.stats();
    let count =
        |t: &str| -> i64 { conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0)).expect("count") };
    println!(
        "filled {n} executions in {:.1} s ({:.0}/s); rows: tasks {}, stat_minutes {}, stat_hours {}; db {} MB",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64(),
        count("tasks"),
        count("stat_minutes"),
        count("stat_hours"),
        std::fs::metadata(&path).map(|m| m.len() >> 20).unwrap_or(0)
    );

    let input = baton_stats::MetricsInput {
        installed: ["echo", "audit", "djay"].iter().map(|s| s.to_string()).collect(),
        queue_depth: BTreeMap::from([("baton".to_string(), 3), ("Agent".to_string(), 1)]),
        paused: BTreeMap::from([("echo".to_string(), false)]),
        fp_coverage_ratio: Some(0.9),
        audit_false_claims: Some(0),
    };
    let text = baton_stats::metrics_text(stats, &input).expect("metrics");
    baton_stats::metrics::parse(&text).expect("the exposition parses");
    let ov = baton_stats::overview(stats, now_ms, &input.queue_depth).expect("overview");
    assert_eq!(ov.windows[6].events, n as u64, "the 7d window holds every execution");
    let runs = 21;
    let metrics = time(runs, || baton_stats::metrics_text(stats, &input).expect("metrics"));
    let overview = time(runs, || baton_stats::overview(stats, now_ms, &input.queue_depth).expect("overview"));

    // Reference: the same 7-day numbers from the executions themselves.
    let cutoff = baton_handoff::stamp::rfc3339(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms - 7 * 86_400_000) * 1_000_000).expect("time"),
    );
    let reference = time(5, || {
        let counts: Vec<(String, String, i64)> = conn
            .prepare("SELECT state, COALESCE(plugin, ''), COUNT(*) FROM tasks GROUP BY state, plugin")
            .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
            .expect("counts");
        let mut d: Vec<f64> = conn
            .prepare("SELECT duration_ms FROM tasks WHERE finished_at >= ?1")
            .and_then(|mut st| st.query_map([&cutoff], |r| r.get(0))?.collect())
            .expect("durations");
        d.sort_by(f64::total_cmp);
        (counts, d.get(d.len() * 99 / 100).copied())
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("metrics_text: median {:.3} ms ({} bytes)", ms(metrics), text.len());
    println!(
        "overview (7 windows): median {:.3} ms; 7d p50/p95/p99 run {:?}/{:?}/{:?} ms",
        ms(overview),
        ov.windows[6].run_ms.p50.map(|v| (v * 100.0).round() / 100.0),
        ov.windows[6].run_ms.p95.map(|v| (v * 100.0).round() / 100.0),
        ov.windows[6].run_ms.p99.map(|v| (v * 100.0).round() / 100.0)
    );
    println!(
        "reference (scan of the executions for the 7d counts and p99): median {:.1} ms; ratios {:.0}x (metrics), {:.0}x (overview)",
        ms(reference),
        ms(reference) / ms(metrics),
        ms(reference) / ms(overview)
    );
}
