//! One audit run: discover plans, extract, resolve and check every deliverable, compute
//! completion, false claims, gaps (against the previous report), changes and the input
//! fingerprint.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::diff;
use crate::extract::{self, Expected};
use crate::hash::Fingerprinter;
use crate::model::*;
use crate::repo::{self, FileIndex, Found};
use crate::stub;
use crate::time;

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditInput {
    /// Folders whose every `.md` (and `tasks.json`) is a plan: reports named
    /// `PLANS_AUDIT_REPORT*` and OpenSpec context (`proposal.md`, `specs/`, …) excepted.
    pub plans_dirs: Vec<PathBuf>,
    /// Repositories: deliverables are looked for here, and plans named `*PLAN*.md`,
    /// `specs/*/tasks.md`, `.kiro/specs/*/tasks.md`, `.cursor/plans/*.plan.md`,
    /// `openspec/changes/*/tasks.md`, `.taskmaster/tasks/tasks.json`, `docs/stories/*.md`
    /// (or the `devStoryLocation` of `.bmad-core/core-config.yaml`), BMAD v6 stories,
    /// `.agent/plans/*.md`, `.copilot-tracking/{plans,changes}/*.md`, `.beads/issues.jsonl`
    /// and a root `TODO.md` / `PROGRESS.md` / `ROADMAP.md` / `TASKS.md` are found here too
    /// (see [`crate::discover`]). Empty → the plans folders are used as the repositories.
    pub repo_dirs: Vec<PathBuf>,
    /// The last report (see [`crate::load_previous`]): the base for changes and new gaps.
    pub previous: Option<Report>,
    /// The current time (injectable for tests).
    pub now: SystemTime,
    /// (mounted path, host path) of each folder when the audit runs in a sandbox, so that a
    /// plan reached through two mounts of one host folder (plans inside a repository) is
    /// audited once. Empty natively, where paths are host paths already.
    pub mounts: Vec<(String, String)>,
}

fn path_string(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    if s.len() > 1 { s.trim_end_matches('/').to_string() } else { s }
}

/// Plans under the plans folders: every `.md` file except our reports.
fn plans_in_dirs(dirs: &[String], errors: &mut Vec<AuditIssue>) -> Vec<String> {
    let mut out = Vec::new();
    for d in dirs {
        if !Path::new(d).is_dir() {
            errors
                .push(AuditIssue { path: d.clone(), message: "plans folder does not exist or is not a folder".into() });
            continue;
        }
        let mut seen = HashSet::new();
        repo::walk(d, errors, |rel, real| {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let plan_like = (name.ends_with(".md") && !openspec_context(&repo::join(d, rel)))
                || name == "tasks.json"
                || name == "issues.jsonl";
            if plan_like && !repo::is_report_name(name) && seen.insert(real.to_string()) {
                out.push(repo::join(d, rel));
            }
        });
    }
    out
}

/// An OpenSpec file that is context, not a plan: `proposal.md`, `design.md`, `specs/`,
/// `project.md`, `AGENTS.md` (only a change's `tasks.md` is a plan).
fn openspec_context(rel: &str) -> bool {
    let comps: Vec<&str> = rel.split('/').collect();
    let in_openspec = comps.contains(&"openspec");
    in_openspec && comps.last() != Some(&"tasks.md")
}

fn mtime_nanos(m: &fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Checks one deliverable against the index.
/// Stub verdicts of the previous report by resolved path: (size, mtime, stub reason).
type Known<'a> = HashMap<&'a str, (u64, u64, Option<&'a str>)>;

fn known_files(previous: Option<&Report>) -> Known<'_> {
    let mut m = HashMap::new();
    for p in previous.iter().flat_map(|r| &r.plans) {
        for d in &p.deliverables {
            let ev = &d.evidence;
            if let (Some(path), Some(size), Some(mtime)) = (&ev.resolved, ev.size, ev.mtime_ns)
                && matches!(d.status, Status::Present | Status::Stub)
            {
                m.insert(path.as_str(), (size, mtime, ev.stub_reason.as_deref()));
            }
        }
    }
    m
}

/// Size, mtime and stub reason of a file. A file the previous report saw with the same size
/// and mtime keeps its verdict without being read (one `stat` instead of open + read).
fn inspect(full: &str, known: &Known) -> std::io::Result<(u64, u64, Option<String>)> {
    let name = full.rsplit('/').next().unwrap_or(full);
    if let Some(&(size, mtime, why)) = known.get(full) {
        let (s, m) = stat(full)?;
        if s == size && m == mtime && mtime != 0 {
            return Ok((size, mtime, why.map(str::to_string)));
        }
    }
    let (size, mtime, content) = read_small(full)?;
    let why = match content {
        Some(Ok(bytes)) => stub::stub_reason(name, &bytes, size),
        Some(Err(err)) => Some(format!("exists but cannot be read: {err}")),
        None => None,
    };
    Ok((size, mtime, why))
}

/// (size, mtime ns) of a file.
fn stat(full: &str) -> std::io::Result<(u64, u64)> {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    if let Some(r) = crate::repo::wasi_walk::stat(full) {
        return r;
    }
    let m = fs::metadata(full)?;
    Ok((m.len(), mtime_nanos(&m)))
}

/// (size, mtime ns, content when no larger than the stub read limit) with one open.
#[allow(clippy::type_complexity)]
pub(crate) fn read_small(full: &str) -> std::io::Result<(u64, u64, Option<std::io::Result<Vec<u8>>>)> {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    if let Some(r) = crate::repo::wasi_walk::read_small(full, stub::READ_LIMIT) {
        return r.map(|(s, m, c)| (s, m, c.map(Ok)));
    }
    let mut file = fs::File::open(full)?;
    let m = file.metadata()?;
    let size = m.len();
    if size > stub::READ_LIMIT {
        return Ok((size, mtime_nanos(&m), None));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let content = file.read_to_end(&mut bytes).map(|_| bytes);
    Ok((size, mtime_nanos(&m), Some(content)))
}

fn check(
    e: &Expected,
    index: &FileIndex,
    loc: Option<&(u16, String)>,
    known: &Known,
    fp: &mut Fingerprinter,
) -> Deliverable {
    let r = index.resolve(e, loc);
    let mut d = Deliverable {
        path: e.path.clone(),
        group: e.group.clone(),
        status: Status::Missing,
        claimed_done: e.claimed_done,
        reason: None,
        candidates: Vec::new(),
        evidence: Evidence { checked: r.checked.clone(), resolved: None, line: e.line, ..Evidence::default() },
        moved_to: None,
        deleted_in: None,
        date: None,
    };
    fp.str(&e.path);
    match r.found {
        Found::One(id) => {
            let full = index.full(id);
            fp.str(&full);
            match inspect(&full, known) {
                Ok((size, mtime, reason)) => {
                    fp.u64(size);
                    fp.u64(mtime);
                    d.evidence.size = Some(size);
                    d.evidence.mtime_ns = Some(mtime);
                    d.evidence.stub_reason.clone_from(&reason);
                    match reason {
                        Some(why) => {
                            d.status = Status::Stub;
                            d.reason = Some(format!("{why} at {full}"));
                        }
                        None => {
                            d.status = Status::Present;
                            if r.searched {
                                d.reason = Some(match &r.narrowed_by {
                                    Some(n) => format!("found at {full} (narrowed to {n})"),
                                    None => format!("found at {full}"),
                                });
                            }
                        }
                    }
                    if !d.evidence.checked.contains(&full) {
                        d.evidence.checked.push(full.clone());
                    }
                    d.evidence.resolved = Some(full);
                }
                Err(err) => {
                    fp.str("vanished");
                    d.reason = Some(format!("{full} vanished during the audit: {err}"));
                }
            }
        }
        Found::Many(ids) => {
            d.status = Status::Ambiguous;
            d.candidates = ids.iter().map(|&i| index.full(i)).collect();
            for c in &d.candidates {
                fp.str(c);
            }
            let name = e.path.rsplit('/').next().unwrap_or(&e.path);
            d.reason = Some(match &r.narrowed_by {
                Some(n) => format!("{} files named {name} under {n}; not guessing", d.candidates.len()),
                None => format!("{} files match {}; not guessing", d.candidates.len(), e.path),
            });
        }
        Found::None => {
            fp.str("missing");
            let name = e.path.rsplit('/').next().unwrap_or(&e.path);
            d.reason = Some(if r.checked.is_empty() {
                format!("no file named {name} in the repositories")
            } else {
                format!(
                    "not found: checked {}; no file ending in /{}",
                    r.checked.join(", "),
                    e.alt.as_deref().unwrap_or(e.path.trim_start_matches('/'))
                )
            });
        }
    }
    d
}

/// Top folders of absolute paths that belong to a machine, not to a repository.
const SYSTEM_ROOTS: &[&str] = &[
    "usr",
    "etc",
    "opt",
    "var",
    "tmp",
    "home",
    "Users",
    "mnt",
    "private",
    "System",
    "Library",
    "proc",
    "dev",
    "bin",
    "sbin",
    "lib",
    "lib64",
    "root",
    "Volumes",
    "nix",
    "snap",
    "srv",
    "run",
    "Applications",
    "sys",
    "media",
];

/// Folders of third-party code and build output.
const GENERATED_DIRS: &[&str] = &[
    "node_modules",
    "vcpkg_installed",
    "vcpkg",
    "dist",
    "build",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    "site-packages",
    "CMakeFiles",
    ".next",
    ".nuxt",
    "coverage",
    ".gradle",
    "Pods",
    "DerivedData",
    ".terraform",
    "bower_components",
    ".tox",
    "_build",
    "cmake-build-debug",
    "cmake-build-release",
    ".dart_tool",
    ".pytest_cache",
    ".mypy_cache",
    "obj",
];

/// Generated files by name or ending.
const GENERATED_NAMES: &[&str] = &[
    "CMakeCache.txt",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "Pipfile.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
    "uv.lock",
    "bun.lockb",
    "bun.lock",
    "flake.lock",
    "packages.lock.json",
    "compile_commands.json",
];
const GENERATED_ENDINGS: &[&str] = &[
    ".pb.h",
    ".pb.cc",
    ".pb.go",
    "_pb2.py",
    "_pb2_grpc.py",
    ".pyc",
    ".o",
    ".obj",
    ".so",
    ".dylib",
    ".dll",
    ".a",
    ".class",
    ".min.js",
    ".min.css",
    ".js.map",
    ".g.dart",
    ".freezed.dart",
];

/// Why a path that was not found is no deliverable of these repositories: an absolute path
/// of a machine, or third-party / generated output. `None`: it is a real gap.
pub fn skip_reason(path: &str) -> Option<String> {
    let comps: Vec<&str> = path.split('/').collect();
    if path.starts_with('/') && comps.len() > 2 && SYSTEM_ROOTS.contains(&comps[1]) {
        return Some(format!("outside the repository (absolute path under /{}/)", comps[1]));
    }
    if let Some(d) = comps[..comps.len() - 1].iter().find(|c| GENERATED_DIRS.contains(c)) {
        return Some(format!("third-party or generated ({d}/)"));
    }
    let name = comps.last().copied().unwrap_or(path);
    if GENERATED_NAMES.contains(&name) {
        return Some(format!("generated file ({name})"));
    }
    if let Some(e) = GENERATED_ENDINGS.iter().find(|e| name.ends_with(*e)) {
        return Some(format!("generated file (*{e})"));
    }
    None
}

/// Does this text look like a plan (so that yielding no deliverable is a failure to read it,
/// not an empty plan)? Returns what made it look so.
fn plan_signs(content: &str, format: PlanFormat, tasks: usize) -> Option<String> {
    let mut boxes = 0usize;
    let mut ids = 0usize;
    let mut task_heading = false;
    let prose = extract::literal::blank(content);
    for (_, line) in extract::unfenced_lines(&prose) {
        let t = line.trim_start();
        let item = t.strip_prefix(['-', '*', '+']).map(str::trim_start);
        if item.is_some_and(|r| r.starts_with("[ ]") || r.starts_with("[x]") || r.starts_with("[X]")) {
            boxes += 1;
        }
        if extract::speckit::parse_task_line(line).is_some() || extract::speckit::parse_task_heading(line).is_some() {
            ids += 1;
        }
        if t.starts_with('#') {
            let h = t.trim_start_matches('#').trim().to_ascii_lowercase();
            if h.starts_with("tasks")
                || h.starts_with("task list")
                || h == "todo"
                || h.starts_with("implementation tasks")
            {
                task_heading = true;
            }
        }
    }
    let mut signs = Vec::new();
    if ids > 0 {
        signs.push(format!("{ids} task id(s)"));
    }
    if boxes > 0 {
        signs.push(format!("{boxes} checkbox(es)"));
    }
    if task_heading {
        signs.push("a tasks heading".to_string());
    }
    if format == PlanFormat::Cursor && tasks > 0 {
        signs.push(format!("{tasks} todo(s)"));
    }
    (!signs.is_empty()).then(|| signs.join(", "))
}

fn ratio(present: usize, expected: usize) -> f64 {
    if expected == 0 { 0.0 } else { present as f64 / expected as f64 }
}

/// Audits one plan file (with the status conflicts it holds); `None` when it is no plan
/// after all (its only boxes are examples), `Err` carries a message for the report's errors.
fn audit_plan(
    path: &str,
    found: &crate::discover::Discovered,
    index: &FileIndex,
    known: &Known,
    fp: &mut Fingerprinter,
) -> Result<Option<(PlanReport, Vec<StatusConflict>, Vec<String>)>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read plan: {e}"))?;
    fp.str(path);
    fp.bytes(&bytes);
    let content = String::from_utf8_lossy(&bytes);
    if content.contains('\0') {
        return Err("not a text file".into());
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if found.context.contains(path) || crate::discover::is_execplan_spec(name, &content) {
        // a PLANS.md that defines ExecPlans describes plans: context, never a plan
        return Ok(None);
    }
    let (format, mut ex) = extract::read_plan_as(path, &content, found.known.get(path).copied());
    if ex.tasks.is_empty() && extract::boxes_only_in_literals(&content) {
        // every box is an example, a quotation or a comment: not a plan
        return Ok(None);
    }
    let loc = index.locate(path);
    if ex.tasks.is_empty() && loc.as_ref().is_some_and(|(_, dir)| dir.is_empty()) && repo::is_root_checklist(name) {
        // a root TODO.md / PROGRESS.md / ROADMAP.md / TASKS.md is a plan by its boxes only
        return Ok(None);
    }
    let problems = std::mem::take(&mut ex.problems);
    let sprint = found.sprint.get(path).map(|s| sprint_conflicts(path, s, &ex));
    let mut skipped = Vec::new();
    let deliverables: Vec<Deliverable> = ex
        .deliverables
        .iter()
        .map(|e| check(e, index, loc.as_ref(), known, fp))
        .filter(|d| {
            let reason = match d.status {
                Status::Missing => skip_reason(&d.path).or_else(|| index.ignored(loc.as_ref(), &d.path)),
                _ => None,
            };
            match reason {
                Some(reason) => {
                    skipped.push(Skipped { path: d.path.clone(), line: d.evidence.line, reason });
                    false
                }
                None => true,
            }
        })
        .collect();
    let unreadable = unreadable_reason(&ex, &content, format, &skipped);
    let mut groups: Vec<GroupCompletion> = Vec::new();
    for d in &deliverables {
        let present = usize::from(d.status == Status::Present);
        match groups.iter_mut().find(|g| g.name == d.group) {
            Some(g) => {
                g.present += present;
                g.expected += 1;
            }
            None => groups.push(GroupCompletion { name: d.group.clone(), completion: 0.0, present, expected: 1 }),
        }
    }
    for g in &mut groups {
        g.completion = ratio(g.present, g.expected);
    }
    let present = deliverables.iter().filter(|d| d.status == Status::Present).count();
    let (tasks_total, tasks_done, verified_done) = task_numbers(&ex, &deliverables);
    let conflicts = ex
        .declared
        .iter()
        .filter(|d| extract::conflicts(d))
        .map(|d| StatusConflict {
            path: path.to_string(),
            status: d.status.clone(),
            done: d.done,
            total: d.total,
            task: d.task.clone(),
            sprint_status: None,
        })
        .chain(sprint.into_iter().flatten())
        .collect();
    let title = if ex.title.is_empty() { path.rsplit('/').next().unwrap_or(path).to_string() } else { ex.title };
    let report = PlanReport {
        path: path.to_string(),
        format,
        completion: ratio(tasks_done, tasks_total),
        tasks_total,
        tasks_done,
        verified: ratio(verified_done, tasks_done),
        groups,
        expected: deliverables.len(),
        present,
        deliverables,
        tasks: ex.tasks,
        title,
        unreadable,
        skipped,
    };
    Ok(Some((report, conflicts, problems)))
}

/// A BMAD v6 story against its `sprint-status.yaml` status `yaml`: the YAML says done while
/// boxes are open, or the YAML and the story's own `Status` disagree (`done` and `review`).
/// A story whose own status already conflicts with its boxes in the same way is not listed
/// twice.
fn sprint_conflicts(path: &str, yaml: &str, ex: &extract::Extracted) -> Vec<StatusConflict> {
    let done = ex.tasks.iter().filter(|t| t.done).count();
    let total = ex.tasks.len();
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
    let story = ex.declared.iter().find(|d| d.task.is_none()).map(|d| d.status.clone());
    let conflict = |status: String| StatusConflict {
        path: path.to_string(),
        status,
        done,
        total,
        task: None,
        sprint_status: Some(yaml.to_string()),
    };
    match story {
        Some(s) if norm(&s) != norm(yaml) => vec![conflict(s)],
        Some(_) => Vec::new(),
        None if extract::conflicts(&extract::Declared { task: None, status: yaml.to_string(), done, total }) => {
            vec![conflict(yaml.to_string())]
        }
        None => Vec::new(),
    }
}

/// (tasks counted, done, done and verified): cancelled tasks are not counted; a done task is
/// verified when it names at least one checked output and every one is present (or moved).
fn task_numbers(ex: &extract::Extracted, deliverables: &[Deliverable]) -> (usize, usize, usize) {
    let counted = ex.tasks.iter().filter(|t| !ex.cancelled.contains(&t.id));
    let (mut total, mut done, mut verified) = (0, 0, 0);
    for t in counted {
        total += 1;
        if !t.done {
            continue;
        }
        done += 1;
        // the task's paths as checked (a bare name may have merged into its full path; a
        // skipped third-party path is no output)
        let outputs: Vec<&Deliverable> = t
            .paths
            .iter()
            .filter_map(|p| {
                let suffix = format!("/{p}");
                deliverables
                    .iter()
                    .find(|d| d.path == *p)
                    .or_else(|| deliverables.iter().find(|d| d.path.ends_with(&suffix)))
            })
            .collect();
        if !outputs.is_empty() && outputs.iter().all(|d| !d.status.is_gap()) {
            verified += 1;
        }
    }
    (total, done, verified)
}

/// Why a plan that yielded no deliverable could not be read, when it looks like a plan; the
/// reason says what was read (tasks without files, paths all skipped) or what made it look
/// like one.
fn unreadable_reason(
    ex: &extract::Extracted,
    content: &str,
    format: PlanFormat,
    skipped: &[Skipped],
) -> Option<String> {
    if let Some(why) = &ex.unreadable {
        return Some(why.clone());
    }
    if !ex.deliverables.is_empty() {
        return None;
    }
    let kind = format.as_str();
    if !ex.tasks.is_empty() {
        let done = ex.tasks.iter().filter(|t| t.done).count();
        return Some(format!(
            "read as a {kind} plan: {} task(s), {done} done, but none names a file, so no output can be checked",
            ex.tasks.len()
        ));
    }
    let signs = plan_signs(content, format, ex.tasks.len())?;
    Some(if skipped.is_empty() {
        format!(
            "looks like a {kind} plan ({signs}) but no task could be read from it: its layout is not one this audit reads"
        )
    } else {
        format!("looks like a {kind} plan ({signs}) but every path it names is outside the repository or generated")
    })
}

/// Each plan once, sorted, however many folders reach it: paths are the same plan when they
/// name the same host file (through `mounts`). Of two, the one inside a repository is kept, as
/// its folder narrows where its deliverables are looked for.
fn distinct_plans(paths: Vec<String>, index: &FileIndex, mounts: &[(String, String)]) -> Vec<String> {
    let mut kept: HashMap<String, String> = HashMap::with_capacity(paths.len());
    let root_hosts: Vec<(String, String)> = index
        .roots
        .iter()
        .map(|r| (format!("{}/", crate::display::rewrite_roots(r, mounts).trim_end_matches('/')), r.clone()))
        .collect();
    for mut p in paths {
        let host = crate::display::rewrite_roots(&p, mounts);
        // a plan of a plans folder that lies inside a repository is read as that
        // repository's file, so its paths resolve from its folder there
        if index.locate(&p).is_none()
            && let Some((rh, root)) = root_hosts.iter().find(|(rh, _)| host.starts_with(rh.as_str()))
        {
            p = repo::join(root, &host[rh.len()..]);
        }
        match kept.get_mut(&host) {
            Some(k) => {
                if index.locate(k).is_none() && index.locate(&p).is_some() {
                    *k = p;
                }
            }
            None => {
                kept.insert(host, p);
            }
        }
    }
    let mut v: Vec<String> = kept.into_values().collect();
    v.sort();
    v
}

/// Runs the audit. Never panics on bad input: unreadable folders and plans are recorded in
/// [`Report::errors`].
pub fn audit(input: &AuditInput) -> Report {
    let secs = time::unix_seconds(input.now);
    let now = time::rfc3339(secs);
    let mut errors = Vec::new();
    let plans_dirs: Vec<String> = input.plans_dirs.iter().map(|p| path_string(p)).collect();
    let repo_dirs: Vec<String> = if input.repo_dirs.is_empty() {
        plans_dirs.clone()
    } else {
        input.repo_dirs.iter().map(|p| path_string(p)).collect()
    };

    let (index, repo_plans) = FileIndex::build(&repo_dirs, &mut errors);
    let mut plan_paths = plans_in_dirs(&plans_dirs, &mut errors);
    plan_paths.extend(repo_plans);
    let found = crate::discover::discover(&index);
    plan_paths.extend(found.known.keys().cloned());
    let plan_paths = distinct_plans(plan_paths, &index, &input.mounts);

    let mut fp = Fingerprinter::new();
    fp.str(crate::REPORT_SCHEMA);
    fp.str(env!("CARGO_PKG_VERSION"));
    for d in plans_dirs.iter().chain(std::iter::once(&"--".to_string())).chain(repo_dirs.iter()) {
        fp.str(d);
    }
    let known = known_files(input.previous.as_ref());
    let mut plans = Vec::with_capacity(plan_paths.len());
    let mut failed: HashSet<String> = HashSet::new();
    let mut status_conflicts = Vec::new();
    for p in &plan_paths {
        match audit_plan(p, &found, &index, &known, &mut fp) {
            Ok(Some((r, c, problems))) => {
                errors.extend(problems.into_iter().map(|message| AuditIssue { path: p.clone(), message }));
                plans.push(r);
                status_conflicts.extend(c);
            }
            Ok(None) => {}
            Err(message) => {
                fp.str(p);
                fp.str(&message);
                failed.insert(p.clone());
                errors.push(AuditIssue { path: p.clone(), message });
            }
        }
    }
    for e in &errors {
        fp.str(&e.path);
    }

    let mut false_claims = Vec::new();
    for p in &plans {
        for d in &p.deliverables {
            if d.claimed_done && matches!(d.status, Status::Missing | Status::Stub) {
                false_claims.push(FalseClaim {
                    plan: p.path.clone(),
                    path: d.path.clone(),
                    status: d.status,
                    reason: d.reason.clone(),
                    deleted_in: None,
                    date: None,
                });
            }
        }
    }
    let gaps = diff::gaps(&plans, input.previous.as_ref(), &failed, &now);
    let changes = input.previous.as_ref().map(|prev| diff::changes(prev, &plans, &failed));

    Report {
        schema: crate::REPORT_SCHEMA.to_string(),
        generated_at: now,
        generated_unix: secs,
        fingerprint: fp.finish(),
        plans_dirs,
        repo_dirs,
        plans,
        false_claims,
        status_conflicts,
        gaps,
        changes,
        errors,
        display_roots: Vec::new(),
        moved: None,
    }
}
