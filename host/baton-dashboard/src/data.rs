//! What each page shows, read from the ledger and the home's folders. Plain functions over a
//! `Ledger` (its [`baton_ledger::read::StatsStore`] side: no SQL here, so the pages read a
//! PostgreSQL ledger as they read the SQLite file) so the API handlers stay thin; they run on
//! the blocking pool.
use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use baton_handoff::names::{classify, Entry};
use baton_ledger::Ledger;
use baton_pipeline::health::Health;
use serde_json::{json, Value};

use crate::App;

/// A handoff to another agent with no RETURN after this long is stale.
pub(crate) const STALE_AFTER_SECS: i64 = 3600;
/// At most this many rows in a list.
const LIST_LIMIT: i64 = 200;

/// What is worth keeping between requests: parsed audit reports (never rewritten, so their
/// file name is their identity) and the duplicate groups of one fingerprint generation.
#[derive(Default)]
pub(crate) struct Caches {
    reports: HashMap<PathBuf, ReportSummary>,
    dedup: Option<(i64, Value)>,
}

#[derive(Clone)]
struct ReportSummary {
    generated_at: String,
    present: usize,
    expected: usize,
    false_claims: usize,
    gaps: usize,
    detail: Option<Value>,
}

type Res<T> = Result<T, String>;

fn db<T>(r: baton_ledger::Result<T>) -> Res<T> {
    r.map_err(|e| e.to_string())
}

/// Files waiting in each agent's `01_inbox/` (candidates only: no temp, dot or swap files).
pub(crate) fn queue_depth(app: &App) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&app.paths.handoffs).into_iter().flatten().flatten() {
        let Some(agent) = e.file_name().to_str().map(str::to_string) else { continue };
        if agent.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let n = std::fs::read_dir(e.path().join("01_inbox"))
            .map(|d| d.flatten().filter(|f| classify(f.file_name().as_bytes()) != Entry::Ignored).count() as u64)
            .unwrap_or(0);
        out.insert(agent, n);
    }
    out
}

fn now_secs() -> i64 {
    baton_handoff::stamp::now().unix_timestamp()
}

fn age_secs(ts: &str) -> Option<i64> {
    baton_handoff::stamp::parse_rfc3339(ts).map(|t| now_secs() - t.unix_timestamp())
}

/// Per agent: handoffs open (a TASK still in its inbox with no RETURN), unanswered (taken out
/// of the inbox with no RETURN), stale (either, older than [`STALE_AFTER_SECS`]); and a search
/// over baton's tasks and the handoffs between agents by id, title or agent.
pub(crate) fn handoffs(app: &App, ledger: &Ledger, agent: Option<&str>, q: Option<&str>) -> Res<Value> {
    let depth = queue_depth(app);
    let mut agents: BTreeMap<String, [u64; 4]> = depth.iter().map(|(a, n)| (a.clone(), [*n, 0, 0, 0])).collect();
    let open = ledger.open_handoffs().map_err(|e| e.to_string())?;
    for o in &open {
        let in_inbox = app.paths.inbox(&o.agent).join(&o.file_name).exists();
        let stale = age_secs(&o.created_at).is_some_and(|a| a > STALE_AFTER_SECS);
        let row = agents.entry(o.recipient.clone().unwrap_or_else(|| o.agent.clone())).or_default();
        row[if in_inbox { 1 } else { 2 }] += 1;
        row[3] += u64::from(stale);
    }
    let agents: Vec<Value> = agents
        .into_iter()
        .map(|(a, [inbox, open, unanswered, stale])| json!({"agent": a, "inbox": inbox, "open": open, "unanswered": unanswered, "stale": stale}))
        .collect();
    let like = q.filter(|q| !q.is_empty()).map(|q| format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let agent = agent.filter(|a| !a.is_empty());
    let mut items = Vec::new();
    for t in db(ledger.stats().task_page(agent, like.as_deref(), LIST_LIMIT))? {
        items.push(json!({
            "id": t.id, "title": t.title, "from": t.sender, "to": "baton", "reply_to": t.reply_to, "plugin": t.plugin,
            "action": t.action, "state": t.state, "error_code": t.error_code, "at": t.claimed_at,
            "finished_at": t.finished_at, "kind": "task",
        }));
    }
    for o in db(ledger.stats().observed_page(agent, like.as_deref(), LIST_LIMIT))? {
        let o2 = o.observed;
        items.push(json!({
            "id": o2.id, "title": o2.title, "from": o2.sender, "to": o2.recipient.unwrap_or(o2.agent), "kind": "between_agents",
            "state": if o.answered { "answered" } else { "open" }, "at": o2.created_at,
        }));
    }
    items.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    items.truncate(LIST_LIMIT as usize);
    // The user's agents' own tree, in every dialect, as `baton status --json` shows it.
    let tree = baton_pipeline::tree::scan(&app.paths.handoffs, &app.cfg.agent, app.cfg.handoffs.stale_after, app.cfg.max_file_bytes);
    Ok(json!({"agents": agents, "items": items, "stale_after_secs": STALE_AFTER_SECS, "between_agents": tree.to_json()}))
}

/// One handoff's history: its record, events, plugin log, and what other agents saw of it.
pub(crate) fn handoff(ledger: &Ledger, id: &str) -> Res<Option<Value>> {
    let task = ledger.task(id).map_err(|e| e.to_string())?;
    let events = ledger.events(id).map_err(|e| e.to_string())?;
    let logs = ledger.logs(id).map_err(|e| e.to_string())?;
    let observed: Vec<Value> = db(ledger.stats().observed_of(id, 100))?
        .into_iter()
        .map(|(o, seen_at)| {
            json!({
                "agent": o.agent, "file_name": o.file_name, "kind": o.kind, "id": o.id, "in_reply_to": o.in_reply_to,
                "from": o.sender, "to": o.recipient, "title": o.title, "created_at": o.created_at, "seen_at": seen_at,
            })
        })
        .collect();
    if task.is_none() && events.is_empty() && observed.is_empty() {
        return Ok(None);
    }
    let retryable = task.as_ref().is_some_and(|t| matches!(t.state, baton_ledger::TaskState::Failed | baton_ledger::TaskState::Rejected));
    Ok(Some(json!({"id": id, "task": task, "events": events, "logs": logs, "observed": observed, "retryable": retryable})))
}

/// Installed plugins: version, WIT world, budgets, health and pause; refused files too.
pub(crate) fn plugins(app: &App, ledger: &Ledger) -> Res<Value> {
    let now = baton_handoff::stamp::now();
    let mut names: Vec<String> = baton_pipeline::plugins::installed_files(&app.paths)
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    if let Some(rt) = &app.runtime {
        names.extend(rt.names());
    }
    names.sort();
    names.dedup();
    let refusals = ledger.refusals().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for name in names {
        let loaded = app.runtime.as_ref().and_then(|rt| rt.get(&name));
        let budget = app.cfg.task_budget(&name);
        let health = Health::parse(ledger.health_get(&name).map_err(|e| e.to_string())?.as_deref());
        let pause = health.pause(now);
        out.push(json!({
            "name": name,
            "loaded": loaded.is_some(),
            "version": loaded.as_ref().map(|p| p.info.version.clone()),
            "wit": loaded.as_ref().map(|p| format!("baton:plugin@{}", p.world)),
            "description": loaded.as_ref().map(|p| p.info.description.clone()),
            "actions": loaded.as_ref().map(|p| p.info.actions.iter().map(|a| a.name.clone()).collect::<Vec<_>>()).unwrap_or_default(),
            "budget": {
                "time_ms": budget.time.as_millis() as u64,
                "memory_mb": budget.memory_bytes >> 20,
                "output_kb": budget.output_bytes >> 10,
            },
            "health": {
                "consecutive_failures": health.consecutive_failures,
                "last_error": health.last_error,
            },
            "paused": pause.is_some(),
            "pause": pause,
            "refused": refusals.iter().find(|r| r.name == name).map(|r| json!({"reason": r.reason, "at": r.at})),
        }));
    }
    Ok(json!({"plugins": out}))
}

/// The audit plugin's reports folder.
fn reports_dir(app: &App) -> PathBuf {
    app.cfg
        .grants(&app.paths.home, baton_pipeline::audit::PLUGIN)
        .into_iter()
        .find(|g| g.name == "reports")
        .map_or_else(|| app.paths.home.join("reports"), |g| g.host_path)
}

/// How many past reports "completion over time" shows.
const HISTORY: usize = 60;

fn summarize(path: &Path, with_detail: bool) -> Option<ReportSummary> {
    let bytes = std::fs::read(path).ok()?;
    let r: baton_audit::model::Report = serde_json::from_slice(&bytes).ok()?;
    let (present, expected) = r.totals();
    // The report holds the sandbox's paths (`/plans/…`, `/repos/…`) and the mounts that map
    // them back: show the host paths the user knows, as the alerts do.
    let host = |p: &str| baton_audit::display::rewrite_roots(p, &r.display_roots);
    let detail = with_detail.then(|| {
        json!({
            "file": path.display().to_string(),
            "plans": r.plans.iter().map(|p| json!({"path": host(&p.path), "title": p.title, "completion": p.completion, "present": p.present, "expected": p.expected})).collect::<Vec<_>>(),
            "false_claims": r.false_claims.iter().map(|f| json!({"plan": host(&f.plan), "path": f.path, "status": f.status, "reason": f.reason.as_deref().map(host)})).collect::<Vec<_>>(),
            "gaps": r.gaps.iter().take(200).map(|g| json!({"plan": host(&g.plan), "path": g.path, "status": g.status, "new": g.new, "first_seen": g.first_seen})).collect::<Vec<_>>(),
            "errors": r.errors.iter().map(|e| json!({"path": host(&e.path), "message": host(&e.message)})).collect::<Vec<_>>(),
        })
    });
    Some(ReportSummary { generated_at: r.generated_at, present, expected, false_claims: r.false_claims.len(), gaps: r.gaps.len(), detail })
}

/// The latest audit report's summary and false claims, and completion over the past reports.
pub(crate) fn audits(app: &App) -> Res<Value> {
    let dir = reports_dir(app);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("PLANS_AUDIT_REPORT_") && n.ends_with(".json")))
        .collect();
    files.sort_by_key(|p| audit_key(p));
    let recent: Vec<PathBuf> = files.iter().rev().take(HISTORY).rev().cloned().collect();
    let mut caches = app.caches.lock().unwrap_or_else(|e| e.into_inner());
    caches.reports.retain(|p, _| recent.contains(p));
    let last = recent.last().cloned();
    let mut history = Vec::new();
    for p in &recent {
        let want_detail = Some(p) == last.as_ref();
        let cached = caches.reports.get(p).filter(|s| !want_detail || s.detail.is_some()).cloned();
        let Some(s) = cached.or_else(|| summarize(p, want_detail)) else { continue };
        caches.reports.insert(p.clone(), s.clone());
        history.push(s);
    }
    let point = |s: &ReportSummary| {
        json!({"generated_at": s.generated_at, "present": s.present, "expected": s.expected,
               "completion": if s.expected == 0 { 0.0 } else { s.present as f64 / s.expected as f64 },
               "false_claims": s.false_claims, "gaps": s.gaps})
    };
    let latest = history.last().map(|s| {
        let mut v = point(s);
        if let (Some(o), Some(Value::Object(d))) = (v.as_object_mut(), s.detail.clone()) {
            o.extend(d);
        }
        v
    });
    Ok(json!({
        "reports_dir": dir.display().to_string(),
        "latest": latest,
        "history": history.iter().map(point).collect::<Vec<_>>(),
        "running": app.audit_running.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

/// Report files sort by their time stamp, then their `_N` suffix.
fn audit_key(p: &Path) -> (String, u32) {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let rest = stem.trim_start_matches("PLANS_AUDIT_REPORT_");
    let (ts, n) = if rest.len() > 15 { rest.split_at(15) } else { (rest, "") };
    (ts.to_string(), n.trim_start_matches('_').parse().unwrap_or(1))
}

/// The latest report's false claims, for `/metrics` (None: no report).
pub(crate) fn latest_false_claims(app: &App) -> Option<u64> {
    audits(app).ok()?["latest"]["false_claims"].as_array().map(|a| a.len() as u64)
}

/// Fingerprint coverage against `threshold`, duplicate groups (cached per library generation)
/// and catalog counts.
pub(crate) fn library(app: &App, threshold: f64) -> Res<Value> {
    let state = &app.paths.state;
    let coverage = baton_fp::scan::coverage(state, threshold).map_err(|e| e.to_string())?;
    let generation = baton_fp::db::Db::open(state).and_then(|db| db.generation()).map_err(|e| e.to_string())?;
    let cached = app.caches.lock().unwrap_or_else(|e| e.into_inner()).dedup.clone().filter(|(g, _)| *g == generation);
    let dedup = match cached {
        Some((_, v)) => v,
        None => {
            let report = baton_fp::dedup::find_groups(state, &baton_fp::dedup::DedupOptions::default()).map_err(|e| e.to_string())?;
            let groups: Vec<Value> = report
                .groups
                .iter()
                .take(100)
                .map(|g| json!({"keeper": g.keeper.path, "duplicates": g.duplicates.iter().map(|d| &d.path).collect::<Vec<_>>(), "score": g.score}))
                .collect();
            let v = json!({"count": report.groups.len(), "files": report.groups.iter().map(|g| 1 + g.duplicates.len()).sum::<usize>(), "groups": groups});
            app.caches.lock().unwrap_or_else(|e| e.into_inner()).dedup = Some((generation, v.clone()));
            v
        }
    };
    let catalog = baton_catalog::Catalog::open_at(&app.location, state)
        .and_then(|c| c.collections(&baton_catalog::Access::user()))
        .map_err(|e| e.to_string())?;
    Ok(json!({
        "coverage": {"files": coverage.files, "fingerprinted": coverage.fingerprinted, "failed": coverage.failed,
                     "ratio": coverage.coverage, "threshold": threshold, "ok": coverage.ok},
        "duplicates": dedup,
        "catalog": catalog.iter().map(|c| json!({"name": c.name, "owner": c.owner, "records": c.records, "read_only": c.read_only})).collect::<Vec<_>>(),
    }))
}

/// Whether an id names anything the ledger knows (for a clear 404).
pub(crate) fn task_exists(ledger: &Ledger, id: &str) -> Res<bool> {
    db(ledger.task(id)).map(|t| t.is_some())
}
