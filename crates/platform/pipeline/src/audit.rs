//! Automatic plans audits: the host side of the `audit` plugin.
//!
//! `baton serve` runs the audit after a change in a plans folder (debounced) and on a schedule
//! (which catches changes in the repositories); `baton audit` runs it once with exactly the
//! folders given. The plugin itself decides whether the inputs changed since the last report
//! and writes nothing when they did not.
//!
//! The handoff engine runs the plugin, stages and publishes what it wrote, and delivers its
//! follow-ups; what a report says, and the git history that tells a rename from a false claim,
//! belong to the audit library, which the app wires in as [`Reports`].
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::Instrument;

use baton_runtime::{Grant, Plugin, TaskInput};
use std::path::Path;

use std::sync::Arc;

use baton_runtime::Runtime;

use crate::PipelineError;
use crate::claims::{Claim, new_claim_id};
use crate::post::Post;
use baton_home::config::Config;

/// The plugin name the host drives.
pub const PLUGIN: &str = "audit";

/// What an audit run needs from the audit library (its report format, git), wired by the app
/// through [`crate::Pipeline::start`].
pub trait Reports: Send + Sync {
    /// The newest report (its JSON file) in a reports folder.
    fn latest(&self, reports: &Path) -> Option<PathBuf>;
    /// The deliverables `result` says are missing that `repos`' history shows were renamed,
    /// recorded in `result` as moved (not false claims).
    fn renames(&self, result: &mut Value, repos: &[PathBuf]) -> Box<dyn Renamed>;
    /// `text` with each sandbox mount (guest path, host path) shown as the host path.
    fn host_text(&self, text: &str, mounts: &[(String, String)]) -> String;
    /// Moves one run's files (`files`, in order) into the reports folder `to` with `rename`,
    /// a no-replace rename, never replacing a file: a report whose name is taken (another
    /// audit in the same second) takes the next free number. Returns (from, to) per file.
    /// Without an audit library, each file keeps its name and a taken one is an error.
    fn publish(
        &self,
        files: &[PathBuf],
        to: &Path,
        rename: &dyn Fn(&Path, &Path) -> std::io::Result<()>,
    ) -> Result<Vec<(PathBuf, PathBuf)>, Box<dyn std::error::Error + Send + Sync>> {
        let mut moved = Vec::with_capacity(files.len());
        for f in files {
            let target = to.join(f.file_name().unwrap_or_default());
            rename(f, &target).map_err(|e| format!("{}: {e}", target.display()))?;
            moved.push((f.clone(), target));
        }
        Ok(moved)
    }
}

/// Renames found by [`Reports::renames`].
pub trait Renamed: Send + Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the deliverable `path` of `plan` (host path) is one of them.
    fn contains(&self, plan: &str, path: &str) -> bool;
    /// How many claimed deliverables history shows a commit deleted: still false claims (and
    /// still followed up), recorded in the report as `deleted`.
    fn deleted(&self) -> usize {
        0
    }
    /// One line for the log.
    fn note(&self) -> String;
    /// Records them (and the deletions) in the report at `path` (its JSON and Markdown, each
    /// atomically); an error says why (not a report, a write that failed): the audit
    /// library's error, which this crate does not link.
    fn record_in(&self, path: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// No audit library: an audit still runs and publishes, with paths as the sandbox shows them,
/// no rename checked and no previous report linked for the plugin to compare with.
pub struct NoReports;

struct NoRenames;

impl Renamed for NoRenames {
    fn len(&self) -> usize {
        0
    }
    fn contains(&self, _: &str, _: &str) -> bool {
        false
    }
    fn note(&self) -> String {
        "no audit library wired".into()
    }
    fn record_in(&self, _: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

impl Reports for NoReports {
    fn latest(&self, _: &Path) -> Option<PathBuf> {
        None
    }
    fn renames(&self, _: &mut Value, _: &[PathBuf]) -> Box<dyn Renamed> {
        Box::new(NoRenames)
    }
    fn host_text(&self, text: &str, _: &[(String, String)]) -> String {
        text.to_string()
    }
}

/// The repositories among an audit plugin's grants: `repos` and each `repos.NAME`.
pub fn granted_repos(grants: &[Grant]) -> Vec<PathBuf> {
    grants.iter().filter(|g| g.name == "repos" || g.name.starts_with("repos.")).map(|g| g.host_path.clone()).collect()
}

/// One audit run's folders (host paths).
#[derive(Debug, Clone, Default)]
pub struct Folders {
    pub plans: Vec<PathBuf>,
    pub repos: Vec<PathBuf>,
    pub reports: PathBuf,
}

impl Folders {
    /// The folders an audit plugin's grants name, as a run reads them: `plans`, the
    /// repositories ([`granted_repos`]), and the first writable `reports` (else `reports`).
    pub fn granted(grants: &[Grant], reports: PathBuf) -> Folders {
        Folders {
            plans: grants.iter().filter(|g| g.name == "plans").map(|g| g.host_path.clone()).collect(),
            repos: granted_repos(grants),
            reports: grants.iter().find(|g| g.name == "reports" && g.writable).map_or(reports, |g| g.host_path.clone()),
        }
    }

    pub fn grants(&self) -> Vec<Grant> {
        let ro = |name: &str, p: &PathBuf| Grant { name: name.into(), host_path: p.clone(), writable: false };
        let mut g: Vec<Grant> = self.plans.iter().map(|p| ro("plans", p)).collect();
        g.extend(self.repos.iter().map(|p| ro("repos", p)));
        g.push(Grant { name: "reports".into(), host_path: self.reports.clone(), writable: true });
        g
    }
}

/// What one audit run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The plugin's result: the `--json` shape plus `unchanged`, `reports`, `followups`…
    pub result: Value,
    pub summary: String,
    /// Paths of the follow-up TASK files written.
    pub follow_ups: Vec<PathBuf>,
}

/// When the next automatic audit is due.
#[derive(Debug)]
pub struct Schedule {
    debounce: Duration,
    interval: Duration,
    /// Set by a plans change: the quiet period ends here.
    pub after_change: Option<Instant>,
    pub next_scheduled: Instant,
}

impl Schedule {
    pub fn new(debounce: Duration, interval: Duration) -> Self {
        // The first scheduled run comes right away: catch what changed while baton was down.
        Schedule { debounce, interval, after_change: None, next_scheduled: Instant::now() }
    }
    /// A plans folder changed: (re)start the quiet period.
    pub fn changed(&mut self) {
        self.after_change = Some(Instant::now() + self.debounce);
    }
    pub fn due(&self) -> Option<Instant> {
        Some(self.after_change.map_or(self.next_scheduled, |c| c.min(self.next_scheduled)))
    }
    pub fn ran(&mut self) {
        self.after_change = None;
        self.next_scheduled = Instant::now() + self.interval;
    }
}

/// What an audit needs, owned, so that `serve` can run it as a task of its own beside the
/// pipeline.
#[derive(Clone)]
pub struct Auditor {
    runtime: Arc<Runtime>,
    cfg: Config,
    post: Arc<Post>,
    reports: Arc<dyn Reports>,
}

impl Auditor {
    /// An auditor over the pipeline's runtime, configuration and mail, reading reports with
    /// `reports`.
    pub(crate) fn new(runtime: Arc<Runtime>, cfg: Config, post: Arc<Post>, reports: Arc<dyn Reports>) -> Self {
        Auditor { runtime, cfg, post, reports }
    }

    fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    fn config(&self) -> &Config {
        &self.cfg
    }

    /// Runs the installed audit plugin once. With `folders`, exactly those are granted for this
    /// run; without, the grants in `baton.toml` apply. Follow-ups go to `followup_agent`.
    pub async fn audit(&self, folders: Option<&Folders>, force: bool) -> Result<Option<Outcome>, PipelineError> {
        let Some(registered) = self.runtime().get(PLUGIN) else {
            return Ok(None);
        };
        let plugin: std::sync::Arc<Plugin> = match folders {
            None => registered,
            Some(f) => {
                baton_fs::ensure_dir(&f.reports).map_err(|e| PipelineError::io(&f.reports, e))?;
                // The loaded plugin with this run's folders: no second compile or describe.
                std::sync::Arc::new(registered.with_grants(&f.grants()))
            }
        };
        let agent = self.config().audit.followup_agent.clone().filter(|a| !a.is_empty());
        let mounts: Vec<(String, String)> = baton_runtime::guest_paths(&plugin.grants)
            .into_iter()
            .zip(&plugin.grants)
            .map(|(guest, g)| (guest, g.host_path.display().to_string()))
            .collect();
        let claim_id = new_claim_id();
        // The plugin writes its report (which marks the gaps it emitted) into a staging folder;
        // the report moves into place only once the follow-ups are durable. A crash between
        // the two re-emits the follow-ups next time instead of losing them.
        let staging = match plugin.grants.iter().find(|g| g.name == "reports" && g.writable) {
            Some(g) => Some(Staging::prepare(&g.host_path, &claim_id, self.reports.as_ref())?),
            None => None,
        };
        let plugin = match &staging {
            Some(st) => {
                let grants: Vec<Grant> =
                    plugin
                        .grants
                        .iter()
                        .map(|g| {
                            if g.name == "reports" {
                                Grant { host_path: st.dir.clone(), ..g.clone() }
                            } else {
                                g.clone()
                            }
                        })
                        .collect();
                Arc::new(plugin.with_grants(&grants))
            }
            None => plugin,
        };
        let task_id = format!("audit-{claim_id}");
        let input = TaskInput {
            id: task_id.clone(),
            action: "audit".into(),
            params: json!({"followup_agent": agent, "force": force, "display_roots": mounts}),
            sender: self.config().agent.clone(),
            title: "Plans audit".into(),
            correlation_id: None,
            inputs: serde_json::json!({}),
        };
        let span = tracing::info_span!("task", id = %task_id, plugin = PLUGIN);
        let budget = self.config().budget(PLUGIN);
        let exec = self.runtime().handle(&plugin, &input, budget).instrument(span.clone()).await;
        let _enter = span.enter();
        let out = exec.outcome.map_err(|e| {
            if let Some(st) = &staging {
                st.discard();
            }
            PipelineError::Audit(format!("the audit plugin failed ({}): {e}", crate::faults::error_code(&e)))
        })?;
        // Renames: git cannot run in the sandbox, so the host checks the history of what the
        // audit found missing, before the report is published or any follow-up written.
        let reports = self.reports.as_ref();
        let mut result = host_paths(out.result, &mounts, reports);
        let repos = granted_repos(&plugin.grants);
        let renames = reports.renames(&mut result, &repos);
        if let Some(st) = &staging
            && let Err(e) = st.apply_renames(renames.as_ref())
        {
            st.discard();
            return Err(e);
        }
        let follow_ups: Vec<_> = exec
            .follow_ups
            .iter()
            .filter(|f| {
                let gap = f.body.get("gap");
                let field = |k: &str| gap.and_then(|g| g.get(k)).and_then(Value::as_str).unwrap_or("");
                renames.is_empty() || !renames.contains(&reports.host_text(field("plan"), &mounts), field("path"))
            })
            .cloned()
            .collect();
        baton_home::failpoint::hit("audit_before_follow_ups");
        // Follow-ups: one TASK per new gap, into the configured agent's inbox.
        let claim = Claim::new(PathBuf::new(), claim_id, "audit".into());
        let mut delivered = Vec::new();
        let written = self.post.follow_ups(&claim, &task_id, None, &follow_ups, &mut delivered)?;
        let mut dirs: std::collections::BTreeSet<&std::path::Path> =
            written.iter().filter_map(|p| p.parent()).collect();
        dirs.insert(self.post.outbox.dir());
        for dir in dirs {
            baton_fs::sync_dir(dir).map_err(|e| PipelineError::io(dir, e))?;
        }
        for name in &delivered {
            self.post.outbox.forget(name);
        }
        let published = match staging {
            Some(st) => st.publish(reports)?,
            None => Vec::new(),
        };
        let summary = published_names(&mut result, reports.host_text(&out.summary, &mounts), &published);
        tracing::info!(summary = %out.summary, follow_ups = written.len(), moved = %renames.note(), "audit done");
        Ok(Some(Outcome {
            result,
            summary: match renames.len() {
                0 => summary,
                n => format!("{summary}; {n} of those missing were renamed later (moved, not false claims)"),
            },
            follow_ups: written,
        }))
    }
}

/// The folder an audit writes its report into before it is published into the reports
/// folder: `<reports>/.staging-<claim id>/`, holding a link to the latest report (the one the
/// plugin compares with) and, after the run, the new report.
struct Staging {
    dir: PathBuf,
    reports: PathBuf,
    previous: Option<std::ffi::OsString>,
}

impl Staging {
    fn prepare(reports: &Path, claim_id: &str, library: &dyn Reports) -> Result<Self, PipelineError> {
        let dir = reports.join(format!(".staging-{claim_id}"));
        baton_fs::ensure_dir(&dir).map_err(|e| PipelineError::io(&dir, e))?;
        let previous = library.latest(reports).and_then(|p| {
            let name = p.file_name()?.to_owned();
            std::fs::hard_link(&p, dir.join(&name)).ok()?;
            Some(name)
        });
        Ok(Staging { dir, reports: reports.to_path_buf(), previous })
    }

    /// Moves what the run wrote into the reports folder: the Markdown first, the JSON (which
    /// the next run compares with) last. Never replaces a report: when another audit
    /// published one of the same name (the same second), this one takes the next number
    /// ([`Reports::publish`]). Returns (staged path, published path) per file.
    fn publish(self, library: &dyn Reports) -> Result<Vec<(PathBuf, PathBuf)>, PipelineError> {
        let mut new: Vec<std::ffi::OsString> = std::fs::read_dir(&self.dir)
            .map_err(|e| PipelineError::io(&self.dir, e))?
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| Some(n) != self.previous.as_ref() && !n.as_encoded_bytes().starts_with(b"."))
            .collect();
        new.sort_by_key(|n| (n.as_encoded_bytes().ends_with(b".json"), n.clone()));
        let files: Vec<PathBuf> = new.iter().map(|n| self.dir.join(n)).collect();
        let moved = library
            .publish(&files, &self.reports, &baton_fs::rename_noreplace)
            .map_err(|e| PipelineError::Audit(format!("publishing the report into {}: {e}", self.reports.display())))?;
        baton_fs::sync_dir(&self.reports).map_err(|e| PipelineError::io(&self.reports, e))?;
        self.discard();
        Ok(moved)
    }

    /// Records the renames in the report the run wrote (if it wrote one): its JSON and
    /// Markdown are rewritten in place, each atomically, before [`Staging::publish`] moves
    /// them where readers (alerts, dashboard, the next audit) look.
    fn apply_renames(&self, renames: &dyn Renamed) -> Result<(), PipelineError> {
        if renames.is_empty() && renames.deleted() == 0 {
            return Ok(());
        }
        let rd = std::fs::read_dir(&self.dir).map_err(|e| PipelineError::io(&self.dir, e))?;
        for name in rd.flatten().map(|e| e.file_name()) {
            let bytes = name.as_encoded_bytes();
            if Some(&name) == self.previous.as_ref() || bytes.starts_with(b".") || !bytes.ends_with(b".json") {
                continue;
            }
            let path = self.dir.join(&name);
            renames
                .record_in(&path)
                .map_err(|e| PipelineError::Audit(format!("recording renames in {}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// Drops the staging folder when it holds nothing but the link to the previous report.
    fn discard(&self) {
        if let Some(p) = &self.previous {
            let _ = std::fs::remove_file(self.dir.join(p));
        }
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "audit staging folder left in place: {e}");
        }
    }
}

/// The result and summary with the report's published names (another audit may have taken
/// the name it wrote): both name the file as the plugin wrote it, through the reports mount.
fn published_names(result: &mut Value, mut summary: String, published: &[(PathBuf, PathBuf)]) -> String {
    for (from, to) in published {
        let written = to.with_file_name(from.file_name().unwrap_or_default()).display().to_string();
        let to = to.display().to_string();
        if written == to {
            continue;
        }
        summary = summary.replace(&written, &to);
        if let Some(paths) = result.get_mut("reports").and_then(Value::as_object_mut) {
            for v in paths.values_mut() {
                if v.as_str().is_some_and(|s| s == written || Path::new(s) == from.as_path()) {
                    *v = Value::String(to.clone());
                }
            }
        }
    }
    summary
}

/// Rewrites the guest paths in a plugin's result (`/repos/x.py`) to the host paths the user
/// knows (`/home/me/project/x.py`).
fn host_paths(v: Value, mounts: &[(String, String)], reports: &dyn Reports) -> Value {
    match v {
        Value::String(s) => Value::String(reports.host_text(&s, mounts)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| host_paths(x, mounts, reports)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, host_paths(x, mounts, reports))).collect()),
        other => other,
    }
}
