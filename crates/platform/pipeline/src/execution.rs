//! Step 3 of the pipeline, the execute stage: running tasks in the wasm runtime, concurrently
//! (one tokio task each, bounded by the core count), and turning each execution into an answer
//! or a retry as soon as it finishes. A runner that panics fails its own task (`internal`),
//! nothing else.
//!
//! The stage's input is a prepared [`Item`], its output the same item with its answer (or a
//! retry delay). [`Running`] owns the tasks in flight; what the stage needs of the pipeline (the
//! runtime, the configuration, plugin health, the ledger for refusals) comes in as an [`Env`]
//! for each call, so the stage never sees the rest of the pipeline.
use baton_sync::Locked;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tracing::{Instrument, info, warn};

use baton_handoff::{ErrorCode, PluginRef, Status, stamp};
use baton_runtime::{Execution, Plugin, Runtime, TaskInput};

use crate::faults::error_code;
use crate::item::{Item, Prepared};
use crate::returns::Answer;
use baton_home::config::{Config, Paths};
use baton_home::failpoint;
use baton_home::health::{Healths, Pause, PausePolicy};
use baton_ledger::SharedLedger;

/// What the execute stage borrows from the pipeline for one call.
pub(crate) struct Env<'p> {
    pub(crate) runtime: &'p Arc<Runtime>,
    pub(crate) cfg: &'p Config,
    pub(crate) health: &'p mut Healths,
    /// For why a plugin is not loaded (its refusal at load, if any).
    pub(crate) ledger: &'p SharedLedger,
    /// For the installed plugins' names when plugins load on demand.
    pub(crate) paths: &'p Paths,
    /// Whether the runtime holds only the plugins tasks named so far.
    pub(crate) on_demand: bool,
}

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

    /// Starts an item's task, or returns the item when there is nothing to run (not a `Run`,
    /// or refused before running: unknown plugin or action, plugin paused).
    pub(crate) fn start(&mut self, env: Env<'_>, mut item: Item) -> Option<Item> {
        let Prepared::Run { task, attempt, inputs, .. } = &item.prepared else { return Some(item) };
        let span = item.span.clone();
        span.record("attempt", *attempt);
        let _entered = span.enter();
        // A refusal here still ends this attempt: its RETURN says which one it was.
        let refused = |code, message: String| Some(Answer { attempts: *attempt, ..Answer::refused(code, message) });
        let plugin_name = task.plugin.clone().unwrap_or_default();
        let action = task.action.clone().unwrap_or_default();
        let Some(plugin) = env.runtime.get(&plugin_name) else {
            if let Some(e) = baton_home::plugins::unreadable(env.paths, &plugin_name) {
                // Its file cannot be looked at for now: whether it is installed is not known,
                // so the TASK waits (this attempt does not count) rather than be refused.
                baton_home::ratelimit::warn_every(
                    &format!("plugin-stat:{plugin_name}"),
                    &format!("cannot look at the plugin `{plugin_name}`'s file: {e}; its TASKs wait and try again"),
                    &plugin_name,
                );
                item.deferred = Some(crate::item::IO_BACKOFF);
                return Some(item);
            }
            item.answer = refused(ErrorCode::UnknownPlugin, not_loaded(&env, &plugin_name));
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
        env.health.load(env.ledger, &plugin_name);
        if let Some(pause) = env.health.paused(&plugin_name) {
            let message = match pause {
                Pause::Failures { until } => {
                    format!("plugin `{plugin_name}` is paused until {until} after repeated sandbox failures")
                }
                Pause::Hand { since } => {
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
            inputs: inputs.clone(),
        };
        let budget = env.cfg.task_budget(&plugin_name);
        let runtime = env.runtime.clone();
        let limiter = self
            .limiter
            // The cores are read once a process: a batch (often one task) makes its own limiter.
            .get_or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(crate::halves::cores().unwrap_or(2))))
            .clone();
        item.started = Some(Instant::now());
        let slot = self.slots.len();
        let run_plugin = plugin.clone();
        let handle = self.set.spawn(
            async move {
                let _permit = limiter.acquire_owned().await;
                failpoint::hit_for("in_run", &input.id);
                failpoint::hit_for("panic_in_run", &input.id);
                let exec = runtime.handle(&run_plugin, &input, budget).await;
                (slot, exec)
            }
            .instrument(span.clone()),
        );
        self.ids.insert(handle.id(), slot);
        self.slots.push(Some((item, plugin)));
        None
    }

    /// The next item whose task finished (waits for one).
    pub(crate) async fn next(&mut self, env: Env<'_>) -> Option<Item> {
        let joined = self.set.join_next_with_id().await?;
        self.settle(env, joined)
    }

    /// An item whose task already finished, if any (never waits).
    pub(crate) fn try_next(&mut self, env: Env<'_>) -> Option<Item> {
        let joined = self.set.try_join_next_with_id()?;
        self.settle(env, joined)
    }

    fn settle(&mut self, env: Env<'_>, joined: Joined) -> Option<Item> {
        let (slot, outcome) = match joined {
            Ok((_, (slot, exec))) => (slot, Ok(exec)),
            Err(e) => (*self.ids.get(&e.id())?, Err(panic_message(e))),
        };
        let (mut item, plugin) = self.slots.get_mut(slot)?.take()?;
        let policy = PausePolicy { after: env.cfg.pause_after, secs: env.cfg.pause_secs };
        match outcome {
            Ok(exec) => conclude(&mut item, &plugin_ref(&plugin), exec, env.health, policy, &env.cfg.retry),
            Err(message) => panicked(&mut item, &plugin_ref(&plugin), message),
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

/// Why no plugin `name` is loaded: never installed, or installed but refused at load (the
/// ledger's `plugin_refusals` says why; the reason names the fix).
fn not_loaded(env: &Env<'_>, name: &str) -> String {
    // Loaded on demand, the runtime holds only what tasks named so far: list the files.
    let installed =
        if env.on_demand { baton_home::plugins::installed_names(env.paths) } else { env.runtime.names() }.join(", ");
    let refused = env.ledger.locked().refusals().unwrap_or_default();
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

/// Turns an execution into an answer, or a retry (after a transient failure, while `retry`'s
/// budget lasts). A sandbox failure counts toward the plugin's pause under `policy`.
pub(crate) fn conclude(
    item: &mut Item,
    plugin: &PluginRef,
    exec: Execution,
    health: &mut Healths,
    policy: PausePolicy,
    retry: &baton_home::config::Retry,
) {
    let span = item.span.clone();
    let _entered = span.enter();
    let Prepared::Run { attempt, base, history, inputs, .. } = &mut item.prepared else { return };
    let plugin_ref = plugin.clone();
    let started_at = stamp::rfc3339(stamp::now() - exec.elapsed);
    item.exec_logs = exec.logs;
    let (code, message) = match exec.outcome {
        Ok(out) => {
            health.healthy(&plugin.name);
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
        Err(baton_runtime::RunError::HostFault(why)) => {
            // The host's fault, not the plugin's: no attempt is counted, nothing is answered,
            // the claim stays and the TASK runs again once the fault has passed.
            baton_home::ratelimit::warn_every(
                &format!("host-fault:{}", plugin.name),
                &format!(
                    "a host call failed for a fault on the host's side ({why}); the task runs again once it passes"
                ),
                &plugin.name,
            );
            item.deferred = Some(crate::item::IO_BACKOFF);
            return;
        }
        Err(baton_runtime::RunError::NeedsInput(asked)) => match asked_again(&asked, inputs) {
            // A question: no failure and no answer; the outputs stage delivers it and the
            // TASK waits for the answer (see `crate::asking`).
            None => {
                health.healthy(&plugin.name);
                info!(request_id = %asked.request_id, "asks for input");
                item.asked = Some(asked);
                return;
            }
            Some(why) => (ErrorCode::PluginError, why),
        },
        Err(e) => (error_code(&e), e.to_string()),
    };
    warn!(code = %code, "attempt {attempt} failed: {message}");
    history.push(json!({"attempt": *attempt, "at": stamp::rfc3339(stamp::now()), "code": code, "message": message}));
    if matches!(
        code,
        ErrorCode::Timeout
            | ErrorCode::OutOfMemory
            | ErrorCode::Trap
            | ErrorCode::OutputTooLarge
            | ErrorCode::QuotaExceeded
    ) {
        health.sandbox_failure(&plugin.name, &message, policy);
    }
    let transient = matches!(code, ErrorCode::RetriesExhausted);
    // The budget of automatic retries is this run's: a `baton retry` starts a fresh one.
    let this_run = attempt.saturating_sub(*base);
    if transient && this_run < retry.max_attempts {
        item.retry = Some(retry.delay(this_run));
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

/// Why a plugin's question cannot be asked (its schema is no JSON Schema, or it was answered
/// already and the plugin asks it again), or `None`.
fn asked_again(asked: &baton_runtime::InputRequest, inputs: &serde_json::Value) -> Option<String> {
    if let Err(e) = baton_handoff::input::check_schema(&asked.input_schema) {
        return Some(format!("the plugin asked `{}` with an input schema baton cannot use: {e}", asked.request_id));
    }
    inputs.get(&asked.request_id).map(|_| {
        format!(
            "the plugin asked `{}` again after it was answered (the answer is in the task's `inputs`)",
            asked.request_id
        )
    })
}

/// The host's runner for this task panicked: the task fails `internal`, with its RETURN.
fn panicked(item: &mut Item, plugin: &PluginRef, message: String) {
    let span = item.span.clone();
    let _entered = span.enter();
    let Prepared::Run { attempt, history, .. } = &mut item.prepared else { return };
    let message = format!("baton's runner for this task panicked ({message}); this is a bug in baton, not in the task");
    tracing::error!(claim = %item.claim.key(), "{message}");
    history.push(json!({"attempt": *attempt, "at": stamp::rfc3339(stamp::now()), "code": ErrorCode::Internal, "message": message}));
    let mut answer = Answer::refused(ErrorCode::Internal, message);
    answer.attempts = *attempt;
    answer.plugin = Some(plugin.clone());
    answer.result = json!({ "history": history });
    item.answer = Some(answer);
}

fn plugin_ref(plugin: &Plugin) -> PluginRef {
    PluginRef { name: plugin.info.name.clone(), version: plugin.info.version.clone(), sha256: plugin.sha256.clone() }
}

#[cfg(test)]
mod tests {
    //! The stage's verdicts on executions, without a home folder or a plugin: an item, an
    //! execution as the runtime reports it, and the health and retry policy it is judged by.
    use std::time::Duration;

    use baton_runtime::{Outcome, RunError};

    use super::*;
    use crate::claims::Claim;
    use baton_home::config::Retry;

    fn item(attempt: u32, base: u32) -> Item {
        let task: baton_handoff::TaskBody = serde_json::from_value(json!({
            "schema": "baton.handoff/v1", "id": "t1", "kind": "TASK", "created_at": "2026-11-25T00:00:00Z",
            "from": "claude", "title": "echo", "plugin": "echo", "action": "echo", "params": {}
        }))
        .unwrap();
        let claim = Claim::new("/nowhere/t1.json".into(), "01J0000000000000000000000A".into(), "t1.json".into());
        Item::new(claim, Prepared::Run { task, attempt, base, history: vec![], inputs: json!({}) })
    }

    fn exec(outcome: Result<Outcome, RunError>) -> Execution {
        Execution { outcome, logs: vec![], follow_ups: vec![], elapsed: Duration::from_millis(3) }
    }

    fn echo() -> PluginRef {
        PluginRef { name: "echo".into(), version: "1.0.0".into(), sha256: "00".into() }
    }

    const POLICY: PausePolicy = PausePolicy { after: 2, secs: 60 };
    const RETRY: Retry = Retry { max_attempts: 3, base_ms: 100, cap_ms: 1000 };

    #[test]
    fn a_transient_failure_is_retried_while_the_budget_lasts_then_answered() {
        let mut health = Healths::default();
        for attempt in 1..3 {
            let mut it = item(attempt, 0);
            conclude(&mut it, &echo(), exec(Err(RunError::Transient("busy".into()))), &mut health, POLICY, &RETRY);
            assert!(it.retry.is_some() && it.answer.is_none(), "attempt {attempt} is retried");
        }
        let mut it = item(3, 0);
        conclude(&mut it, &echo(), exec(Err(RunError::Transient("busy".into()))), &mut health, POLICY, &RETRY);
        let answer = it.answer.expect("the third attempt is answered");
        assert_eq!(answer.error.as_ref().map(|e| e.code), Some(ErrorCode::RetriesExhausted));
        assert!(answer.error.unwrap().message.contains("gave up after 3 attempts"));
        assert_eq!(answer.result["history"].as_array().map(Vec::len), Some(1));
        assert_eq!(health.paused("echo"), None, "a transient failure is not the sandbox's");
        // A `baton retry` (base 3) starts a fresh budget: its first attempt is retried.
        let mut it = item(4, 3);
        conclude(&mut it, &echo(), exec(Err(RunError::Transient("busy".into()))), &mut health, POLICY, &RETRY);
        assert!(it.retry.is_some());
    }

    #[test]
    fn sandbox_failures_pause_the_plugin_and_a_success_answers_completed() {
        let mut health = Healths::default();
        let mut it = item(1, 0);
        conclude(&mut it, &echo(), exec(Err(RunError::Trap("unreachable".into()))), &mut health, POLICY, &RETRY);
        assert_eq!(it.answer.as_ref().and_then(|a| a.error.as_ref()).map(|e| e.code), Some(ErrorCode::Trap));
        assert!(it.retry.is_none(), "a trap is not retried");
        assert_eq!(health.paused("echo"), None);
        let mut it = item(1, 0);
        conclude(&mut it, &echo(), exec(Err(RunError::Trap("unreachable".into()))), &mut health, POLICY, &RETRY);
        assert!(matches!(health.paused("echo"), Some(Pause::Failures { .. })), "two traps in a row pause it");
        let mut it = item(1, 0);
        let done = Outcome { summary: "ok".into(), result: json!({"n": 1}), artifacts: vec![] };
        conclude(&mut it, &echo(), exec(Ok(done)), &mut health, POLICY, &RETRY);
        let answer = it.answer.unwrap();
        assert_eq!((answer.status, answer.summary.as_str(), answer.error.is_none()), (Status::Completed, "ok", true));
        assert_eq!(answer.plugin.map(|p| p.name), Some("echo".to_string()));
        assert_eq!(health.paused("echo"), None, "the success ended the streak and its pause");
    }

    #[test]
    fn a_panicked_runner_fails_its_task_internal() {
        let mut it = item(2, 0);
        panicked(&mut it, &echo(), "boom".into());
        let answer = it.answer.unwrap();
        let error = answer.error.unwrap();
        assert_eq!((error.code, answer.attempts), (ErrorCode::Internal, 2));
        assert!(error.message.contains("boom") && error.message.contains("a bug in baton"), "{}", error.message);
    }
}
