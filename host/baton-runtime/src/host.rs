//! The host side of `baton:plugin/host`: what a running task may ask of baton. Each store
//! owns one [`StoreState`]; everything a task produces besides its result is collected here.
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::baton::plugin::{host, types};
use crate::{locks::Locks, Grant, KvStore};

/// A log line written by a plugin during a task.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: String,
    pub level: &'static str,
    pub message: String,
}

/// A follow-up TASK a plugin asked to emit. The host writes it only if the task succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// Deterministic per (task, sequence), so a re-run of the same task cannot emit twice.
    pub seq: u32,
    pub to: String,
    pub title: String,
    pub body: serde_json::Map<String, serde_json::Value>,
    pub correlation_id: Option<String>,
}

/// Caps that keep a plugin from flooding the host through its imports.
const MAX_LOG_LINES: usize = 10_000;
const MAX_LOG_LINE: usize = 8 << 10;
const MAX_FOLLOW_UPS: usize = 1_000;
const MAX_KV_VALUE: usize = 1 << 20;

pub struct StoreState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub plugin: String,
    pub task_id: String,
    pub grants: Vec<Grant>,
    pub logs: Vec<LogLine>,
    pub follow_ups: Vec<FollowUp>,
    pub held_locks: Vec<String>,
    pub locks: Arc<Locks>,
    pub kv: Arc<dyn KvStore>,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for StoreState {}

fn now() -> String {
    baton_handoff::stamp::rfc3339(baton_handoff::stamp::now())
}

impl StoreState {
    fn push_log(&mut self, level: &'static str, mut message: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            return;
        }
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …(truncated)");
        }
        tracing::debug!(plugin = %self.plugin, task = %self.task_id, level, "{message}");
        self.logs.push(LogLine { at: now(), level, message });
    }
}

impl host::Host for StoreState {
    async fn log(&mut self, level: types::Level, message: String) {
        let level = match level {
            types::Level::Trace => "trace",
            types::Level::Debug => "debug",
            types::Level::Info => "info",
            types::Level::Warn => "warn",
            types::Level::Error => "error",
        };
        self.push_log(level, message);
    }

    async fn progress(&mut self, done: u64, total: u64, message: String) {
        tracing::info!(plugin = %self.plugin, task = %self.task_id, done, total, "{message}");
        self.push_log("progress", format!("{done}/{total} {message}"));
    }

    async fn grants(&mut self) -> Vec<types::Grant> {
        self.grants
            .iter()
            .map(|g| types::Grant { name: g.name.clone(), guest_path: format!("/{}", g.name), writable: g.writable })
            .collect()
    }

    async fn kv_get(&mut self, key: String) -> Option<String> {
        self.kv.get(&self.plugin, &key)
    }

    async fn kv_set(&mut self, key: String, value: String) {
        if value.len() <= MAX_KV_VALUE {
            self.kv.set(&self.plugin, &key, &value);
        } else {
            self.push_log("error", format!("kv-set `{key}` refused: value over {MAX_KV_VALUE} bytes"));
        }
    }

    async fn kv_delete(&mut self, key: String) {
        self.kv.delete(&self.plugin, &key);
    }

    async fn lock_acquire(&mut self, name: String, timeout_ms: u32) -> Result<(), String> {
        if self.held_locks.contains(&name) {
            return Ok(());
        }
        self.locks.acquire(&self.plugin, &name, Duration::from_millis(timeout_ms.into())).await?;
        self.held_locks.push(name);
        Ok(())
    }

    async fn lock_release(&mut self, name: String) {
        self.locks.release(&self.plugin, &name);
        self.held_locks.retain(|n| n != &name);
    }

    async fn emit(&mut self, task: types::FollowUp) -> Result<String, String> {
        if self.follow_ups.len() >= MAX_FOLLOW_UPS {
            return Err(format!("at most {MAX_FOLLOW_UPS} follow-ups per task"));
        }
        if !baton_handoff::names::is_valid_name(&task.to) {
            return Err(format!("`{}` is not a valid agent name", task.to));
        }
        let body = match serde_json::from_str::<serde_json::Value>(if task.body.is_empty() { "{}" } else { &task.body }) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err("body must be a JSON object".into()),
            Err(e) => return Err(format!("body is not JSON: {e}")),
        };
        let seq = self.follow_ups.len() as u32 + 1;
        let id = follow_up_id(&self.task_id, seq);
        self.follow_ups.push(FollowUp { seq, to: task.to, title: task.title, body, correlation_id: task.correlation_id });
        Ok(id)
    }
}

/// The id of the `seq`-th follow-up of a task: stable across re-runs of the same task.
pub fn follow_up_id(task_id: &str, seq: u32) -> String {
    format!("{task_id}.f{seq}")
}
