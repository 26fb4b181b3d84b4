//! `moved`: a deliverable the plan ticked that is missing now because a later commit renamed
//! it is reported as `moved` (old → new path), not as a false claim. One
//! `git log -M --name-status` pass per repository per audit, and only when something is
//! missing; without git (or outside a work tree) the report says "moved not checked".
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// The renames of one repository's history: old path → (new path, abbreviated commit), both
/// relative to the work tree's top, applied oldest first so chains end at the newest name.
struct History {
    top: PathBuf,
    renames: HashMap<String, (String, String)>,
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

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("git cannot run ({e})"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The work tree holding `dir`, or why there is none.
fn top_of(dir: &Path) -> Result<PathBuf, String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| format!("{} is not in a git work tree ({e})", dir.display()))?;
    Ok(PathBuf::from(top.trim()))
}

fn history(top: &Path) -> Result<History, String> {
    let log = git(top, &["log", "-M", "--diff-filter=R", "--name-status", "--format=%x01%h", "--reverse"])?;
    let mut renames = HashMap::new();
    let mut commit = String::new();
    for line in log.lines() {
        if let Some(h) = line.strip_prefix('\u{1}') {
            commit = h.trim().to_string();
            continue;
        }
        let mut parts = line.split('\t');
        if let (Some(kind), Some(old), Some(new)) = (parts.next(), parts.next(), parts.next())
            && kind.starts_with('R')
        {
            renames.insert(old.to_string(), (new.to_string(), commit.clone()));
        }
    }
    Ok(History { top: top.to_path_buf(), renames })
}

/// The renamed path (relative to the top) a deliverable written as `path` in a plan under
/// `plan_dir` (relative to the top) names: exact, relative to the plan, or the one rename
/// whose old path ends with it.
fn match_old<'h>(h: &'h History, path: &str, plan_dir: &str) -> Option<&'h str> {
    let p = path.trim_start_matches('/');
    if let Some((k, _)) = h.renames.get_key_value(p) {
        return Some(k);
    }
    if !plan_dir.is_empty()
        && let Some((k, _)) = h.renames.get_key_value(&format!("{plan_dir}/{p}"))
    {
        return Some(k);
    }
    let tail = format!("/{p}");
    let mut hits = h.renames.keys().filter(|k| k.ends_with(&tail));
    match (hits.next(), hits.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

/// Rewrites missing deliverables that were renamed into `moved` (with `moved_to`, the host
/// path, and the reason), drops them from `false_claims`, and returns the note for the
/// report: what was checked, or why moved was not checked.
pub fn apply(result: &mut Value) -> String {
    let mut missing: Vec<(usize, usize, PathBuf)> = Vec::new();
    if let Some(plans) = result["plans"].as_array() {
        for (pi, p) in plans.iter().enumerate() {
            let plan = PathBuf::from(p["path"].as_str().unwrap_or(""));
            for (di, d) in p["deliverables"].as_array().into_iter().flatten().enumerate() {
                if d["status"] == "missing" {
                    missing.push((pi, di, plan.clone()));
                }
            }
        }
    }
    if missing.is_empty() {
        return "moved not needed: nothing is missing".into();
    }
    // one history per work tree, read once
    let mut tops: HashMap<PathBuf, Result<PathBuf, String>> = HashMap::new();
    let mut histories: HashMap<PathBuf, Result<History, String>> = HashMap::new();
    let mut not_checked: Vec<String> = Vec::new();
    let mut moved: Vec<(String, String)> = Vec::new(); // (plan, path) no longer false claims
    let mut count = 0usize;
    for (pi, di, plan) in missing {
        let dir = plan.parent().map(Path::to_path_buf).unwrap_or_default();
        let top = tops.entry(dir.clone()).or_insert_with(|| top_of(&dir)).clone();
        let top = match top {
            Ok(t) => t,
            Err(e) => {
                if !not_checked.contains(&e) {
                    not_checked.push(e);
                }
                continue;
            }
        };
        let h = match histories.entry(top.clone()).or_insert_with(|| history(&top)) {
            Ok(h) => h,
            Err(e) => {
                let e = format!("git log failed in {}: {e}", top.display());
                if !not_checked.contains(&e) {
                    not_checked.push(e);
                }
                continue;
            }
        };
        let canon_dir = std::fs::canonicalize(&dir).unwrap_or(dir.clone());
        let canon_top = std::fs::canonicalize(&h.top).unwrap_or(h.top.clone());
        let plan_dir = canon_dir.strip_prefix(&canon_top).map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
        let d = &mut result["plans"][pi]["deliverables"][di];
        let path = d["path"].as_str().unwrap_or("").to_string();
        let Some(old) = match_old(h, &path, &plan_dir) else { continue };
        let Some((new, commit)) = h.follow(old) else { continue };
        let host_new = h.top.join(&new);
        if !host_new.is_file() {
            continue;
        }
        d["status"] = json!("moved");
        d["moved_to"] = json!(host_new.display().to_string());
        d["reason"] = json!(format!("{old} was renamed to {new} in {commit}"));
        count += 1;
        moved.push((result["plans"][pi]["path"].as_str().unwrap_or("").to_string(), path));
    }
    if let Some(fc) = result["false_claims"].as_array_mut() {
        fc.retain(|f| !moved.iter().any(|(p, d)| f["plan"] == p.as_str() && f["path"] == d.as_str()));
    }
    if not_checked.is_empty() {
        format!("moved checked with git history: {count} renamed")
    } else {
        format!("moved not checked for some plans: {}", not_checked.join("; "))
    }
}
