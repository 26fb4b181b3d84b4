//! The host side of `baton:plugin/host` (every version): what a running task may ask of baton.
//! Each store owns one [`StoreState`]; everything a task produces besides its result is
//! collected here. `baton:plugin/fingerprint` lives in `baton-host-fp` (a
//! [`crate::HostInterface`]); without it, its calls are refused.
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

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

/// `StoreLimits` plus a note of whether a memory grow was refused, so a trap that follows
/// can be reported as `out_of_memory` whatever the guest did next (a Rust guest aborts, a
/// C guest may trap elsewhere).
pub struct Limiter {
    pub inner: StoreLimits,
    pub memory_refused: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let r = self.inner.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.memory_refused = true;
        }
        r
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

pub struct StoreState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: Limiter,
    pub plugin: String,
    pub task_id: String,
    pub grants: Vec<Grant>,
    pub logs: Vec<LogLine>,
    pub follow_ups: Vec<FollowUp>,
    pub held_locks: Vec<String>,
    pub locks: Arc<Locks>,
    pub kv: Arc<dyn KvStore>,
    /// When the task's time budget runs out (for `remaining-ms`).
    pub deadline: Instant,
    /// The host interfaces added to the runtime ([`crate::Runtime::add_host_interface`]).
    pub extensions: Arc<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl StoreState {
    /// The folders this task was granted.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// When the task's time budget runs out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The host interface of type `T` added to the runtime, if any.
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.extensions.iter().find_map(|e| e.downcast_ref::<T>())
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

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

impl StoreState {
    fn grants_view(&self) -> Vec<(String, String, bool)> {
        self.grants
            .iter()
            .zip(crate::guest_paths(&self.grants))
            .map(|(g, guest_path)| (g.name.clone(), guest_path, g.writable))
            .collect()
    }

    fn remaining_ms_impl(&self) -> u64 {
        self.deadline.saturating_duration_since(Instant::now()).as_millis() as u64
    }

    fn kv_set_checked(&mut self, key: String, value: String) {
        if value.len() <= MAX_KV_VALUE {
            self.kv.set(&self.plugin, &key, &value);
        } else {
            self.push_log("error", format!("kv-set `{key}` refused: value over {MAX_KV_VALUE} bytes"));
        }
    }

    async fn lock_acquire_impl(&mut self, name: String, timeout_ms: u32) -> Result<(), String> {
        if self.held_locks.contains(&name) {
            return Ok(());
        }
        self.locks.acquire(&self.plugin, &name, Duration::from_millis(timeout_ms.into())).await?;
        self.held_locks.push(name);
        Ok(())
    }

    fn lock_release_impl(&mut self, name: String) {
        self.locks.release(&self.plugin, &name);
        self.held_locks.retain(|n| n != &name);
    }

    fn emit_impl(&mut self, to: String, title: String, body: String, correlation_id: Option<String>) -> Result<String, String> {
        if self.follow_ups.len() >= MAX_FOLLOW_UPS {
            return Err(format!("at most {MAX_FOLLOW_UPS} follow-ups per task"));
        }
        if !baton_handoff::names::is_valid_name(&to) {
            return Err(format!("`{to}` is not a valid agent name"));
        }
        let body = match serde_json::from_str::<serde_json::Value>(if body.is_empty() { "{}" } else { &body }) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err("body must be a JSON object".into()),
            Err(e) => return Err(format!("body is not JSON: {e}")),
        };
        let seq = self.follow_ups.len() as u32 + 1;
        let id = follow_up_id(&self.task_id, seq);
        self.follow_ups.push(FollowUp { seq, to, title, body, correlation_id });
        Ok(id)
    }
}

/// The host functions every version shares, written once. Each version's types are distinct
/// Rust types (one `bindgen!` each), so the bodies are stamped out per version module.
macro_rules! common_host_fns {
    ($v:ident) => {
        async fn log(&mut self, level: crate::bindings::$v::baton::plugin::types::Level, message: String) {
            use crate::bindings::$v::baton::plugin::types::Level;
            let level = match level {
                Level::Trace => "trace",
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            };
            self.push_log(level, message);
        }

        async fn progress(&mut self, done: u64, total: u64, message: String) {
            tracing::info!(plugin = %self.plugin, task = %self.task_id, done, total, "{message}");
            self.push_log("progress", format!("{done}/{total} {message}"));
        }

        async fn grants(&mut self) -> Vec<crate::bindings::$v::baton::plugin::types::Grant> {
            self.grants_view()
                .into_iter()
                .map(|(name, guest_path, writable)| crate::bindings::$v::baton::plugin::types::Grant { name, guest_path, writable })
                .collect()
        }

        async fn kv_get(&mut self, key: String) -> Option<String> {
            self.kv.get(&self.plugin, &key)
        }

        async fn kv_set(&mut self, key: String, value: String) {
            self.kv_set_checked(key, value)
        }

        async fn kv_delete(&mut self, key: String) {
            self.kv.delete(&self.plugin, &key);
        }

        async fn lock_acquire(&mut self, name: String, timeout_ms: u32) -> Result<(), String> {
            self.lock_acquire_impl(name, timeout_ms).await
        }

        async fn lock_release(&mut self, name: String) {
            self.lock_release_impl(name)
        }

        async fn emit(&mut self, task: crate::bindings::$v::baton::plugin::types::FollowUp) -> Result<String, String> {
            self.emit_impl(task.to, task.title, task.body, task.correlation_id)
        }
    };
}

impl crate::bindings::v0_1::baton::plugin::types::Host for StoreState {}
impl crate::bindings::v0_1::baton::plugin::host::Host for StoreState {
    common_host_fns!(v0_1);
}

impl crate::bindings::v0_2::baton::plugin::types::Host for StoreState {}
impl crate::bindings::v0_2::baton::plugin::host::Host for StoreState {
    common_host_fns!(v0_2);

    async fn remaining_ms(&mut self) -> u64 {
        self.remaining_ms_impl()
    }
}

impl crate::bindings::v0_3::baton::plugin::types::Host for StoreState {}
impl crate::bindings::v0_3::baton::plugin::host::Host for StoreState {
    common_host_fns!(v0_3);

    async fn remaining_ms(&mut self) -> u64 {
        self.remaining_ms_impl()
    }
}

/// `baton:plugin/fingerprint@0.3.0` when no crate provides it: every call is refused.
mod no_fingerprint_v0_3 {
    use super::StoreState;
    use crate::bindings::v0_3::baton::plugin::fingerprint as wit;

    fn refused() -> wit::FpError {
        wit::FpError::Io("this host offers no fingerprint service".into())
    }

    impl wit::Host for StoreState {
        async fn fingerprint_file(&mut self, _: String) -> Result<wit::AudioFingerprint, wit::FpError> {
            Err(refused())
        }

        async fn read_tags(&mut self, _: String) -> Result<wit::FileTags, wit::FpError> {
            Err(refused())
        }

        async fn best_matches(&mut self, _: Vec<u32>, _: f64, _: u32) -> Result<Vec<wit::LibraryMatch>, wit::FpError> {
            Err(refused())
        }
    }
}

/// The id of the `seq`-th follow-up of a task: stable across re-runs of the same task.
pub fn follow_up_id(task_id: &str, seq: u32) -> String {
    format!("{task_id}.f{seq}")
}
