//! Alerts on a shared PostgreSQL ledger: two hosts (two ledgers on one database, each with its
//! own copy of the handoffs tree) evaluate the same condition at the same moment, round after
//! round. Each firing must get exactly one follow-up TASK across both trees: the evaluations
//! and the follow-ups take turns, so the host that waited finds the firing already marked.
#[path = "../../../../tests/support/pg.rs"]
mod pg;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baton_stats::alerts::{AlertInput, AlertsConfig, FalseClaimRef, evaluate, list};

const T0: i64 = 1_800_000_000_000;

#[test]
fn two_hosts_evaluating_at_once_fire_and_notify_each_alert_once() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("alerts");
    let url = pg.url("alerts");
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let rounds = 8;
    let cfg = AlertsConfig {
        notify_agent: Some("claude".into()),
        unanswered_minutes: 0,
        failure_rate_percent: 0.0,
        ..AlertsConfig::default()
    };
    let open = || baton_ledger::Ledger::open_at(&baton_ledger::Location::parse(&url).unwrap()).unwrap();
    // Opened one after the other (the schema is created by the first).
    let ledgers: Vec<baton_ledger::Ledger> = dirs.iter().map(|_| open()).collect();
    // Both hosts start each round together (a counter, not a Barrier: a host that panicked
    // must fail the test, not leave the other waiting for ever).
    let arrived = AtomicUsize::new(0);
    let together = |round: usize| {
        arrived.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        while arrived.load(Ordering::SeqCst) < 2 * (round + 1) {
            assert!(started.elapsed() < Duration::from_secs(30), "the other host stopped");
            std::thread::yield_now();
        }
    };
    std::thread::scope(|s| {
        for (dir, mut ledger) in dirs.iter().zip(ledgers) {
            let (cfg, together) = (cfg.clone(), &together);
            let root = dir.path().join("handoffs");
            s.spawn(move || {
                let mut claims = Vec::new();
                for round in 0..rounds {
                    // One more false claim each round: one new alert, seen by both hosts at once.
                    claims.push(FalseClaimRef { plan: "PLAN.md".into(), path: format!("src/missing_{round}.rs") });
                    let input = AlertInput {
                        false_claims: Some(claims.clone()),
                        handoffs_root: root.clone(),
                        self_agent: "baton".into(),
                        ..Default::default()
                    };
                    together(round);
                    evaluate(ledger.stats_mut(), &cfg, &input, T0 + round as i64 * 5_000).unwrap();
                }
            });
        }
    });
    let files: Vec<String> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d.path().join("handoffs/claude/01_inbox")).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let alerts = list(open().stats()).unwrap();
    assert_eq!(alerts.len(), rounds, "one alert per condition: {alerts:#?}");
    assert!(alerts.iter().all(|a| a.firing == 1 && a.state == "firing" && a.notified.is_some()), "{alerts:#?}");
    let mut unique = files.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), rounds, "one follow-up per firing: {files:?}");
    assert_eq!(files.len(), rounds, "never the same follow-up in both trees: {files:?}");
}
