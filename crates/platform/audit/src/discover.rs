//! Plans a repository keeps by its configuration rather than by their names, and the files
//! that describe plans without being one: BMAD stories in the folder a config names (v4's
//! `.bmad-core/core-config.yaml` `devStoryLocation`, v6's `_bmad/bmm/config.yaml`
//! `implementation_artifacts`) with their `sprint-status.yaml` statuses, and Codex ExecPlans
//! in the folder their `PLANS.md` names, that `PLANS.md` itself (found in `.agent/`, at the
//! root, or where `AGENTS.md` says) being context, never a plan.

use std::collections::{HashMap, HashSet};
use std::fs;

use crate::model::PlanFormat;
use crate::repo::{self, FileIndex};

/// What the repositories' configurations say about their plans.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Plan paths (full) with the format their configuration gives them.
    pub known: HashMap<String, PlanFormat>,
    /// Files that define plans (an ExecPlan `PLANS.md`): never audited as plans.
    pub context: HashSet<String>,
    /// A BMAD v6 story's status in `sprint-status.yaml`, by the story's full path.
    pub sprint: HashMap<String, String>,
}

/// Reads every repository's configurations.
pub fn discover(index: &FileIndex) -> Discovered {
    let mut d = Discovered::default();
    for (ri, root) in index.roots.iter().enumerate() {
        bmad_v4(index, ri, root, &mut d);
        bmad_v6(index, ri, root, &mut d);
        execplans(index, ri, root, &mut d);
    }
    d
}

/// A config value as a folder of the repository (`"{project-root}/_bmad-output/x"` →
/// `_bmad-output/x`); `None` when it leaves the repository.
fn config_dir(v: &str) -> Option<String> {
    let v = v.split(" #").next().unwrap_or(v).trim().trim_matches(['"', '\'']);
    let v = v.trim_start_matches("{project-root}").trim_start_matches('/').trim_start_matches("./");
    let v = v.trim_end_matches('/');
    (!v.is_empty() && !v.contains("..") && !v.contains('{')).then(|| v.to_string())
}

/// The value of `key:` on a line of a small YAML file.
fn yaml_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(':'))
}

/// v4: every `.md` of `devStoryLocation` is a story.
fn bmad_v4(index: &FileIndex, ri: usize, root: &str, d: &mut Discovered) {
    let Ok(cfg) = fs::read_to_string(repo::join(root, ".bmad-core/core-config.yaml")) else { return };
    for dir in cfg.lines().filter_map(|l| l.trim().strip_prefix("devStoryLocation:")).filter_map(config_dir) {
        for f in index.files_under(ri, &dir).into_iter().filter(|f| f.ends_with(".md")) {
            d.known.insert(f, PlanFormat::Bmad);
        }
    }
}

/// A v6 story's file name: `1-2-user-auth.md` (epic, story, slug).
pub fn is_v6_story_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".md") else { return false };
    let mut parts = stem.splitn(3, '-');
    let num = |p: Option<&str>| p.is_some_and(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()));
    num(parts.next()) && num(parts.next())
}

/// v6: the stories of `implementation_artifacts` (default `_bmad-output/implementation-
/// artifacts`) and the statuses `sprint-status.yaml` gives them.
fn bmad_v6(index: &FileIndex, ri: usize, root: &str, d: &mut Discovered) {
    let cfg = fs::read_to_string(repo::join(root, "_bmad/bmm/config.yaml")).unwrap_or_default();
    let dir = yaml_value(&cfg, "implementation_artifacts")
        .and_then(config_dir)
        .unwrap_or_else(|| "_bmad-output/implementation-artifacts".to_string());
    let stories: Vec<String> = index
        .files_under(ri, &dir)
        .into_iter()
        .filter(|f| is_v6_story_name(f.rsplit('/').next().unwrap_or(f)))
        .collect();
    let mut statuses: HashMap<String, String> = HashMap::new();
    let parent = dir.rsplit_once('/').map_or("", |(p, _)| p);
    for yaml in [repo::join(&dir, "sprint-status.yaml"), repo::join(parent, "sprint-status.yaml")] {
        if let Ok(text) = fs::read_to_string(repo::join(root, &yaml)) {
            for (k, v) in development_status(&text) {
                statuses.entry(k).or_insert(v);
            }
        }
    }
    for f in stories {
        let key = f.rsplit('/').next().unwrap_or(&f).trim_end_matches(".md").to_string();
        if let Some(s) = statuses.get(&key) {
            d.sprint.insert(f.clone(), s.clone());
        }
        d.known.insert(f, PlanFormat::Bmad);
    }
}

/// The `development_status:` map of a `sprint-status.yaml` (`1-2-user-auth: done`), comments
/// dropped; epics and retrospectives included (they match no story file).
pub fn development_status(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let code = line.split(" #").next().unwrap_or(line);
        if code.trim().is_empty() || code.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            inside = code.trim_end() == "development_status:";
            continue;
        }
        if inside && let Some((k, v)) = code.trim().split_once(':') {
            let v = v.trim().trim_matches(['"', '\'']);
            if !v.is_empty() {
                out.push((k.trim().trim_matches(['"', '\'']).to_string(), v.to_string()));
            }
        }
    }
    out
}

/// Does this text define ExecPlans (a spec, not a plan)?
pub fn is_execplan_spec(name: &str, content: &str) -> bool {
    name.eq_ignore_ascii_case("PLANS.md") && content.contains("ExecPlan")
}

/// ExecPlan specs (`.agent/PLANS.md`, `PLANS.md`, and those `AGENTS.md` names) are context;
/// the folders they name for plans (`` `.agent/plans/` ``, `` `docs/exec-plans/` ``) hold
/// ExecPlans.
fn execplans(index: &FileIndex, ri: usize, root: &str, d: &mut Discovered) {
    let mut specs = vec![".agent/PLANS.md".to_string(), "PLANS.md".to_string()];
    if let Ok(agents) = fs::read_to_string(repo::join(root, "AGENTS.md")) {
        for line in agents.lines() {
            for p in crate::extract::line_paths(line) {
                if p.to_ascii_lowercase().ends_with("plans.md") && !specs.contains(&p) {
                    specs.push(p.trim_start_matches('/').to_string());
                }
            }
        }
    }
    for spec in specs {
        let full = repo::join(root, &spec);
        let Ok(text) = fs::read_to_string(&full) else { continue };
        if !text.contains("ExecPlan") {
            continue;
        }
        d.context.insert(full);
        for dir in folders_named(&text) {
            for f in index.files_under(ri, &dir) {
                let name = f.rsplit('/').next().unwrap_or(&f);
                if name.ends_with(".md") && !name.eq_ignore_ascii_case("README.md") && !d.context.contains(&f) {
                    d.known.insert(f, PlanFormat::ExecPlan);
                }
            }
        }
    }
}

/// Folders a spec names for plans: code spans ending in `/` whose last folder says `plan`.
fn folders_named(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('`') else { break };
            let span = after[..end].trim();
            rest = &after[end + 1..];
            let Some(dir) = span.strip_suffix('/') else { continue };
            let last = dir.rsplit('/').next().unwrap_or(dir).to_ascii_lowercase();
            let dir = dir.trim_start_matches("./").trim_start_matches('/');
            if last.contains("plan")
                && !dir.is_empty()
                && !dir.contains([' ', '*', '<', '{'])
                && !out.iter().any(|o| o == dir)
            {
                out.push(dir.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprint_status_and_names() {
        let y = "# generated\ndevelopment_status:\n  epic-1: in-progress\n  1-1-setup: done  # shipped\n  1-2-auth: review\n\nother:\n  x: y\n";
        assert_eq!(
            development_status(y),
            [
                ("epic-1".into(), "in-progress".into()),
                ("1-1-setup".into(), "done".into()),
                ("1-2-auth".into(), "review".into())
            ]
        );
        assert!(is_v6_story_name("1-2-auth.md"));
        assert!(!is_v6_story_name("tech-spec-epic-1.md"));
        assert_eq!(
            config_dir("\"{project-root}/_bmad-output/implementation-artifacts\"").as_deref(),
            Some("_bmad-output/implementation-artifacts")
        );
        assert_eq!(
            folders_named("Plans live in `docs/exec-plans/` and `.agent/plans/`; see `src/`."),
            ["docs/exec-plans", ".agent/plans"]
        );
    }
}
