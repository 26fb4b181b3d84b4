//! The dashboard's data, end to end: the real `baton serve --once` answers handoffs (real
//! echo and testkit plugins, real SQLite, and the same again on a private PostgreSQL server),
//! then the ledger it wrote is read with `baton-stats` as the server reads it. `/metrics` text must parse, its counters must only
//! grow across restarts and survive the pruning of executions, and the alerts that
//! `serve` evaluates must fire, deduplicate across processes, notify once (also after a crash
//! between the TASK and its mark), and resolve.
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::support;
use support::Home;
use support::state::Backend;

const AGENT: &str = "Claude-Code-Agent";

fn home(b: &Backend) -> Home {
    let extra = "\n[plugins.testkit]\ngrants = { data = \"data\", out = { path = \"out\", writable = true } }\n";
    let h = b.home(
        &[("pause_after", "2"), ("pause_secs", "3600"), ("min_events", "3"), ("failure_window", "\"1h\"")],
        extra,
    );
    let toml_path = h.root.join("baton.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    assert!(toml.contains("# notify_agent = "), "baton init writes the [alerts] section");
    std::fs::write(&toml_path, toml.replace("# notify_agent = \"claude\"", &format!("notify_agent = \"{AGENT}\"")))
        .unwrap();
    for d in ["data", "out"] {
        std::fs::create_dir_all(h.root.join(d)).unwrap();
    }
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap()]);
    h
}

fn drop(h: &Home, n: &mut usize, body: Value) {
    *n += 1;
    h.drop_file(format!("20260118T070951Z__TASK__S{n:05}__{AGENT}.json"), body.to_string());
}

fn task(id: String, plugin: &str, action: &str) -> Value {
    json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
           "from": AGENT, "title": format!("Stats {id}"), "plugin": plugin, "action": action, "params": {"x": 1}})
}

/// `/metrics` as the server renders it for this home (installed plugins as `baton plugin list`
/// would name them), checked by the strict parser.
fn metrics(b: &Backend, h: &Home) -> (baton_stats::metrics::Parsed, String) {
    let installed = ["echo", "testkit", "audit"].iter().map(|s| s.to_string()).collect();
    let input = baton_stats::MetricsInput { installed, ..Default::default() };
    let text = baton_stats::metrics_text(b.ledger(h).stats(), &input).unwrap();
    let parsed = baton_stats::metrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (parsed, text)
}

fn counters(p: &baton_stats::metrics::Parsed) -> BTreeMap<String, f64> {
    p.samples
        .iter()
        .filter(|s| s.name == "baton_handoffs_total" || s.name.starts_with("baton_task_duration_seconds"))
        .map(|s| (format!("{}{:?}", s.name, s.labels), s.value))
        .collect()
}

fn assert_grew(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) {
    for (k, v) in before {
        let now = after.get(k).unwrap_or_else(|| panic!("{k} disappeared"));
        assert!(now >= v, "{k} went down: {v} -> {now}");
    }
}

fn alert_files(h: &Home) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(h.dir(AGENT, "01_inbox"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("__TASK__Alert-"))
        .collect();
    v.sort();
    v
}

fn serve_once(h: &Home) {
    h.ok(&["serve", "--once"]);
}

fn value(p: &baton_stats::metrics::Parsed, status: &str, plugin: &str) -> f64 {
    p.value("baton_handoffs_total", &[("status", status), ("plugin", plugin)]).unwrap_or(0.0)
}

#[test]
fn metrics_counters_survive_restarts_and_pruning_and_alerts_notify_once() {
    counters_survive_restarts_and_pruning_and_alerts_notify_once(&Backend::Sqlite);
}

#[test]
fn on_postgres_metrics_counters_survive_restarts_and_pruning_and_alerts_notify_once() {
    let Some(b) = Backend::postgres("stats") else { return };
    counters_survive_restarts_and_pruning_and_alerts_notify_once(&b);
}

fn counters_survive_restarts_and_pruning_and_alerts_notify_once(b: &Backend) {
    let h = home(b);
    let mut n = 0;
    for i in 0..3 {
        drop(&h, &mut n, task(format!("OK-{i}"), "echo", "echo"));
    }
    drop(&h, &mut n, task("NOPE".into(), "no-such-plugin", "x"));
    for i in 0..3 {
        drop(&h, &mut n, task(format!("PANIC-{i}"), "testkit", "panic"));
    }
    serve_once(&h);

    let (p1, text) = metrics(b, &h);
    assert_eq!(value(&p1, "completed", "echo"), 3.0, "{text}");
    assert_eq!(value(&p1, "rejected", "unknown"), 1.0, "a plugin that is not installed is `unknown`: {text}");
    assert!(!text.contains("no-such-plugin"), "random names never become series");
    let testkit = value(&p1, "failed", "testkit") + value(&p1, "rejected", "testkit");
    assert_eq!(testkit, 3.0, "{text}");
    // Every answer that ran a plugin is in the run-time histogram.
    let ran = p1.value("baton_task_duration_seconds_count", &[]).unwrap();
    assert!((5.0..=6.0).contains(&ran), "{ran}\n{text}");

    // The overview sees them in every window, with percentiles.
    let ov = baton_stats::overview(b.ledger(&h).stats(), now_ms(), &BTreeMap::new()).unwrap();
    for w in &ov.windows {
        assert_eq!(w.events, 7, "{}", w.window);
        // Failed once (2026-11-27, 4 test threads) with its values lost: say them.
        assert!(
            w.drop_to_return_ms.p50.is_some_and(|v| v > 0.0) && w.run_ms.p99.is_some(),
            "{}: drop to return {:?}, run {:?}\n{text}",
            w.window,
            w.drop_to_return_ms,
            w.run_ms
        );
    }

    // Alerts, evaluated by `serve --once` after its drain: testkit paused and failing.
    let alerts = baton_stats::alerts::list(b.ledger(&h).stats()).unwrap();
    let rules: Vec<&str> = alerts.iter().filter(|a| a.state == "firing").map(|a| a.rule.as_str()).collect();
    assert!(rules.contains(&"plugin_paused") && rules.contains(&"failure_rate"), "{alerts:#?}");
    let files = alert_files(&h);
    assert_eq!(files.len(), alerts.len(), "one follow-up TASK per firing: {files:?}");

    // A second process: nothing new, the same alerts, no second TASK; counters unchanged.
    serve_once(&h);
    let (p2, _) = metrics(b, &h);
    assert_eq!(counters(&p1), counters(&p2));
    assert_eq!(alert_files(&h), files, "no second TASK for the same firing");
    let again = baton_stats::alerts::list(b.ledger(&h).stats()).unwrap();
    assert_eq!(
        again.iter().map(|a| (&a.id, a.firing)).collect::<Vec<_>>(),
        alerts.iter().map(|a| (&a.id, a.firing)).collect::<Vec<_>>()
    );

    // A crash between writing a TASK and marking its alert: the next process only marks it.
    let forget = "UPDATE alerts SET notified_firing = 0, notified = NULL";
    b.sql(&h, forget, forget);
    serve_once(&h);
    assert_eq!(alert_files(&h), files);
    assert!(baton_stats::alerts::list(b.ledger(&h).stats()).unwrap().iter().all(|a| a.notified.is_some()));

    // More work after a restart: counters only grow.
    for i in 3..5 {
        drop(&h, &mut n, task(format!("OK-{i}"), "echo", "echo"));
    }
    serve_once(&h);
    let (p3, _) = metrics(b, &h);
    assert_grew(&counters(&p2), &counters(&p3));
    assert_eq!(value(&p3, "completed", "echo"), 5.0);

    // Pruning executions, events and logs leaves the counters alone.
    let prune = "DELETE FROM tasks; DELETE FROM events; DELETE FROM logs;";
    b.sql(&h, prune, prune);
    let (p4, _) = metrics(b, &h);
    assert_eq!(counters(&p3), counters(&p4));

    // The pause ends: the plugin_paused alert resolves on its own, the failure rate holds.
    b.sql(
        &h,
        "UPDATE plugin_health SET health = json_set(health, '$.paused_until', '2000-01-01T00:00:00Z')",
        "UPDATE plugin_health SET health = jsonb_set(health::jsonb, '{paused_until}', '\"2000-01-01T00:00:00Z\"')::text",
    );
    serve_once(&h);
    let after = baton_stats::alerts::list(b.ledger(&h).stats()).unwrap();
    let state = |rule: &str| after.iter().find(|a| a.rule == rule).map(|a| a.state.clone());
    assert_eq!(state("plugin_paused").as_deref(), Some("resolved"), "{after:#?}");
    assert_eq!(state("failure_rate").as_deref(), Some("firing"));
    assert_eq!(alert_files(&h), files, "resolving writes no TASK");
    check_tasks_are_valid(&h.dir(AGENT, "01_inbox"), &files);
}

#[test]
fn failures_are_counted_by_error_code_and_retries_by_kind() {
    failures_by_code_and_retries_by_kind(&Backend::Sqlite);
}

#[test]
fn on_postgres_failures_are_counted_by_error_code_and_retries_by_kind() {
    let Some(b) = Backend::postgres("stat_events") else { return };
    failures_by_code_and_retries_by_kind(&b);
}

/// `baton_handoff_failures_total{status, plugin, error_code}` and
/// `baton_retries_total{plugin, kind}`: written by the pipeline and `baton retry`, read back as
/// `/metrics` renders them.
fn failures_by_code_and_retries_by_kind(b: &Backend) {
    let h = home(b);
    let mut n = 0;
    let mut flaky = task("FLAKY".into(), "testkit", "transient");
    flaky["params"] = json!({"key": "flaky", "fails": 2});
    drop(&h, &mut n, flaky);
    drop(&h, &mut n, task("NOPE".into(), "no-such-plugin", "x"));
    drop(&h, &mut n, task("NO-ACTION".into(), "echo", "no-such-action"));
    drop(&h, &mut n, task("PANIC".into(), "testkit", "panic"));
    serve_once(&h);

    let failures = |p: &baton_stats::metrics::Parsed, status: &str, plugin: &str, code: &str| {
        p.value("baton_handoff_failures_total", &[("status", status), ("plugin", plugin), ("error_code", code)])
    };
    let retries = |p: &baton_stats::metrics::Parsed, plugin: &str, kind: &str| {
        p.value("baton_retries_total", &[("plugin", plugin), ("kind", kind)])
    };
    let (p, text) = metrics(b, &h);
    assert_eq!(failures(&p, "rejected", "unknown", "unknown_plugin"), Some(1.0), "{text}");
    assert_eq!(failures(&p, "rejected", "echo", "unknown_action"), Some(1.0), "{text}");
    assert_eq!(failures(&p, "failed", "testkit", "trap"), Some(1.0), "{text}");
    let all: f64 = p.samples.iter().filter(|s| s.name == "baton_handoff_failures_total").map(|s| s.value).sum();
    assert_eq!(all, 3.0, "the transient task completed: no failure of its own\n{text}");
    assert_eq!(retries(&p, "testkit", "automatic"), Some(2.0), "two transient failures, two retries\n{text}");
    assert_eq!(retries(&p, "testkit", "manual"), Some(0.0), "{text}");
    assert_eq!(retries(&p, "echo", "manual"), Some(0.0), "every installed plugin's series exists at 0\n{text}");

    h.ok(&["retry", "PANIC"]);
    let (p, text) = metrics(b, &h);
    assert_eq!(retries(&p, "testkit", "manual"), Some(1.0), "{text}");
    serve_once(&h);
    let (p, text) = metrics(b, &h);
    assert_eq!(failures(&p, "failed", "testkit", "trap"), Some(2.0), "the retried attempt failed again\n{text}");
    assert_eq!(retries(&p, "testkit", "automatic"), Some(2.0), "{text}");
}

fn check_tasks_are_valid(dir: &Path, files: &[String]) {
    for f in files {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        let (body, _) = baton_handoff::parse(&bytes).unwrap_or_else(|e| panic!("{f}: {e}"));
        let baton_handoff::Body::Task(t) = body else { panic!("{f} is not a TASK") };
        assert_eq!(t.to.as_deref(), Some(AGENT));
        assert!(t.title.starts_with("Alert: "), "{}", t.title);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The task list is newest claim first by time, not by text: RFC 3339 stamps drop trailing
/// zeros of their fraction (`…:55Z`, `…:55.1Z`, `…:55.14Z`), so text order is wrong on
/// PostgreSQL (SQLite lists by insertion order, which is claim order).
#[test]
fn on_postgres_the_task_list_is_ordered_by_claim_time() {
    let Some(b) = Backend::postgres("claim_order") else { return };
    let h = home(&b);
    let mut insert = String::new();
    for (id, at) in [
        ("T-55", "2026-01-18T07:09:55Z"),
        ("T-55.1", "2026-01-18T07:09:55.1Z"),
        ("T-55.14", "2026-01-18T07:09:55.14Z"),
        ("T-54.9", "2026-01-18T07:09:54.9Z"),
    ] {
        insert.push_str(&format!(
            "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, title, state, claimed_at)
             VALUES ('{id}', 'h', 'c-{id}', 'f', 'a', 'a', 't', 'completed', '{at}');"
        ));
    }
    b.sql(&h, &insert, &insert);
    let ledger = b.ledger(&h);
    let filter = baton_ledger::read::TaskFilter::default();
    let list = ledger.stats().task_list(&filter, 0, 10).unwrap();
    let (rows, total) = (list.rows, list.total);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!((ids, total), (vec!["T-55.14", "T-55.1", "T-55", "T-54.9"], 4));
    let page = ledger.stats().task_page(None, None, 10).unwrap();
    assert_eq!(page.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["T-55.14", "T-55.1", "T-55", "T-54.9"]);
}
