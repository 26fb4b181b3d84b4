//! `moved` and `deleted`: a deliverable the plan ticked that is missing now because a later
//! commit renamed it is reported as `moved` (old → new path), not as a false claim; one a
//! commit deleted (and nothing renamed) stays a false claim, now proven by history:
//! `deleted`, with the commit (`deleted_in`) and its `date`. One
//! `git log -M --diff-filter=DR --name-status` pass per repository per audit (not per
//! claim), and only when something is missing; without git (or outside a work tree) the
//! report says "moved not checked", once.
//!
//! Native only: the audit itself runs in the wasm sandbox, where git cannot run, so the host
//! (`baton audit` and `serve`'s automatic audits alike, through the pipeline's audit runner)
//! calls [`check`] on the plugin's result and applies the same [`Renames`] to the result it
//! shows ([`Renames::apply_json`]) and to the report it publishes ([`Renames::apply_report`]).
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::model::{Report, Status};

/// The renames of one repository's history: old path → (new path, abbreviated commit), both
/// relative to the work tree's top, applied oldest first so chains end at the newest name;
/// and its deletions: path → (abbreviated commit, commit date), the latest deletion of each.
struct History {
    top: PathBuf,
    renames: HashMap<String, (String, String)>,
    deletions: HashMap<String, (String, String)>,
}

impl History {
    /// The last name of `old` after every later rename, and the commit of the last one.
    fn follow(&self, old: &str) -> Option<(String, String)> {
        let mut cur = self.renames.get(old)?.clone();
        for _ in 0..64 {
            match self.renames.get(&cur.0) {
                Some(next) if next.0 != cur.0 => cur = next.clone(),
                _ => break,
            }
        }
        Some(cur)
    }
}

/// Why a repository's renames could not be read: the note of the audit says it, once per
/// work tree, so `Clone` and equality by message (one reason shown once for many plans).
#[derive(Debug, Clone, thiserror::Error)]
enum NotChecked {
    /// `git` could not be started at all (not installed, not on `PATH`).
    #[error("git cannot run ({0})")]
    Spawn(Arc<std::io::Error>),
    /// `git` ran and refused: its own words (stderr), which name what is wrong.
    #[error("{0}")]
    Git(String),
    #[error("{} is not in a git work tree ({source})", dir.display())]
    NoWorkTree { dir: PathBuf, source: Box<NotChecked> },
    #[error("git log failed in {}: {source}", top.display())]
    Log { top: PathBuf, source: Box<NotChecked> },
}

fn git(dir: &Path, args: &[&str]) -> Result<String, NotChecked> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|e| NotChecked::Spawn(Arc::new(e)))?;
    if !out.status.success() {
        return Err(NotChecked::Git(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The work tree holding `dir`, or why there is none.
fn top_of(dir: &Path) -> Result<PathBuf, NotChecked> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])
        .map_err(|e| NotChecked::NoWorkTree { dir: dir.to_path_buf(), source: Box::new(e) })?;
    Ok(PathBuf::from(top.trim()))
}

/// The nearest folder at or above `dir` that holds a `.git` (a folder, or the file of a linked
/// work tree or submodule): where `git` would look, found without starting it. An audit of
/// 1,000 plan folders outside any repository started `git rev-parse` 1,000 times: 5.3–5.7 s
/// through the binary, 3.1–3.6 s without (bench/runs/2026-11-29/audit-bench.md). `None`: no
/// work tree holds `dir`, unless `GIT_DIR` says otherwise (then `git` is asked, as before).
fn git_marker(dir: &Path) -> Option<PathBuf> {
    if std::env::var_os("GIT_DIR").is_some() {
        return Some(dir.to_path_buf());
    }
    dir.ancestors().find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok()).map(Path::to_path_buf)
}

fn history(top: &Path) -> Result<History, NotChecked> {
    let log = git(top, &["log", "-M", "--diff-filter=DR", "--name-status", "--format=%x01%h %cI", "--reverse"])
        .map_err(|e| NotChecked::Log { top: top.to_path_buf(), source: Box::new(e) })?;
    let mut renames = HashMap::new();
    let mut deletions = HashMap::new();
    let (mut commit, mut date) = (String::new(), String::new());
    for line in log.lines() {
        if let Some(h) = line.strip_prefix('\u{1}') {
            let (c, d) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
            (commit, date) = (c.to_string(), d.to_string());
            continue;
        }
        let mut parts = line.split('\t');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(kind), Some(old), Some(new)) if kind.starts_with('R') => {
                renames.insert(old.to_string(), (new.to_string(), commit.clone()));
            }
            // oldest first: a file deleted twice keeps its latest deletion
            (Some("D"), Some(path), None) => {
                deletions.insert(path.to_string(), (commit.clone(), date.clone()));
            }
            _ => {}
        }
    }
    Ok(History { top: top.to_path_buf(), renames, deletions })
}

/// The path (relative to the top) of `paths` (renamed or deleted ones) that a deliverable
/// written as `path` in a plan under `plan_dir` (relative to the top) names: exact, relative
/// to the plan, or the one whose path ends with it.
fn match_old<'h, V>(paths: &'h HashMap<String, V>, path: &str, plan_dir: &str) -> Option<&'h str> {
    let p = path.trim_start_matches('/');
    if let Some((k, _)) = paths.get_key_value(p) {
        return Some(k);
    }
    if !plan_dir.is_empty()
        && let Some((k, _)) = paths.get_key_value(&format!("{plan_dir}/{p}"))
    {
        return Some(k);
    }
    let tail = format!("/{p}");
    let mut hits = paths.keys().filter(|k| k.ends_with(&tail));
    match (hits.next(), hits.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// The renames (and deletions) found for one audit, keyed by (host path of the plan,
/// deliverable path as the plan wrote it), and the note that says what was checked.
#[derive(Debug, Default)]
pub struct Renames {
    found: HashMap<(String, String), Rename>,
    /// Missing deliverables a commit deleted (and nothing renamed), by the same key.
    deleted: HashMap<(String, String), Deletion>,
    /// `moved checked with git history: N renamed, M deleted`, `moved not needed: nothing is
    /// missing`, or `moved not checked …` with the reason.
    pub note: String,
}

/// Where a missing deliverable went.
#[derive(Debug, Clone)]
struct Rename {
    /// The host path it has now.
    moved_to: String,
    /// `old was renamed to new in <commit>` (paths relative to the work tree).
    reason: String,
}

/// The commit that deleted a missing deliverable.
#[derive(Debug, Clone)]
struct Deletion {
    commit: String,
    /// The commit's date, RFC 3339.
    date: String,
    /// `path was deleted in <commit> (<date>)`.
    reason: String,
}

/// The missing deliverables of a host-path result (`baton audit --json` shape): (plan host
/// path, deliverable path, claimed done).
pub fn missing_in_json(result: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for p in result["plans"].as_array().into_iter().flatten() {
        let plan = p["path"].as_str().unwrap_or("");
        for d in p["deliverables"].as_array().into_iter().flatten() {
            if d["status"] == "missing" {
                let claimed = d["claimed_done"] == true;
                out.push((plan.to_string(), d["path"].as_str().unwrap_or("").to_string(), claimed));
            }
        }
    }
    out
}

/// Looks up each missing deliverable (plan host path, path as written, claimed done) in the
/// git history of the plan's work tree, then of the repositories' (`repos`, host paths: a
/// plans folder kept outside the repository it plans): renamed ones are `moved`; claimed ones
/// a commit deleted are `deleted`. One `git log` per work tree, none when nothing is missing.
pub fn check(missing: &[(String, String, bool)], repos: &[PathBuf]) -> Renames {
    if missing.is_empty() {
        return Renames { note: "moved not needed: nothing is missing".into(), ..Renames::default() };
    }
    // one history per work tree, read once
    // each folder's work tree, looked up once; and one `git rev-parse` per `.git` found
    let mut tops: HashMap<PathBuf, Result<PathBuf, NotChecked>> = HashMap::new();
    let mut by_marker: HashMap<PathBuf, Result<PathBuf, NotChecked>> = HashMap::new();
    let mut histories: HashMap<PathBuf, Result<History, NotChecked>> = HashMap::new();
    let mut not_checked: Vec<String> = Vec::new();
    // (why, folders) of the folders in no work tree
    let mut no_tree: Vec<(String, Vec<String>)> = Vec::new();
    let mut found = HashMap::new();
    let mut deleted: HashMap<(String, String), Deletion> = HashMap::new();
    for (plan, path, claimed) in missing {
        let plan_dir_host = Path::new(plan).parent().map(Path::to_path_buf).unwrap_or_default();
        let mut errors: Vec<NotChecked> = Vec::new();
        let mut checked = false;
        let mut seen: Vec<PathBuf> = Vec::new();
        for dir in std::iter::once(&plan_dir_host).chain(repos) {
            let top = tops
                .entry(dir.clone())
                .or_insert_with(|| match git_marker(dir) {
                    Some(marker) => by_marker.entry(marker.clone()).or_insert_with(|| top_of(&marker)).clone(),
                    None => Err(NotChecked::NoWorkTree {
                        dir: dir.clone(),
                        source: Box::new(NotChecked::Git(
                            "not a git repository (no .git in it or any folder above it)".into(),
                        )),
                    }),
                })
                .clone();
            let top = match top {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if seen.contains(&top) {
                continue;
            }
            seen.push(top.clone());
            let h = match histories.entry(top.clone()).or_insert_with(|| history(&top)) {
                Ok(h) => h,
                Err(e) => {
                    errors.push(e.clone());
                    continue;
                }
            };
            checked = true;
            let canon_dir = std::fs::canonicalize(&plan_dir_host).unwrap_or(plan_dir_host.clone());
            let canon_top = std::fs::canonicalize(&h.top).unwrap_or(h.top.clone());
            let plan_dir =
                canon_dir.strip_prefix(&canon_top).map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
            if let Some(rename) = renamed(h, path, &plan_dir) {
                deleted.remove(&(plan.clone(), path.clone()));
                found.insert((plan.clone(), path.clone()), rename);
                break;
            }
            if *claimed
                && let Some(old) = match_old(&h.deletions, path, &plan_dir)
                && let Some((commit, date)) = h.deletions.get(old)
            {
                let reason = format!("{old} was deleted in {commit} ({date})");
                deleted.entry((plan.clone(), path.clone())).or_insert(Deletion {
                    commit: commit.clone(),
                    date: date.clone(),
                    reason,
                });
            }
        }
        if !checked {
            for e in errors {
                match e {
                    // folders outside any work tree for one reason are said once, together
                    NotChecked::NoWorkTree { dir, source } => {
                        let why = source.to_string();
                        let dir = dir.display().to_string();
                        match no_tree.iter_mut().find(|(w, _)| *w == why) {
                            Some((_, dirs)) if !dirs.contains(&dir) => dirs.push(dir),
                            Some(_) => {}
                            None => no_tree.push((why, vec![dir])),
                        }
                    }
                    e => {
                        let e = e.to_string();
                        if !not_checked.contains(&e) {
                            not_checked.push(e);
                        }
                    }
                }
            }
        }
    }
    for (why, dirs) in no_tree {
        // A few folders by name: a thousand plans in plain folders would be a thousand here.
        let named = dirs.iter().take(NAMED).map(String::as_str).collect::<Vec<_>>().join(", ");
        let more = match dirs.len().saturating_sub(NAMED) {
            0 => String::new(),
            n => format!(" and {n} more folder(s)"),
        };
        not_checked.push(format!("not in a git work tree ({why}): {named}{more}"));
    }
    let note = if not_checked.is_empty() {
        format!("moved checked with git history: {} renamed, {} deleted", found.len(), deleted.len())
    } else {
        format!("moved not checked for some plans: {}", not_checked.join("; "))
    };
    Renames { found, deleted, note }
}

/// How many folders outside any work tree the note names (the rest are counted).
const NAMED: usize = 5;

/// Where a missing deliverable went, if a commit renamed it and the new name exists.
fn renamed(h: &History, path: &str, plan_dir: &str) -> Option<Rename> {
    let old = match_old(&h.renames, path, plan_dir)?;
    let (new, commit) = h.follow(old)?;
    let host_new = h.top.join(&new);
    host_new.is_file().then(|| Rename {
        moved_to: host_new.display().to_string(),
        reason: format!("{old} was renamed to {new} in {commit}"),
    })
}

impl Renames {
    /// How many missing deliverables were renamed.
    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Whether the deliverable `path` of the plan at host path `plan` was renamed.
    pub fn contains(&self, plan: &str, path: &str) -> bool {
        self.found.contains_key(&(plan.to_string(), path.to_string()))
    }

    /// How many claimed deliverables a commit deleted (false claims history proves).
    pub fn deleted(&self) -> usize {
        self.deleted.len()
    }

    /// Rewrites a host-path result (`--json` shape): renamed deliverables become `moved`
    /// (with `moved_to` and the reason) and leave `false_claims`; sets the top-level `moved`
    /// note.
    pub fn apply_json(&self, result: &mut Value) {
        if let Some(plans) = result["plans"].as_array_mut() {
            for p in plans {
                let plan = p["path"].as_str().unwrap_or("").to_string();
                for d in p["deliverables"].as_array_mut().into_iter().flatten() {
                    let key = (plan.clone(), d["path"].as_str().unwrap_or("").to_string());
                    if d["status"] != "missing" {
                        continue;
                    }
                    if let Some(r) = self.found.get(&key) {
                        d["status"] = json!("moved");
                        d["moved_to"] = json!(r.moved_to);
                        d["reason"] = json!(r.reason);
                    } else if let Some(x) = self.deleted.get(&key)
                        && d["claimed_done"] == true
                    {
                        d["status"] = json!("deleted");
                        d["deleted_in"] = json!(x.commit);
                        d["date"] = json!(x.date);
                        d["reason"] = json!(x.reason);
                    }
                }
            }
        }
        if let Some(fc) = result["false_claims"].as_array_mut() {
            fc.retain(|f| !self.contains(f["plan"].as_str().unwrap_or(""), f["path"].as_str().unwrap_or("")));
            for f in fc {
                let key = (f["plan"].as_str().unwrap_or("").to_string(), f["path"].as_str().unwrap_or("").to_string());
                if f["status"] == "missing"
                    && let Some(x) = self.deleted.get(&key)
                {
                    f["status"] = json!("deleted");
                    f["deleted_in"] = json!(x.commit);
                    f["date"] = json!(x.date);
                    f["reason"] = json!(x.reason);
                }
            }
        }
        if result.is_object() {
            result["moved"] = json!(self.note);
        }
    }

    /// Rewrites a stored report (guest paths, mapped to host paths by its `display_roots`) the
    /// same way, and records the note. Its gaps stay as they are, with their follow-up record,
    /// so that a later audit (which sees the file missing again) does not emit them anew.
    pub fn apply_report(&self, report: &mut Report) {
        let roots = report.display_roots.clone();
        let host = |p: &str| crate::display::rewrite_roots(p, &roots);
        let mut moved: HashSet<(String, String)> = HashSet::new();
        for p in &mut report.plans {
            let plan = host(&p.path);
            for d in &mut p.deliverables {
                if d.status != Status::Missing {
                    continue;
                }
                let key = (plan.clone(), d.path.clone());
                if let Some(r) = self.found.get(&key) {
                    d.status = Status::Moved;
                    d.moved_to = Some(r.moved_to.clone());
                    d.reason = Some(r.reason.clone());
                    moved.insert((p.path.clone(), d.path.clone()));
                } else if let Some(x) = self.deleted.get(&key)
                    && d.claimed_done
                {
                    d.status = Status::Deleted;
                    d.deleted_in = Some(x.commit.clone());
                    d.date = Some(x.date.clone());
                    d.reason = Some(x.reason.clone());
                }
            }
        }
        report.false_claims.retain(|f| !moved.contains(&(f.plan.clone(), f.path.clone())));
        for f in &mut report.false_claims {
            if f.status == Status::Missing
                && let Some(x) = self.deleted.get(&(host(&f.plan), f.path.clone()))
            {
                f.status = Status::Deleted;
                f.deleted_in = Some(x.commit.clone());
                f.date = Some(x.date.clone());
                f.reason = Some(x.reason.clone());
            }
        }
        report.moved = Some(self.note.clone());
    }
}
