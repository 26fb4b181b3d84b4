//! The data of an audit: the report written as JSON (and read back as the previous state),
//! and the exact `--json` view the CLI prints ([`Report::cli_view`]).

use serde::{Deserialize, Serialize};

/// Identifies the JSON report format; bumped when the stored shape changes incompatibly.
pub const REPORT_SCHEMA: &str = "baton.plans-audit/v1";

/// What was found for one promised deliverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The file exists and is not a placeholder.
    Present,
    /// No file matches.
    Missing,
    /// The file exists but is a placeholder (the reason says why).
    Stub,
    /// A bare name matches several files even after narrowing; the candidates are listed.
    Ambiguous,
    /// Missing under the name the plan gives, because a later commit renamed it: `moved_to`
    /// says where it is now. Set on the host only (git history, see [`crate::moved`]); the
    /// audit itself never produces it.
    Moved,
    /// Claimed done and missing now, and git history shows a commit deleted it (`deleted_in`,
    /// `date`): a false claim history can prove. Set on the host only, like `moved`.
    Deleted,
}

impl Status {
    /// `present`, `missing`, `stub`, `ambiguous`, `moved` or `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Missing => "missing",
            Status::Stub => "stub",
            Status::Ambiguous => "ambiguous",
            Status::Moved => "moved",
            Status::Deleted => "deleted",
        }
    }

    /// Anything but `present` (or `moved`: the file exists under its new name) is a gap.
    pub fn is_gap(self) -> bool {
        !matches!(self, Status::Present | Status::Moved)
    }
}

/// The plan formats the audit recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlanFormat {
    /// Free-form Markdown: deliverable tables, file lists in code spans, project trees.
    #[serde(rename = "markdown")]
    Markdown,
    /// GitHub spec-kit `specs/*/tasks.md`.
    #[serde(rename = "spec-kit")]
    SpecKit,
    /// Kiro `.kiro/specs/*/tasks.md`.
    #[serde(rename = "kiro")]
    Kiro,
    /// Cursor `.cursor/plans/*.plan.md` with YAML front matter `todos`.
    #[serde(rename = "cursor")]
    Cursor,
    /// OpenSpec `openspec/changes/<change>/tasks.md` (and `changes/archive/`, done work).
    #[serde(rename = "openspec")]
    OpenSpec,
    /// Taskmaster `.taskmaster/tasks/tasks.json` (tagged or the older `{"tasks": [...]}`).
    #[serde(rename = "taskmaster")]
    Taskmaster,
    /// BMAD stories `docs/stories/*.story.md` (`Status`, `Tasks / Subtasks`, `File List`), and
    /// v6's `_bmad-output/implementation-artifacts/*.md` with `sprint-status.yaml`.
    #[serde(rename = "bmad")]
    Bmad,
    /// Codex ExecPlans (`.agent/plans/*.md`, governed by a `PLANS.md`): the boxes under
    /// `## Progress` are the milestones.
    #[serde(rename = "execplan")]
    ExecPlan,
    /// Copilot task planner `.copilot-tracking/plans/*.md` and `.copilot-tracking/changes/*.md`.
    #[serde(rename = "copilot")]
    Copilot,
    /// beads `.beads/issues.jsonl`: one issue per line, `closed` is done.
    #[serde(rename = "beads")]
    Beads,
}

impl PlanFormat {
    /// The name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanFormat::Markdown => "markdown",
            PlanFormat::SpecKit => "spec-kit",
            PlanFormat::Kiro => "kiro",
            PlanFormat::Cursor => "cursor",
            PlanFormat::OpenSpec => "openspec",
            PlanFormat::Taskmaster => "taskmaster",
            PlanFormat::Bmad => "bmad",
            PlanFormat::ExecPlan => "execplan",
            PlanFormat::Copilot => "copilot",
            PlanFormat::Beads => "beads",
        }
    }
}

/// Where the verdict on a deliverable came from. Stored in the JSON report, not in the
/// `--json` view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The full paths that were looked at (exact locations tried, or the resolved file).
    pub checked: Vec<String>,
    /// The file the deliverable resolved to, if exactly one.
    pub resolved: Option<String>,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its modification time (ns since the epoch); with `size`, lets the next audit reuse the
    /// stub verdict without reading the file again.
    #[serde(default)]
    pub mtime_ns: Option<u64>,
    /// Why it is a stub (without the path), when it is one.
    #[serde(default)]
    pub stub_reason: Option<String>,
    /// The plan line (1-based) where the deliverable was first promised.
    pub line: usize,
}

/// One promised file and its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deliverable {
    /// The path as the plan wrote it (normalised: no `./`, no line suffix).
    pub path: String,
    /// The group or component it belongs to (table row, heading, phase, todo).
    pub group: String,
    pub status: Status,
    /// The plan says it is done (ticked box, ✅, "Complete", status `completed`).
    pub claimed_done: bool,
    /// Why it is not present (or where a searched name was found).
    pub reason: Option<String>,
    /// For `ambiguous`: every matching file.
    pub candidates: Vec<String>,
    #[serde(default)]
    pub evidence: Evidence,
    /// For `moved`: the host path the file has now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<String>,
    /// For `deleted`: the commit that deleted it, and that commit's date (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// Completion of one group of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCompletion {
    pub name: String,
    /// present / expected, 0..1.
    pub completion: f64,
    #[serde(default)]
    pub present: usize,
    #[serde(default)]
    pub expected: usize,
}

/// A task of a plan (spec-kit `T001`, Kiro `2.1`, a Cursor todo id, a checkbox line `L12`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    /// Ticked / status `completed`.
    pub done: bool,
    /// File paths the task names.
    pub paths: Vec<String>,
}

/// The audit of one plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    /// The plan file's path as found under the given folders.
    pub path: String,
    pub format: PlanFormat,
    /// tasks_done / tasks_total: what the plan says is done; 0 when it has no task.
    pub completion: f64,
    /// Tasks the plan lists (cancelled ones excepted).
    #[serde(default)]
    pub tasks_total: usize,
    /// Of those, the ones it says are done.
    #[serde(default)]
    pub tasks_done: usize,
    /// The share of done tasks whose declared outputs are all there and not stubs (a done task
    /// that names no file cannot be verified); 0 when no task is done.
    #[serde(default)]
    pub verified: f64,
    pub groups: Vec<GroupCompletion>,
    pub deliverables: Vec<Deliverable>,
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub present: usize,
    #[serde(default)]
    pub expected: usize,
    /// Why a file that looks like a plan (checkboxes, task ids, a tasks heading) yielded no
    /// deliverable: such a plan is `unreadable`, never an empty plan at 0%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Paths the plan names that are not deliverables of this repository: outside it
    /// (`/usr/include/x.h`), third-party or generated (`node_modules/`, `dist/`, `*.pb.h`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl PlanReport {
    /// present / expected deliverables, 0..1 (0 when it promises nothing checkable): what
    /// the changes since the last audit and the group table follow.
    pub fn presence(&self) -> f64 {
        if self.expected == 0 { 0.0 } else { self.present as f64 / self.expected as f64 }
    }
}

/// A path a plan names that the audit does not hold it to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub line: usize,
    pub reason: String,
}

/// A declared status that the plan's own boxes or subtasks contradict: `done`, `complete` or
/// `ready for review` while some are open, or `draft` / `not started` while some are done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusConflict {
    /// The plan file.
    pub path: String,
    /// The status as declared (`Done`, `Ready for Review`, `Complete`, `done`).
    pub status: String,
    /// Boxes or subtasks done, of `total`.
    pub done: usize,
    pub total: usize,
    /// The task whose status it is (Taskmaster), when not the whole plan's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// A BMAD v6 story's status in `sprint-status.yaml`, when that is what conflicts (with
    /// the boxes, or with the story's own `Status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprint_status: Option<String>,
}

/// A plan that could not be read into deliverables, in the `--json` view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// A deliverable claimed done that is missing, a stub or ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FalseClaim {
    pub plan: String,
    pub path: String,
    pub status: Status,
    pub reason: Option<String>,
    /// For `deleted`: the commit that deleted it, and that commit's date (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// An open gap (a deliverable not `present`). Gaps are what follow-up TASKs are emitted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// `<plan path>::<deliverable path>`: the identity of the gap across runs.
    pub key: String,
    pub plan: String,
    pub path: String,
    pub group: String,
    pub status: Status,
    pub reason: Option<String>,
    pub claimed_done: bool,
    /// When this gap was first seen in its current open stretch (RFC 3339).
    pub first_seen: String,
    /// True when the previous report did not have this gap open.
    pub new: bool,
    /// Id of the follow-up handoff emitted for this gap, once emitted. Carried over from the
    /// previous report while the gap stays open; a gap that closes and comes back starts over.
    pub emitted: Option<String>,
}

/// A recorded problem: an unreadable plan or folder. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIssue {
    pub path: String,
    pub message: String,
}

/// A change in a deliverable's status between two audits (`None` = not in that audit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverableChange {
    pub path: String,
    pub group: String,
    pub before: Option<Status>,
    pub after: Option<Status>,
}

/// A group's completion before and after (`None` = group absent in that audit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupChange {
    pub name: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

/// What changed in one plan since the previous audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanChange {
    pub plan: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub groups: Vec<GroupChange>,
    pub deliverables: Vec<DeliverableChange>,
}

/// Everything that changed since the previous report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// `generated_at` of the previous report.
    pub since: String,
    pub plans: Vec<PlanChange>,
}

/// A full audit, as written to `PLANS_AUDIT_REPORT_*.json` and read back next time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// RFC 3339 UTC, second precision.
    pub generated_at: String,
    /// Seconds since the Unix epoch (names the report files).
    pub generated_unix: i64,
    /// Hash of the inputs: plan contents, and the size and mtime of every file a deliverable
    /// resolved to (plus the candidate sets). Equal fingerprints → nothing to report.
    pub fingerprint: String,
    pub plans_dirs: Vec<String>,
    pub repo_dirs: Vec<String>,
    pub plans: Vec<PlanReport>,
    /// Listed first in the Markdown report.
    pub false_claims: Vec<FalseClaim>,
    /// Declared statuses contradicted by the plan's own boxes or subtasks.
    #[serde(default)]
    pub status_conflicts: Vec<StatusConflict>,
    /// Every open gap, with its emission record.
    pub gaps: Vec<Gap>,
    /// `None` for a first audit.
    pub changes: Option<Changes>,
    pub errors: Vec<AuditIssue>,
    /// (mounted path, host path) pairs: the Markdown report shows host paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display_roots: Vec<(String, String)>,
    /// What the host's rename check did (`moved checked with git history: N renamed`, `moved
    /// not needed: …`, `moved not checked: …`); `None` when no host checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<String>,
}

impl Report {
    /// Total present / expected deliverables over all plans.
    pub fn totals(&self) -> (usize, usize) {
        self.plans.iter().fold((0, 0), |(p, e), plan| (p + plan.present, e + plan.expected))
    }

    /// Records that a follow-up was emitted for the gap `key` (handoff id `id`). Write the
    /// report afterwards so the next audit does not emit it again.
    pub fn mark_emitted(&mut self, key: &str, id: &str) -> bool {
        match self.gaps.iter_mut().find(|g| g.key == key) {
            Some(g) => {
                g.emitted = Some(id.to_string());
                true
            }
            None => false,
        }
    }

    /// The exact `--json` shape: `{"plans": [{"path", "format", "completion", "tasks_total",
    /// "tasks_done", "verified", "groups":
    /// [{"name", "completion"}], "deliverables": [{"path", "group", "status", "claimed_done",
    /// "reason", "candidates"}], "tasks": [{"id", "done", "paths"}]}], "false_claims":
    /// [{"plan", "path", "status", "reason"}], "status_conflicts": [{"path", "status", "done",
    /// "total"}], "unreadable": [{"path", "reason"}]}`. A plan that
    /// yielded nothing though it looks like one also carries `"status": "unreadable"` and its
    /// `reason`; one that names paths outside the repository or generated lists them in
    /// `skipped` (`[{"path", "line", "reason"}]`).
    pub fn cli_view(&self) -> CliReport<'_> {
        CliReport {
            plans: self
                .plans
                .iter()
                .map(|p| CliPlan {
                    path: &p.path,
                    format: p.format,
                    status: p.unreadable.as_ref().map(|_| "unreadable"),
                    reason: p.unreadable.as_deref(),
                    skipped: &p.skipped,
                    completion: p.completion,
                    tasks_total: p.tasks_total,
                    tasks_done: p.tasks_done,
                    verified: p.verified,
                    groups: p.groups.iter().map(|g| CliGroup { name: &g.name, completion: g.completion }).collect(),
                    deliverables: p
                        .deliverables
                        .iter()
                        .map(|d| CliDeliverable {
                            path: &d.path,
                            resolved: d.evidence.resolved.as_deref(),
                            group: &d.group,
                            status: d.status,
                            claimed_done: d.claimed_done,
                            reason: d.reason.as_deref(),
                            candidates: &d.candidates,
                            moved_to: d.moved_to.as_deref(),
                            deleted_in: d.deleted_in.as_deref(),
                            date: d.date.as_deref(),
                        })
                        .collect(),
                    tasks: &p.tasks,
                })
                .collect(),
            false_claims: &self.false_claims,
            status_conflicts: &self.status_conflicts,
            unreadable: self
                .plans
                .iter()
                .filter_map(|p| p.unreadable.as_ref().map(|r| Unreadable { path: p.path.clone(), reason: r.clone() }))
                .collect(),
        }
    }
}

/// The `--json` view of a report (see [`Report::cli_view`]).
#[derive(Debug, Serialize)]
pub struct CliReport<'a> {
    pub plans: Vec<CliPlan<'a>>,
    pub false_claims: &'a [FalseClaim],
    /// Declared statuses contradicted by the plan's own boxes or subtasks.
    pub status_conflicts: &'a [StatusConflict],
    /// Plans that look like plans but yielded no deliverable, with the reason.
    pub unreadable: Vec<Unreadable>,
}

/// One plan in the `--json` view.
#[derive(Debug, Serialize)]
pub struct CliPlan<'a> {
    pub path: &'a str,
    pub format: PlanFormat,
    /// `unreadable` (then `reason` says why) for a plan that yielded nothing; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// Paths named but not held to: outside the repository, third-party or generated.
    #[serde(skip_serializing_if = "<[Skipped]>::is_empty")]
    pub skipped: &'a [Skipped],
    /// tasks_done / tasks_total.
    pub completion: f64,
    pub tasks_total: usize,
    pub tasks_done: usize,
    /// Share of done tasks whose declared outputs are all present and not stubs.
    pub verified: f64,
    pub groups: Vec<CliGroup<'a>>,
    pub deliverables: Vec<CliDeliverable<'a>>,
    pub tasks: &'a [Task],
}

/// One group in the `--json` view.
#[derive(Debug, Serialize)]
pub struct CliGroup<'a> {
    pub name: &'a str,
    pub completion: f64,
}

/// One deliverable in the `--json` view.
#[derive(Debug, Serialize)]
pub struct CliDeliverable<'a> {
    /// The path as the plan wrote it.
    pub path: &'a str,
    /// Where it was found (the one file it resolved to; present or stub), else null.
    pub resolved: Option<&'a str>,
    pub group: &'a str,
    pub status: Status,
    pub claimed_done: bool,
    pub reason: Option<&'a str>,
    pub candidates: &'a [String],
    /// For `moved`: the host path the file has now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<&'a str>,
    /// For `deleted`: the commit that deleted it and its date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_in: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<&'a str>,
}
