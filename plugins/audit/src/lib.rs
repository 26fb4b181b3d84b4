//! `audit`: the plans audit plugin. A thin shell around `baton-audit`: it reads the granted
//! plans folders and repositories (read-only), writes `PLANS_AUDIT_REPORT_*` into the
//! reports folder (read-write), skips the report when the inputs are unchanged since the last
//! one, and emits one follow-up TASK per new gap to the configured agent.
//!
//! Action `audit`, params (all optional; defaults come from `host::grants()`):
//! `{"plans": ["/plans"], "repos": ["/repos"], "reports": "/reports",
//!   "followup_agent": "Claude-Code-Agent" | null, "force": false}`.
//! Result: the `--json` shape (`plans`, `false_claims`) plus `unchanged`, `reports`
//! (`{markdown, json}` or null), `followups` (`[{gap, id}]`), `errors`, `fingerprint`,
//! `totals`.

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use baton::plugin::host;
use baton::plugin::types::{ActionInfo, FolderRequest, FollowUp, Level};
use baton_audit::{
    AuditInput, Gap, audit, inputs_unchanged, latest_report, new_gaps, write_reports,
};
use serde::Deserialize;
use serde_json::json;

struct Audit;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// (mounted path, host path) pairs, so the Markdown report shows the user's paths.
    #[serde(default)]
    display_roots: Vec<(String, String)>,
    plans: Option<Vec<String>>,
    repos: Option<Vec<String>>,
    reports: Option<String>,
    followup_agent: Option<String>,
    #[serde(default)]
    force: bool,
}

const PARAMS_SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "plans": {"type": "array", "items": {"type": "string"}, "description": "plans folders (guest paths); default: the folders granted as `plans`"},
    "repos": {"type": "array", "items": {"type": "string"}, "description": "repositories (guest paths); default: the folders granted as `repos`"},
    "reports": {"type": "string", "description": "reports folder (guest path); default: the folder granted as `reports`"},
    "followup_agent": {"type": ["string", "null"], "description": "agent that gets one follow-up TASK per new gap; null: none"},
    "force": {"type": "boolean", "description": "write a report even when the inputs are unchanged"},
    "display_roots": {
      "type": "array",
      "items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
      "description": "(mounted path, host path) pairs, so the report shows the user's paths; set by the host"
    }
  }
}"#;

fn granted(name: &str) -> Vec<String> {
    host::grants()
        .into_iter()
        .filter(|g| g.name == name || g.name.starts_with(&format!("{name}.")))
        .map(|g| g.guest_path)
        .collect()
}

fn follow_up(gap: &Gap, agent: &str, correlation: &str) -> FollowUp {
    let what = match gap.status {
        baton_audit::Status::Missing => "is missing",
        baton_audit::Status::Stub => "is a stub",
        baton_audit::Status::Ambiguous => "is ambiguous",
        baton_audit::Status::Present => "is present",
        baton_audit::Status::Moved => "was renamed",
    };
    let mut title = format!("Plans audit: {} {what}", gap.path);
    if title.len() > 400 {
        title.truncate(
            title
                .char_indices()
                .take_while(|(i, _)| *i < 400)
                .last()
                .map_or(0, |(i, _)| i),
        );
    }
    let description = format!(
        "The plan {} promises `{}` (group {}){}. The audit found it {}: {}. Deliver it, or correct the plan.",
        gap.plan,
        gap.path,
        gap.group,
        if gap.claimed_done {
            " and claims it is done"
        } else {
            ""
        },
        gap.status.as_str(),
        gap.reason.as_deref().unwrap_or("no further detail"),
    );
    FollowUp {
        to: agent.to_string(),
        title,
        body: json!({
            "description": description,
            "gap": {
                "key": gap.key,
                "plan": gap.plan,
                "path": gap.path,
                "group": gap.group,
                "status": gap.status,
                "reason": gap.reason,
                "claimed_done": gap.claimed_done,
                "first_seen": gap.first_seen,
            }
        })
        .to_string(),
        correlation_id: Some(correlation.to_string()),
    }
}

fn run(task: &Task) -> Result<Outcome, Failure> {
    let params: Params = if task.params.trim().is_empty() {
        Params::default()
    } else {
        serde_json::from_str(&task.params)
            .map_err(|e| Failure::InvalidInput(format!("params: {e}")))?
    };
    let plans = params.plans.unwrap_or_else(|| granted("plans"));
    let repos = params.repos.unwrap_or_else(|| granted("repos"));
    let reports = match params.reports {
        Some(r) => r,
        None => granted("reports").into_iter().next().ok_or_else(|| {
            Failure::InvalidInput(
                "no reports folder: grant one as `reports` or pass `reports`".into(),
            )
        })?,
    };
    if plans.is_empty() && repos.is_empty() {
        return Err(Failure::InvalidInput(
            "nothing to audit: grant `plans` or `repos` folders, or pass them".into(),
        ));
    }
    let reports_dir = PathBuf::from(&reports);
    // one audit at a time per reports folder, across baton processes
    let lock = format!("audit:{reports}");
    host::lock_acquire(&lock, 60_000)
        .map_err(|e| Failure::Transient(format!("reports folder busy: {e}")))?;
    let out = run_locked(
        task,
        plans,
        repos,
        &reports_dir,
        params.followup_agent.as_deref(),
        params.force,
        params.display_roots,
    );
    host::lock_release(&lock);
    out
}

fn run_locked(
    task: &Task,
    plans: Vec<String>,
    repos: Vec<String>,
    reports: &Path,
    agent: Option<&str>,
    force: bool,
    display_roots: Vec<(String, String)>,
) -> Result<Outcome, Failure> {
    let latest = latest_report(reports);
    let (prev_path, previous) = match latest {
        Some((p, r)) => (Some(p), Some(r)),
        None => (None, None),
    };
    host::progress(0, 1, "auditing plans");
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
    let roots: Vec<&str> = report
        .plans_dirs
        .iter()
        .chain(&report.repo_dirs)
        .map(String::as_str)
        .collect();
    if let Some(e) = report
        .errors
        .iter()
        .find(|e| roots.contains(&e.path.as_str()))
    {
        return Err(Failure::Transient(format!("{}: {}", e.path, e.message)));
    }
    let pending = new_gaps(&report);
    let unchanged = inputs_unchanged(&report, previous.as_ref())
        && !force
        && (agent.is_none() || pending.is_empty());
    let (present, expected) = report.totals();
    let view =
        serde_json::to_value(report.cli_view()).map_err(|e| Failure::Permanent(e.to_string()))?;
    if unchanged {
        let prev = prev_path.as_ref().map(|p| p.display().to_string());
        host::progress(1, 1, "inputs unchanged");
        let mut result = view;
        result["unchanged"] = json!(true);
        result["reports"] = json!(null);
        result["previous_report"] = json!(prev);
        result["followups"] = json!([]);
        result["errors"] = json!(report.errors);
        result["fingerprint"] = json!(report.fingerprint);
        result["totals"] =
            json!({"present": present, "expected": expected, "plans": report.plans.len()});
        return Ok(Outcome {
            summary: format!(
                "inputs unchanged since {}; no new report",
                prev.as_deref().unwrap_or("the last report")
            ),
            result: result.to_string(),
            artifacts: vec![],
        });
    }
    let mut followups = Vec::new();
    // Emissions are also journaled in the host's key-value store, keyed by the previous
    // report (the base this run's "new" is relative to) and the gap. If writing the report
    // fails after emitting, the retry finds the journal entry instead of emitting twice.
    let base = previous.as_ref().map_or("none", |p| p.fingerprint.as_str());
    let mut journal = Vec::new();
    if let Some(agent) = agent {
        let correlation = task
            .correlation_id
            .clone()
            .unwrap_or_else(|| task.id.clone());
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
                Err(e) => host::log(
                    Level::Warn,
                    &format!("follow-up for {} not emitted: {e}", gap.key),
                ),
            }
        }
    }
    let paths = write_reports(reports, &report)
        .map_err(|e| Failure::Transient(format!("writing reports: {e}")))?;
    // the report now records the emissions
    for k in &journal {
        host::kv_delete(k);
    }
    host::progress(1, 1, "report written");
    let md = paths.markdown.display().to_string();
    let js = paths.json.display().to_string();
    let mut result = view;
    result["unchanged"] = json!(false);
    result["reports"] = json!({"markdown": md, "json": js});
    result["previous_report"] = json!(prev_path.map(|p| p.display().to_string()));
    result["followups"] = json!(followups);
    result["errors"] = json!(report.errors);
    result["fingerprint"] = json!(report.fingerprint);
    result["totals"] =
        json!({"present": present, "expected": expected, "plans": report.plans.len()});
    let pct = if expected == 0 {
        0.0
    } else {
        100.0 * present as f64 / expected as f64
    };
    Ok(Outcome {
        summary: format!(
            "{} plans: {present}/{expected} deliverables present ({pct:.0}%), {} false claims, {} new gaps, {} follow-ups; report {md}",
            report.plans.len(),
            report.false_claims.len(),
            report.gaps.iter().filter(|g| g.new).count(),
            followups.len(),
        ),
        result: result.to_string(),
        artifacts: vec![md, js],
    })
}

impl Guest for Audit {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "audit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Audits plans against the repositories: present, missing, stub, ambiguous; false claims; completion; follow-ups for new gaps.".into(),
            actions: vec![ActionInfo {
                name: "audit".into(),
                description: "Audit the plans, write PLANS_AUDIT_REPORT_<UTC>.md/.json unless the inputs are unchanged, emit one follow-up per new gap.".into(),
                params_schema: PARAMS_SCHEMA.into(),
            }],
            folders: vec![
                FolderRequest { name: "plans".into(), writable: false, purpose: "plans to audit (every .md file)".into() },
                FolderRequest { name: "repos".into(), writable: false, purpose: "repositories the plans' deliverables live in".into() },
                FolderRequest { name: "reports".into(), writable: true, purpose: "where PLANS_AUDIT_REPORT_* files are written and read back".into() },
            ],
        }
    }

    /// No catalog: it reads and writes no collection.
    fn catalog_access() -> Vec<baton::plugin::types::CollectionRequest> {
        Vec::new()
    }

    fn handle(task: Task) -> Result<Outcome, Failure> {
        match task.action.as_str() {
            "audit" => run(&task),
            other => Err(Failure::InvalidInput(format!("unknown action `{other}`"))),
        }
    }
}

export!(Audit);
