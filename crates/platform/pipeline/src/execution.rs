//! Step 3 of the pipeline: running tasks in the wasm runtime, concurrently (one tokio task
//! each, bounded by the core count), and turning each execution into an answer or a retry as
//! soon as it finishes. A runner that panics fails its own task (`internal`), nothing else.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tracing::{Instrument, info, warn};

use baton_handoff::{ErrorCode, PluginRef, Status, stamp};
use baton_runtime::{Execution, Plugin, TaskInput};

use crate::faults::error_code;

use crate::item::{Item, Prepared};
use crate::returns::Answer;
use crate::{Pipeline, failpoint};

/// Tasks in flight, and the items they belong to.
#[derive(Default)]
pub(crate) struct Running {
    set: tokio::task::JoinSet<(usize, Execution)>,
    slots: Vec<Option<(Item, Arc<Plugin>)>>,
    ids: HashMap<tokio::task::Id, usize>,
    limiter: Option<Arc<tokio::sync::Semaphore>>,
}

type Joined = Result<(tokio::task::Id, (usize, Execution)), tokio::task::JoinError>;

impl Running {
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next item whose task finished (waits for one).
    pub(crate) async fn next(&mut self, p: &mut Pipeline) -> Option<Item> {
        let joined = self.set.join_next_with_id().await?;
        self.settle(p, joined)
    }

    /// An item whose task already finished, if any (never waits).
    pub(crate) fn try_next(&mut self, p: &mut Pipeline) -> Option<Item> {
        let joined = self.set.try_join_next_with_id()?;
        self.settle(p, joined)
    }

    fn settle(&mut self, p: &mut Pipeline, joined: Joined) -> Option<Item> {
        let (slot, outcome) = match joined {
            Ok((_, (slot, exec))) => (slot, Ok(exec)),
            Err(e) => (*self.ids.get(&e.id())?, Err(panic_message(e))),
        };
        let (mut item, plugin) = self.slots.get_mut(slot)?.take()?;
        match outcome {
            Ok(exec) => p.conclude(&mut item, &plugin, exec),
            Err(message) => p.panicked(&mut item, &plugin, message),
        }
        Some(item)
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into()),
        Err(e) => e.to_string(),
    }
}

impl Pipeline {
    /// Starts an item's task, or returns the item when there is nothing to run (not a `Run`,
    /// or refused before running: unknown plugin or action, plugin paused).
    pub(crate) fn start(&mut self, mut item: Item, running: &mut Running) -> Option<Item> {
        let Prepared::Run { task, attempt, .. } = &item.prepared else { return Some(item) };
        let span = item.span.clone();
        span.record("attempt", *attempt);
        let _entered = span.enter();
        // A refusal here still ends this attempt: its RETURN says which one it was.
        let refused = |code, message: String| Some(Answer { attempts: *attempt, ..Answer::refused(code, message) });
        let plugin_name = task.plugin.clone().unwrap_or_default();
        let action = task.action.clone().unwrap_or_default();
        let Some(plugin) = self.runtime.get(&plugin_name) else {
            item.answer = refused(ErrorCode::UnknownPlugin, self.not_loaded(&plugin_name));
            return Some(item);
        };
        if !plugin.info.actions.iter().any(|a| a.name == action) {
            let known: Vec<_> = plugin.info.actions.iter().map(|a| a.name.as_str()).collect();
            item.answer = refused(
                ErrorCode::UnknownAction,
                format!("plugin `{plugin_name}` has no action `{action}` (it has: {})", known.join(", ")),
            );
            return Some(item);
        }
        self.health.load(&self.ledger, &plugin_name);
        if let Some(pause) = self.health.paused(&plugin_name) {
            let message = match pause {
                crate::health::Pause::Failures { until } => {
                    format!("plugin `{plugin_name}` is paused until {until} after repeated sandbox failures")
                }
                crate::health::Pause::Hand { since } => {
                    format!(
                        "plugin `{plugin_name}` was paused by hand at {since}; `baton plugin resume {plugin_name}` lifts it"
                    )
                }
            };
            item.answer = refused(ErrorCode::PluginPaused, message);
            return Some(item);
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
        let limiter = running
            .limiter
            .get_or_insert_with(|| {
                let parallel = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
                Arc::new(tokio::sync::Semaphore::new(parallel))
            })
            .clone();
        item.started = Some(Instant::now());
        let slot = running.slots.len();
        let run_plugin = plugin.clone();
        let handle = running.set.spawn(
            async move {
                let _permit = limiter.acquire_owned().await;
                failpoint::hit_for("in_run", &input.id);
                failpoint::hit_for("panic_in_run", &input.id);
                let exec = runtime.handle(&run_plugin, &input, budget).await;
                (slot, exec)
            }
            .instrument(span.clone()),
        );
        running.ids.insert(handle.id(), slot);
        running.slots.push(Some((item, plugin)));
        None
    }

    /// Why no plugin `name` is loaded: never installed, or installed but refused at load (the
    /// ledger's `plugin_refusals` says why; the reason names the fix).
    fn not_loaded(&self, name: &str) -> String {
        // Loaded on demand, the runtime holds only what tasks named so far: list the files.
        let installed =
            if self.on_demand { crate::plugins::installed_names(&self.paths) } else { self.runtime.names() }.join(", ");
        let refused = self.ledger.lock().unwrap_or_else(|e| e.into_inner()).refusals().unwrap_or_default();
        match refused.into_iter().find(|r| r.name == name) {
            Some(r) => {
                let fix = if r.reason.contains("baton plugin ") {
                    String::new()
                } else {
                    format!(
                        ". To fix it, install a build that loads (`baton plugin install PATH --yes`) or move this one aside (`baton plugin remove {name}`)"
                    )
                };
                format!(
                    "plugin `{name}` is installed ({}) but was refused when baton loaded it at {}: {}{fix} \
                     (loaded plugins: {installed}; `baton status` lists refused plugins)",
                    r.file,
                    r.at,
                    baton_runtime::limits::truncate(r.reason, 2048),
                )
            }
            None => format!("no plugin `{name}` is installed (installed: {installed}); see `baton plugin list`"),
        }
    }

    /// Runs every item to its answer (or retry) and returns them: `baton run`.
    pub(crate) async fn run_all(&mut self, items: Vec<Item>) -> Vec<Item> {
        self.load_named(&items).await;
        let mut running = Running::default();
        let mut done: Vec<Item> = items.into_iter().filter_map(|i| self.start(i, &mut running)).collect();
        while !running.is_empty() {
            done.extend(running.next(self).await);
        }
        done
    }

    /// Turns an execution into an answer, or a retry.
    pub(crate) fn conclude(&mut self, item: &mut Item, plugin: &Plugin, exec: Execution) {
        let span = item.span.clone();
        let _entered = span.enter();
        let Prepared::Run { attempt, base, history, .. } = &mut item.prepared else { return };
        let plugin_ref = plugin_ref(plugin);
        let started_at = stamp::rfc3339(stamp::now() - exec.elapsed);
        item.exec_logs = exec.logs;
        let (code, message) = match exec.outcome {
            Ok(out) => {
                self.health.healthy(&plugin.info.name);
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
        history
            .push(json!({"attempt": *attempt, "at": stamp::rfc3339(stamp::now()), "code": code, "message": message}));
        if matches!(
            code,
            ErrorCode::Timeout
                | ErrorCode::OutOfMemory
                | ErrorCode::Trap
                | ErrorCode::OutputTooLarge
                | ErrorCode::QuotaExceeded
        ) {
            let policy = crate::health::PausePolicy { after: self.cfg.pause_after, secs: self.cfg.pause_secs };
            self.health.sandbox_failure(&plugin.info.name, &message, policy);
        }
        let transient = matches!(code, ErrorCode::RetriesExhausted);
        // The budget of automatic retries is this run's: a `baton retry` starts a fresh one.
        let this_run = attempt.saturating_sub(*base);
        if transient && this_run < self.cfg.retry.max_attempts {
            item.retry = Some(self.cfg.retry.delay(this_run));
            return;
        }
        let message = if transient { format!("gave up after {this_run} attempts; last: {message}") } else { message };
        let mut answer = Answer::refused(code, message);
        answer.started_at = Some(started_at);
        answer.attempts = *attempt;
        answer.plugin = Some(plugin_ref);
        answer.result = json!({ "history": history });
        item.answer = Some(answer);
    }

    /// The host's runner for this task panicked: the task fails `internal`, with its RETURN.
    fn panicked(&mut self, item: &mut Item, plugin: &Plugin, message: String) {
        let span = item.span.clone();
        let _entered = span.enter();
        let Prepared::Run { attempt, history, .. } = &mut item.prepared else { return };
        let message =
            format!("baton's runner for this task panicked ({message}); this is a bug in baton, not in the task");
        tracing::error!(claim = %item.claim.key(), "{message}");
        history.push(json!({"attempt": *attempt, "at": stamp::rfc3339(stamp::now()), "code": ErrorCode::Internal, "message": message}));
        let mut answer = Answer::refused(ErrorCode::Internal, message);
        answer.attempts = *attempt;
        answer.plugin = Some(plugin_ref(plugin));
        answer.result = json!({ "history": history });
        item.answer = Some(answer);
    }
}

fn plugin_ref(plugin: &Plugin) -> PluginRef {
    PluginRef { name: plugin.info.name.clone(), version: plugin.info.version.clone(), sha256: plugin.sha256.clone() }
}
