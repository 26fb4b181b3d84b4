//! The Markdown report: summary table, false claims, each plan's gaps with evidence, what
//! changed since the last audit, new gaps and errors.

use std::fmt::Write;

use crate::model::*;

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), pct)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'").replace('|', "\\|"))
}

fn status_word(s: Option<Status>) -> &'static str {
    s.map_or("absent", Status::as_str)
}

/// Evidence for one deliverable: the reason names the paths checked, or the file, its size
/// and the stub reason; ambiguous ones list their candidates.
fn evidence(d: &Deliverable) -> String {
    let mut parts: Vec<String> = d.reason.iter().cloned().collect();
    match d.status {
        Status::Ambiguous => {
            parts.push(format!("candidates: {}", d.candidates.iter().map(|c| code(c)).collect::<Vec<_>>().join(", ")))
        }
        Status::Moved => {
            if let Some(to) = &d.moved_to {
                parts.push(format!("now at {}", code(to)));
            }
        }
        Status::Deleted if d.reason.is_none() => {
            if let Some(c) = &d.deleted_in {
                parts.push(format!("deleted in {c} ({})", d.date.as_deref().unwrap_or("date unknown")));
            }
        }
        Status::Present if d.reason.is_none() => {
            if let Some(p) = &d.evidence.resolved {
                parts.push(format!("{} ({} bytes)", code(p), d.evidence.size.unwrap_or(0)));
            }
        }
        _ => {}
    }
    cell(&parts.join("; "))
}

/// Renders the report as Markdown.
pub fn render_markdown(r: &Report) -> String {
    crate::display::rewrite_roots(&render_raw(r), &r.display_roots)
}

/// The report, section by section, with the paths as found (`render_markdown` rewrites roots).
fn render_raw(r: &Report) -> String {
    let mut s = String::new();
    header(&mut s, r);
    summary(&mut s, r);
    false_claims(&mut s, r);
    status_conflicts(&mut s, r);
    gaps_by_plan(&mut s, r);
    changes(&mut s, r);
    new_gaps(&mut s, r);
    errors(&mut s, r);
    s
}

/// The title, when and by what it was made, and the folders it read.
fn header(s: &mut String, r: &Report) {
    let _ = writeln!(s, "# Plans Audit Report\n");
    let _ = writeln!(
        s,
        "Generated {} by baton-audit {}. Every status below was checked against the file system; the plans' own claims are only compared, never trusted.\n",
        r.generated_at,
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(s, "- Plans folders: {}", r.plans_dirs.iter().map(|d| code(d)).collect::<Vec<_>>().join(", "));
    let _ = writeln!(s, "- Repositories: {}", r.repo_dirs.iter().map(|d| code(d)).collect::<Vec<_>>().join(", "));
    if let Some(m) = &r.moved {
        let _ = writeln!(s, "- Renamed deliverables: {}", cell(m));
    }
    let _ = writeln!(s, "- Input fingerprint: `{}`\n", r.fingerprint);
}

/// One row per plan (its counts, and how it moved since the last audit), the totals, and
/// the one-line count of claims, gaps and errors.
fn summary(s: &mut String, r: &Report) {
    let (present, expected) = r.totals();
    let _ = writeln!(s, "## Summary\n");
    if r.plans.is_empty() {
        let _ = writeln!(s, "No plans found.\n");
    } else {
        let prev: std::collections::HashMap<&str, &PlanChange> =
            r.changes.iter().flat_map(|c| c.plans.iter()).map(|p| (p.plan.as_str(), p)).collect();
        let _ = writeln!(
            s,
            "| Plan | Format | Tasks done | Verified | Present | Missing | Stub | Ambiguous | False claims | Deliverables present | Since last audit |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for p in &r.plans {
            let count = |st: Status| p.deliverables.iter().filter(|d| d.status == st).count();
            let fc = r.false_claims.iter().filter(|f| f.plan == p.path).count();
            let change = match prev.get(p.path.as_str()) {
                Some(c) if c.before != c.after => {
                    format!("{} → {}", opt_pct(c.before), opt_pct(c.after))
                }
                Some(_) => "changed deliverables".to_string(),
                None if r.changes.is_some() => "unchanged".to_string(),
                None => "first audit".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} ({}) | {} | {} ({}/{}) | {} | {} | {} | {} | {} | {} | {} ({}/{}) | {} |",
                code(&p.path),
                cell(&p.title),
                p.format.as_str(),
                pct(p.completion),
                p.tasks_done,
                p.tasks_total,
                pct(p.verified),
                count(Status::Present),
                count(Status::Missing),
                count(Status::Stub),
                count(Status::Ambiguous),
                fc,
                pct(p.presence()),
                p.present,
                p.expected,
                change
            );
        }
        let total = if expected == 0 { 0.0 } else { present as f64 / expected as f64 };
        let _ = writeln!(
            s,
            "| **All plans ({})** | | | | {} | | | | {} | **{}** ({}/{}) | |\n",
            r.plans.len(),
            present,
            r.false_claims.len(),
            pct(total),
            present,
            expected
        );
    }
    let new = r.gaps.iter().filter(|g| g.new).count();
    let _ = writeln!(
        s,
        "False claims: {}. Open gaps: {} ({} new). Errors: {}.\n",
        r.false_claims.len(),
        r.gaps.len(),
        new,
        r.errors.len()
    );
}

/// Deliverables a plan calls done that are missing or stubs.
fn false_claims(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## False claims\n");
    if r.false_claims.is_empty() {
        let _ = writeln!(s, "None: no deliverable is claimed done while missing or a stub.\n");
    } else {
        let _ = writeln!(
            s,
            "Deliverables a plan calls done (ticked, ✅, \"Complete\", `completed`) that are missing or placeholders.\n"
        );
        let _ = writeln!(s, "| Plan | Deliverable | Status | Evidence |");
        let _ = writeln!(s, "|---|---|---|---|");
        for f in &r.false_claims {
            let _ = writeln!(
                s,
                "| {} | {} | **{}** | {} |",
                code(&f.plan),
                code(&f.path),
                f.status.as_str(),
                cell(f.reason.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(s);
    }
}

/// Declared statuses the plan's own boxes or subtasks contradict.
fn status_conflicts(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## Status conflicts\n");
    if r.status_conflicts.is_empty() {
        let _ = writeln!(s, "None: no declared status is contradicted by its own boxes or subtasks.\n");
    } else {
        let _ = writeln!(
            s,
            "A declared status (done, complete, ready for review; or draft, not started) that the plan's own boxes or subtasks contradict.\n"
        );
        let _ = writeln!(s, "| Plan | Task | Declared status | Done |");
        let _ = writeln!(s, "|---|---|---|---:|");
        for c in &r.status_conflicts {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {}/{} |",
                code(&c.path),
                cell(c.task.as_deref().unwrap_or("—")),
                cell(&c.status),
                c.done,
                c.total
            );
        }
        let _ = writeln!(s);
    }
}

/// Each plan's section: see [`plan_gaps`].
fn gaps_by_plan(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## Gaps by plan\n");
    for p in &r.plans {
        plan_gaps(s, p);
    }
}

/// One plan's section: its completion, what was not held to, its groups, and the table of its
/// deliverables that are not present (false claims first) with their evidence.
fn plan_gaps(s: &mut String, p: &PlanReport) {
    let _ = writeln!(s, "### {} — {}% ({}/{})\n", code(&p.path), (p.presence() * 100.0).round(), p.present, p.expected);
    let _ = writeln!(
        s,
        "{} · format {} · {} tasks ({} done: completion {}, verified {})\n",
        cell(&p.title),
        p.format.as_str(),
        p.tasks_total,
        p.tasks_done,
        pct(p.completion),
        pct(p.verified)
    );
    if let Some(why) = &p.unreadable {
        let _ = writeln!(s, "**Unreadable:** {}\n", cell(why));
        return;
    }
    for k in &p.skipped {
        let _ = writeln!(s, "- not held to: {} (line {}): {}", code(&k.path), k.line, cell(&k.reason));
    }
    if !p.skipped.is_empty() {
        let _ = writeln!(s);
    }
    if p.deliverables.is_empty() {
        let _ = writeln!(s, "This plan names no checkable file; nothing to verify.\n");
        return;
    }
    if p.groups.len() > 1 {
        let _ = writeln!(s, "| Group | Completion |");
        let _ = writeln!(s, "|---|---:|");
        for g in &p.groups {
            let _ = writeln!(s, "| {} | {} ({}/{}) |", cell(&g.name), pct(g.completion), g.present, g.expected);
        }
        let _ = writeln!(s);
    }
    let mut gaps: Vec<&Deliverable> = p.deliverables.iter().filter(|d| d.status != Status::Present).collect();
    if gaps.is_empty() {
        let _ = writeln!(s, "All {} deliverables present.\n", p.expected);
        return;
    }
    gaps.sort_by_key(|d| !(d.claimed_done && matches!(d.status, Status::Missing | Status::Stub | Status::Deleted)));
    let _ = writeln!(s, "| Deliverable | Group | Status | Claimed done | Evidence |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for d in gaps {
        let claimed = match (d.claimed_done, d.status) {
            (true, Status::Missing | Status::Stub | Status::Deleted) => "**yes — false claim**",
            (true, _) => "yes",
            _ => "no",
        };
        let _ = writeln!(
            s,
            "| {} (line {}) | {} | {} | {} | {} |",
            code(&d.path),
            d.evidence.line,
            cell(&d.group),
            d.status.as_str(),
            claimed,
            evidence(d)
        );
    }
    let _ = writeln!(s);
}

/// What moved since the previous report, plan by plan.
fn changes(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## Changes since last audit\n");
    match &r.changes {
        None => {
            let _ = writeln!(s, "First audit: no previous report.\n");
        }
        Some(c) if c.plans.is_empty() => {
            let _ = writeln!(s, "No changes since the audit of {}.\n", c.since);
        }
        Some(c) => {
            let _ = writeln!(s, "Since the audit of {}:\n", c.since);
            for pc in &c.plans {
                let what = match (pc.before, pc.after) {
                    (None, _) => "new plan".to_string(),
                    (_, None) => "plan removed".to_string(),
                    (b, a) => format!("{} → {}", opt_pct(b), opt_pct(a)),
                };
                let _ = writeln!(s, "- {}: {}", code(&pc.plan), what);
                for g in &pc.groups {
                    let _ = writeln!(s, "  - {} {} → {}", cell(&g.name), opt_pct(g.before), opt_pct(g.after));
                }
                for d in &pc.deliverables {
                    let _ = writeln!(
                        s,
                        "  - {} ({}): {} → {}",
                        code(&d.path),
                        cell(&d.group),
                        status_word(d.before),
                        status_word(d.after)
                    );
                }
            }
            let _ = writeln!(s);
        }
    }
}

/// Gaps first seen in this audit, or never emitted as a follow-up.
fn new_gaps(s: &mut String, r: &Report) {
    let _ = writeln!(s, "## New gaps\n");
    let fresh: Vec<&Gap> = r.gaps.iter().filter(|g| g.new || g.emitted.is_none()).collect();
    if fresh.is_empty() {
        let _ = writeln!(s, "None.\n");
    } else {
        let _ = writeln!(s, "| Plan | Deliverable | Status | Follow-up |");
        let _ = writeln!(s, "|---|---|---|---|");
        for g in fresh {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                code(&g.plan),
                code(&g.path),
                g.status.as_str(),
                g.emitted.as_deref().map_or("not emitted".to_string(), code)
            );
        }
        let _ = writeln!(s);
    }
}

/// What could not be read or done (the section is left out when there is none).
fn errors(s: &mut String, r: &Report) {
    if !r.errors.is_empty() {
        let _ = writeln!(s, "## Errors\n");
        for e in &r.errors {
            let _ = writeln!(s, "- {}: {}", code(&e.path), e.message);
        }
        let _ = writeln!(s);
    }
}
