//! `audit`: the plans audit plugin. A thin shell around `baton-audit`: it reads the granted
//! plans folders and repositories (read-only), writes `PLANS_AUDIT_REPORT_*` into the
//! reports folder (read-write), skips the report when the inputs are unchanged since the last
//! one, and emits one follow-up TASK per new gap to the configured agent.
//!
//! Action `audit`, params (all optional; defaults come from the grants): see [`core::Params`].
//! Result: the `--json` shape (`plans`, `false_claims`, `status_conflicts`, `unreadable`) plus `unchanged`, `reports`
//! (`{markdown, json}` or null), `followups` (`[{gap, id}]`), `errors`, `fingerprint`,
//! `totals`. The pure parts are in [`core`]; this file makes the host calls.
pub mod core;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use baton_audit::{AuditInput, audit, inputs_unchanged, latest_report, new_gaps, write_reports};
use baton_plugin::{Actions, Ctx, Done, Failure, Level, Plugin, folder, host};
use serde_json::json;

use crate::core::{Params, finish_result, follow_up, resolve, summary};

pub struct Audit;

impl Plugin for Audit {
    const NAME: &'static str = "audit";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Audits plans against the repositories: present, missing, stub, ambiguous; false claims; completion; follow-ups for new gaps.";

    fn folders() -> Vec<baton_plugin::FolderRequest> {
        vec![
            folder("plans", false, "plans to audit (every .md file)"),
            folder("repos", false, "repositories the plans' deliverables live in"),
            folder("reports", true, "where PLANS_AUDIT_REPORT_* files are written and read back"),
        ]
    }

    fn actions() -> Actions {
        Actions::new().add(
            "audit",
            "Audit the plans, write PLANS_AUDIT_REPORT_<UTC>.md/.json unless the inputs are unchanged, emit one follow-up per new gap.",
            run,
        )
    }
}

baton_plugin::register!(Audit);

fn run(ctx: &Ctx, params: Params) -> Result<Done, Failure> {
    let r = resolve(&params, |name| ctx.granted(name))?;
    let reports_dir = PathBuf::from(&r.reports);
    // one audit at a time per reports folder, across baton processes
    let lock = format!("audit:{}", r.reports);
    host::lock_acquire(&lock, 60_000).map_err(|e| Failure::Transient(format!("reports folder busy: {e}")))?;
    let out = run_locked(
        ctx,
        r.plans,
        r.repos,
        &reports_dir,
        params.followup_agent.as_deref(),
        params.force,
        params.display_roots,
    );
    host::lock_release(&lock);
    out
}

fn run_locked(
    ctx: &Ctx,
    plans: Vec<String>,
    repos: Vec<String>,
    reports: &Path,
    agent: Option<&str>,
    force: bool,
    display_roots: Vec<(String, String)>,
) -> Result<Done, Failure> {
    let (prev_path, previous) = match latest_report(reports) {
        Some((p, r)) => (Some(p), Some(r)),
        None => (None, None),
    };
    ctx.progress(0, 1, "auditing plans");
    let mut report = audit(&AuditInput {
        plans_dirs: plans.iter().map(PathBuf::from).collect(),
        repo_dirs: repos.iter().map(PathBuf::from).collect(),
        previous: previous.clone(),
        now: SystemTime::now(),
        mounts: display_roots.clone(),
    });
    report.display_roots = display_roots;
    // A granted folder that is not there (unmounted drive, sync client still starting)
    // would make every plan under it vanish and its gaps close, then reopen and be emitted
    // again next time. Fail instead, retryably, and write nothing.
    let roots: Vec<&str> = report.plans_dirs.iter().chain(&report.repo_dirs).map(String::as_str).collect();
    if let Some(e) = report.errors.iter().find(|e| roots.contains(&e.path.as_str())) {
        return Err(Failure::Transient(format!("{}: {}", e.path, e.message)));
    }
    let pending = new_gaps(&report);
    let unchanged = inputs_unchanged(&report, previous.as_ref()) && !force && (agent.is_none() || pending.is_empty());
    let view = serde_json::to_value(report.cli_view()).map_err(|e| Failure::Permanent(e.to_string()))?;
    if unchanged {
        let prev = prev_path.as_ref().map(|p| p.display().to_string());
        ctx.progress(1, 1, "inputs unchanged");
        let summary = format!("inputs unchanged since {}; no new report", prev.as_deref().unwrap_or("the last report"));
        return Ok(Done::new(summary, finish_result(view, true, json!(null), prev, vec![], &report)));
    }
    let mut followups = Vec::new();
    // Emissions are also journaled in the host's key-value store, keyed by the previous
    // report (the base this run's "new" is relative to) and the gap. If writing the report
    // fails after emitting, the retry finds the journal entry instead of emitting twice.
    let base = previous.as_ref().map_or("none", |p| p.fingerprint.as_str());
    let mut journal = Vec::new();
    if let Some(agent) = agent {
        let correlation = ctx.correlation();
        for gap in &pending {
            let kv_key = format!("followup:{base}:{}", gap.key);
            if let Some(id) = host::kv_get(&kv_key) {
                report.mark_emitted(&gap.key, &id);
                journal.push(kv_key);
                continue;
            }
            match host::emit(&follow_up(gap, agent, &correlation)) {
                Ok(id) => {
                    host::kv_set(&kv_key, &id);
                    journal.push(kv_key);
                    report.mark_emitted(&gap.key, &id);
                    followups.push(json!({"gap": gap.key, "id": id}));
                }
                // left unmarked: the next audit tries again
                Err(e) => ctx.log(Level::Warn, &format!("follow-up for {} not emitted: {e}", gap.key)),
            }
        }
    }
    let paths = write_reports(reports, &report).map_err(|e| Failure::Transient(format!("writing reports: {e}")))?;
    // the report now records the emissions
    for k in &journal {
        host::kv_delete(k);
    }
    ctx.progress(1, 1, "report written");
    let md = paths.markdown.display().to_string();
    let js = paths.json.display().to_string();
    let summary = summary(&report, followups.len(), &md);
    let previous = prev_path.map(|p| p.display().to_string());
    let result = finish_result(view, false, json!({"markdown": md, "json": js}), previous, followups, &report);
    Ok(Done::new(summary, result).with_artifacts(vec![md, js]))
}
