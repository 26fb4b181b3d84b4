//! Comparing a run with the previous report: which gaps are new (and so need a follow-up),
//! which carry over with their emission record, and what changed per plan and group.

use std::collections::{HashMap, HashSet};

use crate::model::*;

/// The identity of a gap across runs.
pub fn gap_key(plan: &str, path: &str) -> String {
    format!("{plan}::{path}")
}

/// Open gaps of this run. A gap open in the previous report keeps its `first_seen` and
/// `emitted`; one that was closed (or never seen) is `new` and not yet emitted. Gaps of
/// plans that could not be read this time are carried over unchanged, so a transient read
/// error neither closes them nor re-emits them later.
pub fn gaps(plans: &[PlanReport], previous: Option<&Report>, failed: &HashSet<String>, now: &str) -> Vec<Gap> {
    let prev: HashMap<&str, &Gap> = previous.map(|p| by_key(&p.gaps, |g| g.key.as_str())).unwrap_or_default();
    let mut out = Vec::new();
    for p in plans {
        for d in &p.deliverables {
            if !d.status.is_gap() {
                continue;
            }
            let key = gap_key(&p.path, &d.path);
            let before = prev.get(key.as_str());
            out.push(Gap {
                plan: p.path.clone(),
                path: d.path.clone(),
                group: d.group.clone(),
                status: d.status,
                reason: d.reason.clone(),
                claimed_done: d.claimed_done,
                first_seen: before.map_or_else(|| now.to_string(), |g| g.first_seen.clone()),
                new: before.is_none(),
                emitted: before.and_then(|g| g.emitted.clone()),
                key,
            });
        }
    }
    if let Some(prev) = previous {
        for g in &prev.gaps {
            if failed.contains(&g.plan) {
                let mut g = g.clone();
                g.new = false;
                out.push(g);
            }
        }
    }
    out
}

/// Gaps that still need a follow-up: open and not yet emitted. Right after [`crate::audit`]
/// these are the new gaps (plus any whose emission failed or had no agent to go to before).
/// Emit one follow-up per gap, [`Report::mark_emitted`] it, then write the report: the same
/// gap is then never emitted twice, and a gap that closes and comes back is emitted again.
pub fn new_gaps(report: &Report) -> Vec<Gap> {
    report.gaps.iter().filter(|g| g.emitted.is_none()).cloned().collect()
}

/// True when `report` saw exactly the inputs `previous` saw (same plans, same sizes and
/// mtimes of every file the deliverables resolved to, same candidate sets). The caller then
/// writes no new report.
pub fn inputs_unchanged(report: &Report, previous: Option<&Report>) -> bool {
    previous.is_some_and(|p| p.fingerprint == report.fingerprint)
}

fn group_map(p: &PlanReport) -> HashMap<&str, f64> {
    p.groups.iter().map(|g| (g.name.as_str(), g.completion)).collect()
}

/// Per-plan changes since `previous` (completion, groups, deliverable statuses). Plans
/// that could not be read this time are left out.
pub fn changes(previous: &Report, plans: &[PlanReport], failed: &HashSet<String>) -> Changes {
    let before = by_key(&previous.plans, |p| p.path.as_str());
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in plans {
        seen.insert(p.path.as_str());
        let b = before.get(p.path.as_str()).copied();
        out.extend(plan_change(b, Some(p)));
    }
    for p in &previous.plans {
        if !seen.contains(p.path.as_str()) && !failed.contains(&p.path) {
            out.extend(plan_change(Some(p), None));
        }
    }
    Changes { since: previous.generated_at.clone(), plans: out }
}

fn plan_change(before: Option<&PlanReport>, after: Option<&PlanReport>) -> Option<PlanChange> {
    let plan = after.or(before)?.path.clone();
    let mut deliverables = Vec::new();
    let bmap: HashMap<&str, &Deliverable> =
        before.map(|b| by_key(&b.deliverables, |d| d.path.as_str())).unwrap_or_default();
    let amap: HashMap<&str, &Deliverable> =
        after.map(|a| by_key(&a.deliverables, |d| d.path.as_str())).unwrap_or_default();
    if let Some(a) = after {
        for d in &a.deliverables {
            let prev = bmap.get(d.path.as_str()).map(|x| x.status);
            if prev != Some(d.status) {
                deliverables.push(DeliverableChange {
                    path: d.path.clone(),
                    group: d.group.clone(),
                    before: prev,
                    after: Some(d.status),
                });
            }
        }
    }
    if let Some(b) = before {
        for d in &b.deliverables {
            if !amap.contains_key(d.path.as_str()) {
                deliverables.push(DeliverableChange {
                    path: d.path.clone(),
                    group: d.group.clone(),
                    before: Some(d.status),
                    after: None,
                });
            }
        }
    }
    let gb = before.map(group_map).unwrap_or_default();
    let ga = after.map(group_map).unwrap_or_default();
    let mut groups = Vec::new();
    let mut names: Vec<&str> = after.map(|a| a.groups.iter().map(|g| g.name.as_str()).collect()).unwrap_or_default();
    if let Some(b) = before {
        for g in &b.groups {
            if !ga.contains_key(g.name.as_str()) {
                names.push(g.name.as_str());
            }
        }
    }
    for n in names {
        let (x, y) = (gb.get(n).copied(), ga.get(n).copied());
        if x != y {
            groups.push(GroupChange { name: n.to_string(), before: x, after: y });
        }
    }
    let (cb, ca) = (before.map(PlanReport::presence), after.map(PlanReport::presence));
    if deliverables.is_empty() && groups.is_empty() && cb == ca {
        return None;
    }
    Some(PlanChange { plan, before: cb, after: ca, groups, deliverables })
}

/// Builds a map from key to item, keeping the first of duplicates.
fn by_key<'a, T>(items: &'a [T], key: impl Fn(&'a T) -> &'a str) -> HashMap<&'a str, &'a T> {
    let mut m = HashMap::with_capacity(items.len());
    for it in items {
        m.entry(key(it)).or_insert(it);
    }
    m
}
