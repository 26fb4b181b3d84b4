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

use baton_handoff::{names, schema, stamp, Body, ErrorCode, PluginRef, ReturnBody, Status, TaskBody};
use baton_ledger::{Ledger, Observed, TaskRow};
use baton_runtime::{Execution, RunError, Runtime, TaskInput};

use crate::claims::{Claim, Claims};
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
    cfg: Config,
    paths: Paths,
    ledger: SharedLedger,
    runtime: Arc<Runtime>,
    claims: Claims,
    /// Inbox files that do not parse yet: (size, mtime) and since when they were stable.
    unsettled: HashMap<OsString, (u64, SystemTime, Instant)>,
    /// Claims waiting for their next attempt.
    retry_at: HashMap<String, Instant>,
    /// Other agents' inbox files already recorded.
    observed: HashSet<(String, OsString)>,
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
enum Prepared {
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
struct Item {
    claim: Claim,
    prepared: Prepared,
    answer: Option<Answer>,
    exec_logs: Vec<baton_runtime::LogLine>,
    follow_ups: Vec<baton_runtime::FollowUp>,
    retry: Option<Duration>,
    started: Option<Instant>,
    /// Where the original goes, decided when the outputs are written.
    dest: Option<(PathBuf, OsString)>,
    return_name: Option<String>,
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
                        Ok(Item {
                            claim,
                            prepared,
                            answer: None,
                            exec_logs: vec![],
                            follow_ups: vec![],
                            retry: None,
                            started: None,
                            dest: None,
                            return_name: None,
                        })
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
    async fn run_all(&mut self, items: &mut [Item]) {
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
            let budget = self.cfg.budget(&plugin_name);
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
        if matches!(code, ErrorCode::Timeout | ErrorCode::OutOfMemory | ErrorCode::Trap | ErrorCode::OutputTooLarge) {
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

        // Follow-ups, only for a completed task.
        if let Some(parent) = task.as_ref() {
            for f in &item.follow_ups {
                let (file, body) = returns::follow_up(claim, me, parent, f);
                let inbox = self.paths.inbox(&f.to);
                std::fs::create_dir_all(&inbox).map_err(|e| PipelineError::io(&inbox, e))?;
                let path = inbox.join(file);
                fsops::create_new(&path, &serde_json::to_vec_pretty(&body).unwrap_or_default(), true)
                    .map_err(|e| PipelineError::io(&path, e))?;
                dirs.insert(inbox);
            }
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
                let key = (agent_name.clone(), name.clone());
                if self.observed.contains(&key) {
                    continue;
                }
                let meta = e.metadata().ok();
                if meta.as_ref().is_none_or(|m| !m.is_file() || m.len() > self.cfg.max_file_bytes) {
                    continue;
                }
                let Ok(bytes) = std::fs::read(e.path()) else { continue };
                let Ok((body, _)) = schema::parse(&bytes) else { continue };
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

fn observed(agent: &str, file: &str, body: &Body) -> Observed {
    match body {
        Body::Task(t) => Observed {
            agent: agent.into(),
            file_name: file.into(),
            kind: "task".into(),
            id: t.id.clone(),
            in_reply_to: None,
            sender: t.from.clone(),
            recipient: t.to.clone().or_else(|| Some(agent.into())),
            title: t.title.clone(),
            created_at: t.created_at.clone(),
        },
        Body::Return(r) => Observed {
            agent: agent.into(),
            file_name: file.into(),
            kind: "return".into(),
            id: r.id.clone(),
            in_reply_to: Some(r.in_reply_to.clone()),
            sender: r.from.clone(),
            recipient: r.to.clone(),
            title: r.title.clone(),
            created_at: r.created_at.clone(),
        },
    }
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
    }
}

/// Step 2 for one claim: read it (never following a symlink), parse, validate, and check the
/// ledger for its id.
fn prepare(cfg: &Config, claim: &Claim, b: &baton_ledger::Batch<'_>) -> Result<Prepared, baton_ledger::LedgerError> {
    let original = claim.original.to_string_lossy().into_owned();
    let file_agent = claim.original.to_str().and_then(names::agent_of_file_name).map(str::to_string);
    let refuse = |code, message: String| Prepared::Refuse { code, message, reply: file_agent.clone(), task: None };
    if let names::Entry::SyncConflict(reason) = names::classify(claim.original.as_bytes()) {
        return Ok(Prepared::Conflict(reason));
    }
    let meta = match std::fs::symlink_metadata(&claim.path) {
        Ok(m) => m,
        Err(e) => return Ok(refuse(ErrorCode::Internal, format!("cannot stat the claimed file: {e}"))),
    };
    if meta.file_type().is_symlink() {
        return Ok(refuse(ErrorCode::NotAFile, "the inbox entry is a symlink; baton never follows links (copy the file in instead)".into()));
    }
    if !meta.is_file() {
        return Ok(refuse(ErrorCode::NotAFile, "the inbox entry is not a regular file".into()));
    }
    if claim.original.to_str().is_none() {
        return Ok(Prepared::Refuse {
            code: ErrorCode::InvalidName,
            message: format!("the file name {original:?} is not valid UTF-8; rename it"),
            reply: None,
            task: None,
        });
    }
    if meta.len() > cfg.max_file_bytes {
        return Ok(refuse(
            ErrorCode::TooLarge,
            format!("{} bytes is over the {} byte cap (max_file_bytes in baton.toml); the file was not read", meta.len(), cfg.max_file_bytes),
        ));
    }
    let bytes = match std::fs::read(&claim.path) {
        Ok(b) => b,
        Err(e) => return Ok(refuse(ErrorCode::Internal, format!("cannot read the claimed file: {e}"))),
    };
    let (body, value) = match schema::parse(&bytes) {
        Ok(p) => p,
        Err(invalid) => {
            // The body may still name a valid sender even if something else is wrong.
            let from = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("from").and_then(Value::as_str).map(str::to_string))
                .filter(|f| names::is_valid_name(f));
            return Ok(Prepared::Refuse { code: invalid.code, message: invalid.message, reply: from.or(file_agent), task: None });
        }
    };
    let task = match body {
        Body::Return(r) => {
            b.event(&r.in_reply_to, &stamp::rfc3339(stamp::now()), "reply_received", &json!({"return": r.id, "status": r.status, "file": original}))?;
            b.observe(&observed(&cfg.agent, &original, &Body::Return(r.clone())), &stamp::rfc3339(stamp::now()))?;
            return Ok(Prepared::Reply);
        }
        Body::Task(t) => t,
    };
    let hash = schema::content_hash(&value);
    let now = stamp::rfc3339(stamp::now());
    match b.task(&task.id)? {
        Some(row) if row.claim == claim.key() => {
            if matches!(row.state.as_str(), "completed" | "failed" | "rejected") {
                return Ok(Prepared::Finished(row));
            }
            // Resumed after a crash or a retry delay: carry the earlier attempts' errors.
            let history = b
                .events(&task.id)?
                .into_iter()
                .filter(|e| e.event == "attempt_failed")
                .map(|e| e.detail)
                .collect();
            return Ok(Prepared::Run { attempt: row.attempts + 1, task, history });
        }
        Some(row) if row.state == "retry_requested" && row.content_hash == hash => {
            // `baton retry`: a fresh run with a fresh budget of attempts, under this claim.
            b.reclaim(&task.id, &claim.key())?;
            b.event(&task.id, &now, "claimed", &json!({"file": original, "claim": claim.key(), "retry": true}))?;
            return Ok(Prepared::Run { task, attempt: 1, history: Vec::new() });
        }
        Some(row) if row.content_hash == hash => {
            b.event(&task.id, &now, "duplicate", &json!({"file": original, "first_file": row.file_name}))?;
            return Ok(Prepared::Duplicate);
        }
        Some(row) => {
            let message = format!(
                "id {:?} was already used by {} with different content; give this handoff a new id",
                task.id, row.file_name
            );
            b.event(&task.id, &now, "duplicate_id", &json!({"file": original}))?;
            return Ok(Prepared::Refuse { code: ErrorCode::DuplicateId, message, reply: Some(task.reply_agent().into()), task: Some(task) });
        }
        None => {}
    }
    b.insert_task(&TaskRow {
        id: task.id.clone(),
        content_hash: hash,
        claim: claim.key(),
        file_name: original.clone(),
        sender: task.from.clone(),
        reply_to: task.reply_agent().into(),
        plugin: task.plugin.clone(),
        action: task.action.clone(),
        title: task.title.clone(),
        state: "claimed".into(),
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at: now.clone(),
        finished_at: None,
        duration_ms: None,
    })?;
    b.event(&task.id, &now, "claimed", &json!({"file": original, "claim": claim.key()}))?;
    if let Some(to) = task.to.clone() {
        if to != cfg.agent {
            return Ok(Prepared::Route(task));
        }
        return Ok(Prepared::Refuse {
            code: ErrorCode::Misrouted,
            message: "a TASK for baton names `plugin`, `action` and `params`, not `to`".into(),
            reply: Some(task.reply_agent().into()),
            task: Some(task),
        });
    }
    Ok(Prepared::Run { task, attempt: 1, history: Vec::new() })
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

impl Pipeline {
    /// Runs one handoff file in place and returns its RETURN body, without moving or writing
    /// any file and without touching the ledger (`baton run`).
    pub async fn run_detached(&mut self, file: &Path) -> Result<ReturnBody, PipelineError> {
        let bytes = std::fs::read(file).map_err(|e| PipelineError::io(file, e))?;
        let original = file.file_name().unwrap_or_default().to_owned();
        let claim = Claim {
            path: file.to_path_buf(),
            id: crate::claims::new_claim_id(),
            original,
        };
        let (prepared, reply) = match schema::parse(&bytes) {
            Err(invalid) => (Prepared::Refuse { code: invalid.code, message: invalid.message, reply: None, task: None }, None),
            Ok((Body::Return(_), _)) => (
                Prepared::Refuse { code: ErrorCode::Invalid, message: "this is a RETURN; only a TASK can be run".into(), reply: None, task: None },
                None,
            ),
            Ok((Body::Task(t), _)) if t.plugin.is_none() => {
                let reply = Some(t.reply_agent().to_string());
                (Prepared::Refuse { code: ErrorCode::Misrouted, message: "this TASK is for another agent (`to`), not for a plugin".into(), reply: reply.clone(), task: Some(t) }, reply)
            }
            Ok((Body::Task(t), _)) => {
                let reply = Some(t.reply_agent().to_string());
                (Prepared::Run { task: t, attempt: 1, history: vec![] }, reply)
            }
        };
        let mut items = [Item {
            claim,
            prepared,
            answer: None,
            exec_logs: vec![],
            follow_ups: vec![],
            retry: None,
            started: None,
            dest: None,
            return_name: None,
        }];
        loop {
            self.run_all(&mut items).await;
            match items[0].retry.take() {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    if let Prepared::Run { attempt, .. } = &mut items[0].prepared {
                        *attempt += 1;
                    }
                }
                None => break,
            }
        }
        let item = &items[0];
        let task = match &item.prepared {
            Prepared::Run { task, .. } => Some(task),
            Prepared::Refuse { task, .. } => task.as_ref(),
            _ => None,
        };
        let answer = match (&item.prepared, &item.answer) {
            (_, Some(a)) => a.clone(),
            (Prepared::Refuse { code, message, .. }, None) => Answer::refused(*code, message.clone()),
            _ => Answer::refused(ErrorCode::Internal, "no answer"),
        };
        let title = task.map(|t| t.title.clone()).unwrap_or_else(|| item.claim.original.to_string_lossy().into_owned());
        let in_reply_to = task.map(|t| t.id.clone()).unwrap_or_else(|| item.claim.original.to_string_lossy().into_owned());
        let to = reply.unwrap_or_else(|| "unknown".into());
        Ok(returns::return_body(
            &item.claim, &self.cfg.agent, &to, &in_reply_to, &title,
            task.and_then(|t| t.correlation_id.as_deref()), &answer,
        ))
    }

    /// Moves a failed handoff back into the inbox and lets its id run again (`baton retry`).
    /// Returns the inbox path it was moved to.
    pub fn retry(&mut self, id: &str) -> Result<Option<PathBuf>, PipelineError> {
        let failed = self.paths.failed(&self.cfg.agent);
        let Ok(entries) = std::fs::read_dir(&failed) else { return Ok(None) };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(n) = name.to_str() else { continue };
            if !n.ends_with(".json") || n.ends_with(".error.json") {
                continue;
            }
            let Ok(bytes) = std::fs::read(e.path()) else { continue };
            let Ok(v) = serde_json::from_slice::<Value>(&bytes) else { continue };
            if v.get("id").and_then(Value::as_str) != Some(id) {
                continue;
            }
            let inbox = self.paths.inbox(&self.cfg.agent);
            self.ledger.lock().unwrap_or_else(|e| e.into_inner()).request_retry(id)?;
            let to = fsops::move_into(&e.path(), &inbox, &name).map_err(|err| PipelineError::io(&e.path(), err))?;
            fsops::sync_dir(&inbox).map_err(|err| PipelineError::io(&inbox, err))?;
            return Ok(Some(to));
        }
        Ok(None)
    }
}
