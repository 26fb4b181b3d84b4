//! Shared helpers for the integration tests: writing fixture trees and reading results.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_audit::*;

pub const REAL_PY: &str = "import json\n\n\ndef run(event):\n    data = json.loads(event)\n    return data.get(\"id\")\n\n\ndef main():\n    print(run('{\"id\": 1}'))\n";
pub const REAL_TS: &str =
    "export function sign(payload: string): string {\n  const body = btoa(payload);\n  return `${body}.sig`;\n}\n";
pub const REAL_MD: &str =
    "# Architecture\n\nEvents arrive on the queue, handlers dispatch them, the dashboard shows metrics.\n";

pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

pub fn at(k: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_768_731_300 + k)
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// (path, group, status, claimed_done) of every deliverable.
pub fn rows(p: &PlanReport) -> Vec<(String, String, &'static str, bool)> {
    p.deliverables.iter().map(|d| (d.path.clone(), d.group.clone(), d.status.as_str(), d.claimed_done)).collect()
}

pub fn row(path: &str, group: &str, status: &'static str, claimed: bool) -> (String, String, &'static str, bool) {
    (path.to_string(), group.to_string(), status, claimed)
}

pub fn groups(p: &PlanReport) -> Vec<(String, usize, usize)> {
    p.groups.iter().map(|g| (g.name.clone(), g.present, g.expected)).collect()
}

pub fn plan<'a>(r: &'a Report, suffix: &str) -> &'a PlanReport {
    r.plans
        .iter()
        .find(|p| p.path.ends_with(suffix))
        .unwrap_or_else(|| panic!("no plan {suffix} in {:?}", r.plans.iter().map(|p| &p.path).collect::<Vec<_>>()))
}

pub fn deliverable<'a>(p: &'a PlanReport, path: &str) -> &'a Deliverable {
    p.deliverables.iter().find(|d| d.path == path).unwrap()
}

pub fn run(plans: &[&Path], repos: &[&Path], previous: Option<Report>, k: u64) -> Report {
    audit(&AuditInput {
        plans_dirs: plans.iter().map(|p| p.to_path_buf()).collect(),
        repo_dirs: repos.iter().map(|p| p.to_path_buf()).collect(),
        previous,
        now: at(k),
        mounts: vec![],
    })
}
