//! The pure half of the `audit` plugin: params and their defaults from the grants, the
//! follow-up TASK for a gap, and the result and summary of a run. No host calls, so it is
//! tested natively; `lib.rs` does the host's part (locks, kv, emit, progress).
use baton_audit::Gap;
use baton_plugin::{Failure, FollowUp, JsonSchema};
use serde::Deserialize;
use serde_json::{Value, json};

/// The `audit` action's params; all optional, so `{}` audits what is granted.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// plans folders (guest paths); default: the folders granted as `plans`
    pub plans: Option<Vec<String>>,
    /// repositories (guest paths); default: the folders granted as `repos`
    pub repos: Option<Vec<String>>,
    /// reports folder (guest path); default: the folder granted as `reports`
    pub reports: Option<String>,
    /// agent that gets one follow-up TASK per new gap; null: none
    pub followup_agent: Option<String>,
    /// write a report even when the inputs are unchanged
    #[serde(default)]
    pub force: bool,
    /// (mounted path, host path) pairs, so the report shows the user's paths; set by the host
    #[serde(default)]
    pub display_roots: Vec<(String, String)>,
}

/// What one run audits, with the defaults filled in.
#[derive(Debug, PartialEq)]
pub struct Resolved {
    pub plans: Vec<String>,
    pub repos: Vec<String>,
    pub reports: String,
}

/// Fills in the defaults: `granted(name)` gives the guest paths granted as `name`.
pub fn resolve(params: &Params, granted: impl Fn(&str) -> Vec<String>) -> Result<Resolved, Failure> {
    let plans = params.plans.clone().unwrap_or_else(|| granted("plans"));
    let repos = params.repos.clone().unwrap_or_else(|| granted("repos"));
    let reports = match &params.reports {
        Some(r) => r.clone(),
        None => granted("reports").into_iter().next().ok_or_else(|| {
            Failure::InvalidInput("no reports folder: grant one as `reports` or pass `reports`".into())
        })?,
    };
    if plans.is_empty() && repos.is_empty() {
        return Err(Failure::InvalidInput("nothing to audit: grant `plans` or `repos` folders, or pass them".into()));
    }
    Ok(Resolved { plans, repos, reports })
}

/// The follow-up TASK for one new gap.
pub fn follow_up(gap: &Gap, agent: &str, correlation: &str) -> FollowUp {
    let what = match gap.status {
        baton_audit::Status::Missing => "is missing",
        baton_audit::Status::Stub => "is a stub",
        baton_audit::Status::Ambiguous => "is ambiguous",
        baton_audit::Status::Present => "is present",
        baton_audit::Status::Moved => "was renamed",
        baton_audit::Status::Deleted => "was deleted",
    };
    let mut title = format!("Plans audit: {} {what}", gap.path);
    if title.len() > 400 {
        title.truncate(title.char_indices().take_while(|(i, _)| *i < 400).last().map_or(0, |(i, _)| i));
    }
    let description = format!(
        "The plan {} promises `{}` (group {}){}. The audit found it {}: {}. Deliver it, or correct the plan.",
        gap.plan,
        gap.path,
        gap.group,
        if gap.claimed_done { " and claims it is done" } else { "" },
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

/// The fields every result carries besides the report's own view.
pub fn finish_result(
    mut view: Value,
    unchanged: bool,
    reports: Value,
    previous: Option<String>,
    followups: Vec<Value>,
    report: &baton_audit::Report,
) -> Value {
    let (present, expected) = report.totals();
    view["unchanged"] = json!(unchanged);
    view["reports"] = reports;
    view["previous_report"] = json!(previous);
    view["followups"] = json!(followups);
    view["errors"] = json!(report.errors);
    view["fingerprint"] = json!(report.fingerprint);
    view["totals"] = json!({"present": present, "expected": expected, "plans": report.plans.len()});
    view
}

/// The summary of a run that wrote a report.
pub fn summary(report: &baton_audit::Report, followups: usize, markdown: &str) -> String {
    let (present, expected) = report.totals();
    let pct = if expected == 0 { 0.0 } else { 100.0 * present as f64 / expected as f64 };
    format!(
        "{} plans: {present}/{expected} deliverables present ({pct:.0}%), {} false claims, {} status conflicts, {} new gaps, {} follow-ups; report {markdown}",
        report.plans.len(),
        report.false_claims.len(),
        report.status_conflicts.len(),
        report.gaps.iter().filter(|g| g.new).count(),
        followups,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(name: &str) -> Vec<String> {
        match name {
            "plans" => vec!["/plans".into()],
            "reports" => vec!["/reports".into(), "/reports2".into()],
            _ => vec![],
        }
    }

    #[test]
    fn empty_params_audit_what_is_granted() {
        let p: Params = serde_json::from_str("{}").unwrap();
        let r = resolve(&p, granted).unwrap();
        assert_eq!(r, Resolved { plans: vec!["/plans".into()], repos: vec![], reports: "/reports".into() });
    }

    #[test]
    fn nothing_to_audit_or_nowhere_to_write_is_invalid_input() {
        let p = Params { plans: Some(vec![]), ..Params::default() };
        assert!(matches!(resolve(&p, granted), Err(Failure::InvalidInput(m)) if m.starts_with("nothing to audit")));
        assert!(
            matches!(resolve(&Params::default(), |_| vec![]), Err(Failure::InvalidInput(m)) if m.starts_with("no reports folder"))
        );
    }

    #[test]
    fn the_schema_refuses_unknown_keys_and_types_the_fields() {
        let s: Value = serde_json::from_str(&baton_plugin::schema_of::<Params>()).unwrap();
        assert_eq!(s["additionalProperties"], false, "{s}");
        assert_eq!(s["properties"]["force"]["type"], "boolean");
        assert!(s.get("required").is_none(), "every param is optional: {s}");
        assert!(s["properties"]["plans"]["description"].as_str().unwrap().contains("granted as `plans`"));
        assert!(serde_json::from_value::<Params>(json!({"force": true, "unknown": 1})).is_err());
    }

    #[test]
    fn a_follow_up_names_the_gap_and_keeps_titles_short() {
        let gap: Gap = serde_json::from_value(json!({
            "key": "p.md::src/x.rs", "plan": "p.md", "path": "x".repeat(500), "group": "1",
            "status": "missing", "reason": null, "claimed_done": true, "first_seen": "2026-01-01T00:00:00Z", "new": true
        }))
        .unwrap();
        let f = follow_up(&gap, "Claude-Code-Agent", "C1");
        assert_eq!(f.to, "Claude-Code-Agent");
        assert!(f.title.len() <= 400 && f.title.starts_with("Plans audit: xxx"));
        assert_eq!(f.correlation_id.as_deref(), Some("C1"));
        let body: Value = serde_json::from_str(&f.body).unwrap();
        assert_eq!(body["gap"]["key"], "p.md::src/x.rs");
        assert!(body["description"].as_str().unwrap().contains("and claims it is done"));
    }
}
