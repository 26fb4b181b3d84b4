//! The handoff pipeline. One batch travels:
//!
//! 1. **scan**: ready files in baton's inbox are claimed (atomic rename into this process's
//!    work folder); claims of dead processes are taken over;
//! 2. **ledger**: each claim is parsed, validated and recorded in one transaction, which is
//!    also where duplicate ids are caught;
//! 3. **run**: tasks run in the wasm runtime, concurrently;
//! 4. **RETURN**: answers (and `.error.json` records, follow-ups) are created durably, under
//!    names derived from the claim, never overwriting;
//! 5. **ledger**: results are recorded in a second transaction;
//! 6. **file**: originals move to `02_processed/` or `03_failed/`.
//!
//! A crash anywhere leaves the claim in the work folder; the next process re-runs it, and
//! step 4 finds the RETURN already there. Hence: execution at least once, RETURN exactly once.
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tracing::{info, info_span, warn, Instrument};

use baton_handoff::{names, schema, stamp, ErrorCode, PluginRef, Status, TaskBody};
use baton_ledger::{Ledger, Observed, TaskRow};
use baton_runtime::{Execution, RunError, Runtime, TaskInput};

use crate::claims::{Claim, Claims};
use crate::intake::{observed, prepare};
use crate::config::{Config, Paths};
use crate::returns::{self, Answer};
use crate::{failpoint, fsops, PipelineError};

/// A shared handle on the state database.
pub type SharedLedger = Arc<Mutex<Ledger>>;

/// What one drain (`serve --once`) did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub completed: usize,
    pub failed: usize,
    pub rejected: usize,
    pub duplicates: usize,
    pub returns_filed: usize,
    pub retried: usize,
}

pub struct Pipeline {
    pub(crate) cfg: Config,
    pub(crate) paths: Paths,
    pub(crate) ledger: SharedLedger,
    runtime: Arc<Runtime>,
    claims: Claims,
    /// Inbox files that do not parse yet: (size, mtime) and since when they were stable.
    unsettled: HashMap<OsString, (u64, SystemTime, Instant)>,
    /// Claims waiting for their next attempt.
    retry_at: HashMap<String, Instant>,
    /// Other agents' inbox files already recorded.
    observed: HashSet<(String, OsString)>,
    /// Other agents' inbox files that did not parse, with the (size, mtime) they had then.
    unparsed: HashMap<(String, OsString), (u64, Option<SystemTime>)>,
    /// Consecutive sandbox failures and pauses, per plugin.
    health: HashMap<String, Health>,
    pub summary: Summary,
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub consecutive_failures: u32,
    pub paused_until: Option<String>,
    pub last_error: Option<String>,
}

/// The ledger key-value namespace where plugin health is kept (read by `baton status`).
pub const HEALTH_NS: &str = "baton.health";

/// One claim, once parsed and checked against the ledger.
pub(crate) enum Prepared {
    /// Refused without running; RETURN to `reply` if known.
    Refuse { code: ErrorCode, message: String, reply: Option<String>, task: Option<TaskBody> },
    /// A sync tool's conflict copy: filed with the reason, no RETURN.
    Conflict(&'static str),
    /// A RETURN answering a follow-up baton emitted: recorded (in step 2) and filed.
    Reply,
    /// A TASK for another agent: delivered to its inbox, answered `completed`.
    Route(TaskBody),
    /// The same id and content as an accepted task: filed, no second run or RETURN.
    Duplicate,
    /// This exact claim already finished before a crash: only the filing is left.
    Finished(TaskRow),
    /// To run, at attempt `attempt` (1-based), with the errors of earlier attempts.
    Run { task: TaskBody, attempt: u32, history: Vec<Value> },
}

/// A claim on its way through the batch.
pub(crate) struct Item {
    pub(crate) claim: Claim,
    pub(crate) prepared: Prepared,
    pub(crate) answer: Option<Answer>,
    pub(crate) exec_logs: Vec<baton_runtime::LogLine>,
    pub(crate) follow_ups: Vec<baton_runtime::FollowUp>,
    pub(crate) retry: Option<Duration>,
    pub(crate) started: Option<Instant>,
    /// Where the original goes, decided when the outputs are written.
    pub(crate) dest: Option<(PathBuf, OsString)>,
    pub(crate) return_name: Option<String>,
}

impl Item {
    pub(crate) fn new(claim: Claim, prepared: Prepared) -> Self {
        Item {
            claim,
            prepared,
            answer: None,
            exec_logs: vec![],
            follow_ups: vec![],
            retry: None,
            started: None,
            dest: None,
            return_name: None,
        }
    }
}

impl Pipeline {
    pub fn new(cfg: Config, paths: Paths, ledger: SharedLedger, runtime: Arc<Runtime>) -> Result<Self, PipelineError> {
        let me = &cfg.agent;
        for dir in [paths.inbox(me), paths.processed(me), paths.failed(me)] {
            std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io(&dir, e))?;
        }
        let claims = Claims::open(&paths.agent(me)).map_err(|e| PipelineError::io(&paths.agent(me), e))?;
        Ok(Pipeline {
            cfg,
            paths,
            ledger,
            runtime,
            claims,
            unsettled: HashMap::new(),
            retry_at: HashMap::new(),
            observed: HashSet::new(),
            unparsed: HashMap::new(),
            health: HashMap::new(),
            summary: Summary::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Reloads plugins whose installed file changed (cheap when nothing did: one stat per file).
    pub async fn reload_plugins(&mut self) -> Vec<String> {
        crate::plugins::reload_changed(&self.runtime, &self.cfg, &self.paths).await
    }

    /// One pass: take over dead claims, claim what is ready, run every due claim in batches,
    /// record other agents' handoffs. Returns when something is next due, if anything waits.
    pub async fn tick(&mut self) -> Result<Option<Instant>, PipelineError> {
        let agent_dir = self.paths.agent(&self.cfg.agent);
        self.claims.take_over_dead().map_err(|e| PipelineError::io(&agent_dir, e))?;
        if self.claim_ready()? > 0 {
            failpoint::hit("after_claim");
        }
        loop {
            let now = Instant::now();
            let due: Vec<Claim> = self
                .claims
                .list()
                .map_err(|e| PipelineError::io(self.claims.dir(), e))?
                .into_iter()
                .filter(|c| self.retry_at.get(&c.key()).is_none_or(|t| *t <= now))
                .take(self.cfg.batch)
                .collect();
            if due.is_empty() {
                break;
            }
            let full = due.len() == self.cfg.batch;
            self.process(due).await?;
            if !full {
                break;
            }
        }
        self.observe_agents()?;
        let next_retry = self.retry_at.values().min().copied();
        let next_settle = (!self.unsettled.is_empty()).then(|| Instant::now() + Duration::from_millis(self.cfg.settle_ms.clamp(10, 250)));
        Ok([next_retry, next_settle].into_iter().flatten().min())
    }

    /// Claims every inbox file that is ready: it parses, or it is refused on sight (symlink,
    /// too large, bad name, conflict copy), or it stopped changing without ever parsing.
    fn claim_ready(&mut self) -> Result<usize, PipelineError> {
        let inbox = self.paths.inbox(&self.cfg.agent);
        let mut entries: Vec<_> =
            std::fs::read_dir(&inbox).map_err(|e| PipelineError::io(&inbox, e))?.flatten().collect();
        // Names start with their UTC stamp: claim oldest first.
        entries.sort_by_key(|e| e.file_name());
        let mut seen = HashSet::new();
        let mut claimed = 0;
        for entry in entries {
            let name = entry.file_name();
            if names::classify(name.as_bytes()) == names::Entry::Ignored {
                continue;
            }
            seen.insert(name.clone());
            let ready = match names::classify(name.as_bytes()) {
                names::Entry::SyncConflict(_) => true,
                _ => self.is_ready(&entry.path(), &name),
            };
            if ready {
                self.unsettled.remove(&name);
                match self.claims.claim(&entry.path()) {
                    Ok(Some(_)) => claimed += 1,
                    Ok(None) => {} // another process won it
                    Err(e) => warn!(file = %entry.path().display(), "claim failed: {e}"),
                }
            }
        }
        self.unsettled.retain(|n, _| seen.contains(n));
        Ok(claimed)
    }

    fn is_ready(&mut self, path: &Path, name: &OsString) -> bool {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
        if !meta.is_file() || meta.len() > self.cfg.max_file_bytes || name.to_str().is_none() {
            return true; // refused on sight
        }
        let parses = std::fs::read(path)
            .map(|b| serde_json::from_slice::<serde::de::IgnoredAny>(&b).is_ok())
            .unwrap_or(false);
        if parses {
            return true;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let now = Instant::now();
        let entry = self.unsettled.entry(name.clone()).or_insert((meta.len(), mtime, now));
        if (entry.0, entry.1) != (meta.len(), mtime) {
            *entry = (meta.len(), mtime, now);
            return false;
        }
        entry.2.elapsed() >= Duration::from_millis(self.cfg.settle_ms)
    }

    /// Steps 2–6 for one batch of claims.
    async fn process(&mut self, claims: Vec<Claim>) -> Result<(), PipelineError> {
        // 2. parse, validate, record the claims.
        let mut items: Vec<Item> = {
            let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
            let cfg = &self.cfg;
            ledger.batch(|b| {
                claims
                    .into_iter()
                    .map(|claim| {
                        let prepared = prepare(cfg, &claim, b)?;
                        Ok(Item::new(claim, prepared))
                    })
                    .collect::<Result<Vec<_>, baton_ledger::LedgerError>>()
            })?
        };

        // 3. run.
        self.run_all(&mut items).await;
        failpoint::hit("after_run");

        // 4. answers, error records, follow-ups: durable, never overwriting.
        let mut dirs: HashSet<PathBuf> = HashSet::new();
        for item in &mut items {
            self.write_outputs(item, &mut dirs)?;
        }
        for d in &dirs {
            fsops::sync_dir(d).map_err(|e| PipelineError::io(d, e))?;
        }
        failpoint::hit("after_return");

        // 5. record the results.
        {
            let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
            let health = &self.health;
            ledger.batch(|b| {
                for item in &items {
                    record(b, item)?;
                }
                for (name, h) in health {
                    b.kv_set(HEALTH_NS, name, &serde_json::to_string(h).unwrap_or_default())?;
                }
                Ok(())
            })?;
        }
        failpoint::hit("before_file");

        // 6. file the originals.
        let mut dirs: HashSet<PathBuf> = HashSet::from([self.claims.dir().to_path_buf()]);
        for item in &mut items {
            if let Some(delay) = item.retry {
                self.retry_at.insert(item.claim.key(), Instant::now() + delay);
                self.summary.retried += 1;
                continue;
            }
            self.retry_at.remove(&item.claim.key());
            let (dir, name) = match item.dest.take() {
                Some(d) => d,
                None => (self.paths.processed(&self.cfg.agent), item.claim.original.clone()),
            };
            let to = dir.join(&name);
            let filed = match fsops::rename_noreplace(&item.claim.path, &to) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    fsops::move_into(&item.claim.path, &dir, &name)
                }
                other => other.map(|_| to),
            };
            match filed {
                Ok(to) => info!(file = %to.display(), "filed"),
                Err(e) => warn!(claim = %item.claim.path.display(), "filing failed, will retry: {e}"),
            }
            dirs.insert(dir);
            self.count(item);
        }
        for d in &dirs {
            fsops::sync_dir(d).map_err(|e| PipelineError::io(d, e))?;
        }
        Ok(())
    }

    fn count(&mut self, item: &Item) {
        let s = &mut self.summary;
        match (&item.prepared, item.answer.as_ref().map(|a| a.status)) {
            (Prepared::Duplicate, _) => s.duplicates += 1,
            (Prepared::Reply, _) => s.returns_filed += 1,
            (Prepared::Conflict(_), _) => s.rejected += 1,
            (Prepared::Finished(row), _) => match row.state.as_str() {
                "completed" => s.completed += 1,
                "rejected" => s.rejected += 1,
                _ => s.failed += 1,
            },
            (_, Some(Status::Completed)) => s.completed += 1,
            (_, Some(Status::Rejected)) => s.rejected += 1,
            (_, _) => s.failed += 1,
        }
    }

    /// Runs every `Run` item concurrently (one tokio task each, bounded by the core count).
    pub(crate) async fn run_all(&mut self, items: &mut [Item]) {
        let parallel = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let limiter = Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut set = tokio::task::JoinSet::new();
        for (i, item) in items.iter_mut().enumerate() {
            let Prepared::Run { task, attempt, .. } = &item.prepared else { continue };
            let plugin_name = task.plugin.clone().unwrap_or_default();
            let action = task.action.clone().unwrap_or_default();
            let Some(plugin) = self.runtime.get(&plugin_name) else {
                item.answer = Some(Answer::refused(
                    ErrorCode::UnknownPlugin,
                    format!("no plugin `{plugin_name}` is installed (installed: {})", self.runtime.names().join(", ")),
                ));
                continue;
            };
            if !plugin.info.actions.iter().any(|a| a.name == action) {
                let known: Vec<_> = plugin.info.actions.iter().map(|a| a.name.as_str()).collect();
                item.answer = Some(Answer::refused(
                    ErrorCode::UnknownAction,
                    format!("plugin `{plugin_name}` has no action `{action}` (it has: {})", known.join(", ")),
                ));
                continue;
            }
            self.load_health(&plugin_name);
            if let Some(until) = self.paused_until(&plugin_name) {
                item.answer = Some(Answer::refused(
                    ErrorCode::PluginPaused,
                    format!("plugin `{plugin_name}` is paused until {until} after repeated sandbox failures"),
                ));
                continue;
            }
            let input = TaskInput {
                id: task.id.clone(),
                action,
                params: task.params.clone().unwrap_or_else(|| json!({})),
                sender: task.from.clone(),
                title: task.title.clone(),
                correlation_id: task.correlation_id.clone(),
            };
            let budget = self.cfg.task_budget(&plugin_name);
            let runtime = self.runtime.clone();
            let limiter = limiter.clone();
            let span = info_span!("task", id = %task.id, plugin = %plugin_name, attempt = *attempt);
            item.started = Some(Instant::now());
            set.spawn(
                async move {
                    let _permit = limiter.acquire_owned().await;
                    let exec = runtime.handle(&plugin, &input, budget).await;
                    (i, plugin, exec)
                }
                .instrument(span),
            );
        }
        while let Some(joined) = set.join_next().await {
            let Ok((i, plugin, exec)) = joined else { continue };
            self.conclude(&mut items[i], &plugin, exec);
        }
    }

    /// Turns an execution into an answer, or a retry.
    fn conclude(&mut self, item: &mut Item, plugin: &baton_runtime::Plugin, exec: Execution) {
        let Prepared::Run { attempt, history, .. } = &mut item.prepared else { return };
        let plugin_ref =
            PluginRef { name: plugin.info.name.clone(), version: plugin.info.version.clone(), sha256: plugin.sha256.clone() };
        let started_at = stamp::rfc3339(stamp::now() - exec.elapsed);
        item.exec_logs = exec.logs;
        let (code, message) = match exec.outcome {
            Ok(out) => {
                self.healthy(&plugin.info.name);
                item.follow_ups = exec.follow_ups;
                item.answer = Some(Answer {
                    status: Status::Completed,
                    summary: out.summary,
                    result: out.result,
                    artifacts: out.artifacts,
                    error: None,
                    started_at: Some(started_at),
                    attempts: *attempt,
                    plugin: Some(plugin_ref),
                });
                info!(elapsed_us = exec.elapsed.as_micros() as u64, "completed");
                return;
            }
            Err(e) => (error_code(&e), e.to_string()),
        };
        warn!(code = %code, "attempt {attempt} failed: {message}");
        history.push(json!({"attempt": *attempt, "at": stamp::rfc3339(stamp::now()), "code": code, "message": message}));
        if matches!(code, ErrorCode::Timeout | ErrorCode::OutOfMemory | ErrorCode::Trap | ErrorCode::OutputTooLarge | ErrorCode::QuotaExceeded) {
            self.sandbox_failure(&plugin.info.name, &message);
        }
        let transient = matches!(code, ErrorCode::RetriesExhausted);
        if transient && *attempt < self.cfg.retry.max_attempts {
            item.retry = Some(self.cfg.retry.delay(*attempt));
            return;
        }
        let (code, message) = if transient {
            (code, format!("gave up after {attempt} attempts; last: {message}"))
        } else {
            (code, message)
        };
        let mut answer = Answer::refused(code, message);
        answer.started_at = Some(started_at);
        answer.attempts = *attempt;
        answer.plugin = Some(plugin_ref);
        answer.result = json!({ "history": history });
        item.answer = Some(answer);
    }

    /// Reads a plugin's saved health the first time it is needed, so a pause recorded by an
    /// earlier process also holds for a plugin loaded after start-up (hot reload).
    fn load_health(&mut self, plugin: &str) {
        if self.health.contains_key(plugin) {
            return;
        }
        let saved = self.ledger.lock().unwrap_or_else(|e| e.into_inner()).kv_get(HEALTH_NS, plugin).ok().flatten();
        let h = saved.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default();
        self.health.insert(plugin.to_string(), h);
    }

    fn paused_until(&self, plugin: &str) -> Option<String> {
        let until = self.health.get(plugin)?.paused_until.clone()?;
        let t = stamp::parse_rfc3339(&until)?;
        (t > stamp::now()).then_some(until)
    }

    fn healthy(&mut self, plugin: &str) {
        if let Some(h) = self.health.get_mut(plugin) {
            h.consecutive_failures = 0;
            h.paused_until = None;
        }
    }

    fn sandbox_failure(&mut self, plugin: &str, message: &str) {
        let h = self.health.entry(plugin.to_string()).or_default();
        h.consecutive_failures += 1;
        h.last_error = Some(message.to_string());
        if h.consecutive_failures >= self.cfg.pause_after {
            let until = stamp::now() + Duration::from_secs(self.cfg.pause_secs);
            warn!(plugin, failures = h.consecutive_failures, "pausing plugin after repeated sandbox failures");
            h.paused_until = Some(stamp::rfc3339(until));
        }
    }

    /// Step 4 for one item: decide its answer's file and write it, plus error record and
    /// follow-ups. Everything is named from the claim and created with `create_new`.
    fn write_outputs(&self, item: &mut Item, dirs: &mut HashSet<PathBuf>) -> Result<(), PipelineError> {
        if item.retry.is_some() {
            return Ok(());
        }
        let me = self.cfg.agent.as_str();
        let claim = &item.claim;
        let (code_msg, reply, task): (Option<(ErrorCode, String)>, Option<String>, Option<TaskBody>) = match &item.prepared {
            Prepared::Refuse { code, message, reply, task } => {
                item.answer = Some(Answer::refused(*code, message.clone()));
                (Some((*code, message.clone())), reply.clone(), task.clone())
            }
            Prepared::Conflict(reason) => {
                (Some((ErrorCode::SyncConflict, format!("not executed: the file is {reason}"))), None, None)
            }
            Prepared::Reply | Prepared::Duplicate => return Ok(()),
            Prepared::Finished(row) => {
                if row.state != "completed" {
                    item.dest = Some(self.failed_dest(claim, None)?);
                }
                return Ok(());
            }
            Prepared::Route(task) => {
                let to = task.to.clone().unwrap_or_default();
                let inbox = self.paths.inbox(&to);
                std::fs::create_dir_all(&inbox).map_err(|e| PipelineError::io(&inbox, e))?;
                let path = inbox.join(&claim.original);
                let bytes = std::fs::read(&claim.path).map_err(|e| PipelineError::io(&claim.path, e))?;
                fsops::create_new(&path, &bytes, true).map_err(|e| PipelineError::io(&path, e))?;
                dirs.insert(inbox);
                item.answer = Some(Answer::completed(
                    format!("routed to {to}"),
                    json!({"routed_to": to, "file": claim.original.to_string_lossy()}),
                ));
                (None, Some(task.from.clone()), Some(task.clone()))
            }
            Prepared::Run { task, .. } => {
                let err = item.answer.as_ref().and_then(|a| a.error.as_ref()).map(|e| (e.code, e.message.clone()));
                (err, Some(task.reply_agent().to_string()), Some(task.clone()))
            }
        };

        // The RETURN.
        if let (Some(reply), Some(answer)) = (reply.as_deref(), item.answer.as_ref()) {
            let title = task.as_ref().map(|t| t.title.clone()).unwrap_or_else(|| file_title(claim));
            let in_reply_to = task.as_ref().map(|t| t.id.clone()).unwrap_or_else(|| claim.original.to_string_lossy().into_owned());
            let body = returns::return_body(
                claim, me, reply, &in_reply_to, &title,
                task.as_ref().and_then(|t| t.correlation_id.as_deref()), answer,
            );
            let name = returns::return_file_name(claim, &title, me);
            let inbox = self.paths.inbox(reply);
            std::fs::create_dir_all(&inbox).map_err(|e| PipelineError::io(&inbox, e))?;
            let path = inbox.join(&name);
            let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
            fsops::create_new(&path, &bytes, true).map_err(|e| PipelineError::io(&path, e))?;
            dirs.insert(inbox);
            item.return_name = Some(name);
        }

        // Follow-ups (the runtime hands them over only for a completed task).
        if let Some(parent) = task.as_ref() {
            let written = self.write_follow_ups(claim, &parent.id, parent.correlation_id.as_deref(), &item.follow_ups)?;
            dirs.extend(written.iter().filter_map(|p| p.parent().map(Path::to_path_buf)));
        }

        // The error record, for anything that did not complete.
        if let Some((code, message)) = code_msg {
            let history = match &item.prepared {
                Prepared::Run { history, .. } => history.clone(),
                _ => vec![],
            };
            let record = returns::error_record(
                claim, task.as_ref().map(|t| t.id.as_str()), code, &message, &history, item.return_name.as_deref(),
            );
            let dest = self.failed_dest(claim, Some(&record))?;
            dirs.insert(dest.0.clone());
            item.dest = Some(dest);
        }
        Ok(())
    }

    /// Writes follow-up TASKs into their recipients' inboxes, named from the claim so that a
    /// re-run cannot write them twice. Returns their paths; the caller syncs the folders.
    pub(crate) fn write_follow_ups(
        &self,
        claim: &Claim,
        parent_id: &str,
        parent_correlation: Option<&str>,
        follow_ups: &[baton_runtime::FollowUp],
    ) -> Result<Vec<PathBuf>, PipelineError> {
        let mut written = Vec::with_capacity(follow_ups.len());
        for f in follow_ups {
            let (file, body) = returns::follow_up(claim, &self.cfg.agent, parent_id, parent_correlation, f);
            let inbox = self.paths.inbox(&f.to);
            std::fs::create_dir_all(&inbox).map_err(|e| PipelineError::io(&inbox, e))?;
            let path = inbox.join(file);
            fsops::create_new(&path, &serde_json::to_vec_pretty(&body).unwrap_or_default(), true)
                .map_err(|e| PipelineError::io(&path, e))?;
            written.push(path);
        }
        Ok(written)
    }

    /// Picks the name in `03_failed/` for a claim's original and creates its `.error.json`.
    /// A name whose error record belongs to this same claim (a crash came between) is reused.
    fn failed_dest(&self, claim: &Claim, record: Option<&Value>) -> Result<(PathBuf, OsString), PipelineError> {
        let dir = self.paths.failed(&self.cfg.agent);
        for n in 1..10_000 {
            let name = fsops::numbered(&claim.original, n);
            let err_path = dir.join(fsops::error_record_name(&name));
            let ours = std::fs::read(&err_path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["claim"] == json!(claim.key()));
            if ours {
                return Ok((dir, name));
            }
            if dir.join(&name).exists() || err_path.exists() {
                continue;
            }
            let Some(record) = record else {
                return Ok((dir, name));
            };
            let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
            if fsops::create_new(&err_path, &bytes, true).map_err(|e| PipelineError::io(&err_path, e))? {
                return Ok((dir, name));
            }
        }
        Err(PipelineError::io(&dir, std::io::Error::other("no free name in 03_failed")))
    }

    /// Records TASKs and RETURNs that agents pass each other (never moving them).
    fn observe_agents(&mut self) -> Result<(), PipelineError> {
        let Ok(agents) = std::fs::read_dir(&self.paths.handoffs) else { return Ok(()) };
        let mut found: Vec<Observed> = Vec::new();
        for agent in agents.flatten() {
            let Some(agent_name) = agent.file_name().to_str().map(str::to_string) else { continue };
            if agent_name == self.cfg.agent || !names::is_valid_name(&agent_name) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(agent.path().join("01_inbox")) else { continue };
            for e in entries.flatten() {
                let name = e.file_name();
                if names::classify(name.as_bytes()) != names::Entry::Candidate {
                    continue;
                }
                // baton's own RETURNs: the tasks they answer are in the ledger already.
                let own_return = name
                    .to_str()
                    .and_then(names::parse_file_name)
                    .is_some_and(|p| p.kind == "RETURN" && p.agent == self.cfg.agent);
                let key = (agent_name.clone(), name.clone());
                if own_return || self.observed.contains(&key) {
                    continue;
                }
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() || meta.len() > self.cfg.max_file_bytes {
                    continue;
                }
                // A file that did not parse is read again only once it changes.
                let stamp = (meta.len(), meta.modified().ok());
                if self.unparsed.get(&key) == Some(&stamp) {
                    continue;
                }
                let parsed = std::fs::read(e.path()).ok().and_then(|b| schema::parse(&b).ok());
                let Some((body, _)) = parsed else {
                    self.unparsed.insert(key, stamp);
                    continue;
                };
                self.unparsed.remove(&key);
                self.observed.insert(key);
                found.push(observed(&agent_name, &name.to_string_lossy(), &body));
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let now = stamp::rfc3339(stamp::now());
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.batch(|b| {
            for o in &found {
                b.observe(o, &now)?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// A title for a file that did not parse: the slug of a conventional name, else the name.
fn file_title(claim: &Claim) -> String {
    let name = claim.original.to_string_lossy();
    names::parse_file_name(&name).map(|p| p.slug.replace('-', " ")).unwrap_or_else(|| name.into_owned())
}

/// The error code for a failed run.
pub fn error_code(e: &RunError) -> ErrorCode {
    match e {
        RunError::InvalidInput(_) => ErrorCode::InvalidParams,
        // Mapped to RetriesExhausted only once the budget of attempts is spent.
        RunError::Transient(_) => ErrorCode::RetriesExhausted,
        RunError::Permanent(_) | RunError::BadResult(_) => ErrorCode::PluginError,
        RunError::Timeout(_) => ErrorCode::Timeout,
        RunError::OutOfMemory(_) => ErrorCode::OutOfMemory,
        RunError::Trap(_) => ErrorCode::Trap,
        RunError::OutputTooLarge { .. } => ErrorCode::OutputTooLarge,
        RunError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
    }
}

/// Step 5 for one item.
fn record(b: &baton_ledger::Batch<'_>, item: &Item) -> Result<(), baton_ledger::LedgerError> {
    let now = stamp::rfc3339(stamp::now());
    let ms = item.started.map(|s| s.elapsed().as_secs_f64() * 1e3).unwrap_or(0.0);
    let task_id = match &item.prepared {
        Prepared::Run { task, .. } | Prepared::Route(task) => Some(task.id.as_str()),
        Prepared::Refuse { task: Some(t), .. } => Some(t.id.as_str()),
        _ => None,
    };
    let key = item.claim.key();
    let subject = task_id.unwrap_or(&key);
    for l in &item.exec_logs {
        b.log(subject, &l.at, l.level, &l.message)?;
    }
    if let Prepared::Run { attempt, history, .. } = &item.prepared {
        b.start_attempt(subject, *attempt)?;
        if let Some(delay) = item.retry {
            if let Some(last) = history.last() {
                b.event(subject, &now, "attempt_failed", last)?;
            }
            b.finish(subject, "retrying", None, None, &now, ms)?;
            b.event(subject, &now, "retry_scheduled", &json!({"in_ms": delay.as_millis() as u64}))?;
            return Ok(());
        }
    }
    let Some(answer) = &item.answer else {
        if let Prepared::Conflict(reason) = &item.prepared {
            b.event(&key, &now, "sync_conflict", &json!({"reason": reason}))?;
        }
        return Ok(());
    };
    let state = answer.status.as_str();
    let err = answer.error.as_ref().map(|e| (e.code.as_str(), e.message.as_str()));
    if task_id.is_some() && !matches!(item.prepared, Prepared::Refuse { code: ErrorCode::DuplicateId, .. }) {
        b.finish(subject, state, err, item.return_name.as_deref(), &now, ms)?;
    }
    b.event(
        subject,
        &now,
        state,
        &json!({"return": item.return_name, "error": answer.error, "summary": answer.summary, "duration_ms": ms}),
    )?;
    Ok(())
}
