//! The host side of `baton:plugin/host` (every version): what a running task may ask of baton.
//! Each store owns one [`StoreState`]; everything a task produces besides its result is
//! collected here. `baton:plugin/fingerprint` lives in `baton-host-fp`, `catalog` in
//! `baton-host-catalog` and `sqlite` in `baton-host-sqlite` (each a [`crate::HostInterface`]);
//! without them, their calls are refused.
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::{KvQuota, QuotaExceeded, TaskMeter, truncate};
use crate::{
    Grant, KvError, KvStore, PluginSettings,
    locks::{LockAlarm, NamedLocks},
};

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

/// Caps that keep a plugin from flooding the host through its imports. Logs are further
/// bounded by the task's output cap (see [`crate::limits`]).
const MAX_LOG_LINES: usize = 10_000;
const MAX_LOG_LINE: usize = 8 << 10;
const MAX_FOLLOW_UPS: usize = 1_000;
const MAX_KV_VALUE: usize = 1 << 20;
/// At most one progress line per this interval is kept (and at most one per second is
/// logged by the host), so a progress loop cannot flood the ledger or stderr.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
const PROGRESS_TRACE_EVERY: Duration = Duration::from_secs(1);
/// A progress message is cut to this before it is kept or logged.
const MAX_PROGRESS_MESSAGE: usize = 512;

pub struct StoreState {
    /// WASI: the task's files behind their guard, its captured stdio, and the resource table
    /// every interface keeps its handles in.
    pub(crate) sandbox: Sandbox,
    /// Who and what the task is, for every interface (read-only once the task starts).
    pub(crate) task: TaskContext,
    /// Memory, output and quota accounting for the task, which every interface charges.
    pub(crate) meter: TaskMeter,
    /// What `baton:plugin/host`'s calls keep: logs, progress, follow-ups, kv, locks.
    pub(crate) calls: HostCalls,
    /// Why a host call of this task failed for a passing fault on the host's side, if one did
    /// (see [`StoreState::host_fault`]).
    pub(crate) fault: Option<String>,
    /// The host interfaces added to the runtime ([`crate::Runtime::add_host_interface`]).
    pub(crate) extensions: Arc<Vec<Arc<dyn crate::HostInterface>>>,
    /// Keeps the epoch advancing while this store exists (see [`crate::epoch`]).
    pub(crate) _ticking: crate::epoch::Ticking,
}

/// WASI's part of a task's store.
pub(crate) struct Sandbox {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// Which grant each open file belongs to, for disk quotas.
    pub(crate) fs_guard: crate::fsguard::FsGuard,
    /// The task's stdout and stderr (see [`crate::stdio`]).
    pub(crate) stdio: crate::stdio::Capture,
}

/// Who and what a task is: what every host interface may read of it.
pub struct TaskContext {
    pub(crate) plugin: String,
    pub(crate) task_id: String,
    pub(crate) grants: Vec<Grant>,
    /// Each grant's folder, held open since load, in `grants` order: host interfaces open
    /// files beneath these, never by resolving `grants[i].host_path` again.
    pub(crate) grant_dirs: Vec<crate::grants::GrantDir>,
    /// Its `[plugins.NAME.settings]`, and what the host interfaces granted it.
    pub(crate) settings: PluginSettings,
    /// When the task's time budget runs out (for `remaining-ms`).
    pub(crate) deadline: Instant,
}

/// What `baton:plugin/host`'s calls keep for one task.
pub(crate) struct HostCalls {
    pub(crate) logs: Vec<LogLine>,
    /// Log lines refused once the caps were reached (reported in one last line).
    pub(crate) logs_dropped: u64,
    pub(crate) progress: Progress,
    pub(crate) follow_ups: Vec<FollowUp>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) kv_quota: KvQuota,
    pub(crate) locks: TaskLocks,
}

/// When the last progress line was kept, and logged by the host.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) kept: Option<Instant>,
    pub(crate) traced: Option<Instant>,
    pub(crate) finished: bool,
}

/// The named locks a task holds, and the alarm raised when one is lost.
pub(crate) struct TaskLocks {
    pub(crate) named: Arc<dyn NamedLocks>,
    pub(crate) held: Vec<String>,
    /// Raised when a lock this task holds is lost: its host calls trap from then on.
    pub(crate) alarm: Arc<LockAlarm>,
}

impl TaskContext {
    /// The plugin this store runs.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The TASK's id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The folders this task was granted.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The task's grants with their open folders (same order as [`TaskContext::grants`]).
    pub fn grant_dirs(&self) -> &[crate::grants::GrantDir] {
        &self.grant_dirs
    }

    /// What the host interface that made `T` granted this plugin at load
    /// ([`crate::HostInterface::configure`]).
    pub fn configured<T: Any>(&self) -> Option<&T> {
        self.settings.configured.iter().find_map(|c| c.state.downcast_ref::<T>())
    }

    /// Which install of the plugin this is (see [`PluginSettings::identity`]).
    pub fn identity(&self) -> Option<&str> {
        self.settings.identity.as_deref()
    }

    /// When the task's time budget runs out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// The host interfaces added to the runtime, as a host interface's view finds its own.
#[derive(Clone, Copy)]
pub struct Extensions<'a>(&'a [Arc<dyn crate::HostInterface>]);

impl<'a> Extensions<'a> {
    /// The host interface of type `T`, if it was added.
    pub fn get<T: Any + Send + Sync>(self) -> Option<&'a T> {
        self.0.iter().find_map(|e| (&**e as &dyn Any).downcast_ref::<T>())
    }
}

/// What a host interface's view may borrow of a task's store, each part on its own, so one
/// view can read the task while it charges the meter and notes a fault.
pub struct Parts<'a> {
    pub task: &'a TaskContext,
    pub meter: &'a mut TaskMeter,
    /// The task's resource table (a resource an interface hands the plugin lives here).
    pub table: &'a mut ResourceTable,
    /// The task's host fault (see [`StoreState::host_fault`]): set it for a failure on the
    /// host's side that may pass.
    pub fault: &'a mut Option<String>,
    pub extensions: Extensions<'a>,
}

impl StoreState {
    /// The task's filesystem behind its guard, for [`crate::fsguard`]'s host functions.
    pub(crate) fn guarded_fs(&mut self) -> crate::fsguard::Guarded<'_> {
        let Sandbox { wasi, table, fs_guard, .. } = &mut self.sandbox;
        let fs = wasmtime_wasi::filesystem::WasiFilesystemCtxView { ctx: wasi.filesystem(), table };
        crate::fsguard::Guarded::new(fs, fs_guard)
    }

    /// The store's parts, for a host interface's view (see [`Parts`]).
    pub fn parts(&mut self) -> Parts<'_> {
        Parts {
            task: &self.task,
            meter: &mut self.meter,
            table: &mut self.sandbox.table,
            fault: &mut self.fault,
            extensions: Extensions(&self.extensions),
        }
    }

    /// Notes that a host call of this task failed for a fault on the host's side that passes
    /// by itself (the state disk full, an I/O error, a busy database), not for anything the
    /// plugin asked. Host interfaces call it for such failures, then fail the call as they
    /// would; if the task then fails, it ends as [`crate::RunError::HostFault`] and runs again
    /// once the fault has passed.
    pub fn host_fault(&mut self, why: impl Into<String>) {
        self.fault.get_or_insert_with(|| why.into());
    }

    /// Releases the named locks the task still holds (its end, however it ended).
    pub(crate) fn release_locks(&self) {
        let locks = &self.calls.locks;
        locks.named.release_all(&self.task.plugin, &self.task.task_id, &locks.held);
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.sandbox.wasi, table: &mut self.sandbox.table }
    }
}

fn now() -> String {
    baton_handoff::stamp::rfc3339(baton_handoff::stamp::now())
}

impl StoreState {
    fn push_log(&mut self, level: &'static str, message: String) {
        let message = truncate(message, MAX_LOG_LINE);
        // Stored as a row with its level and time stamp: about 64 bytes besides the text.
        // Counted at what the host keeps: the allocation, not only the text in it.
        if self.calls.logs.len() >= MAX_LOG_LINES || !self.meter.log(message.capacity() + 64) {
            self.calls.logs_dropped += 1;
            return;
        }
        tracing::debug!(plugin = %self.task.plugin, task = %self.task.task_id, level, "{message}");
        self.calls.logs.push(LogLine { at: now(), level, message });
    }

    fn progress_impl(&mut self, done: u64, total: u64, message: String) {
        let now = Instant::now();
        let due = |last: Option<Instant>, every| last.is_none_or(|t| now.duration_since(t) >= every);
        // The final update is always kept, once: repeating it is no way around the limit.
        let last = done >= total && !self.calls.progress.finished;
        if !(last || due(self.calls.progress.kept, PROGRESS_EVERY)) {
            return;
        }
        self.calls.progress.finished |= last;
        let message = truncate(message, MAX_PROGRESS_MESSAGE);
        if last || due(self.calls.progress.traced, PROGRESS_TRACE_EVERY) {
            self.calls.progress.traced = Some(now);
            tracing::info!(plugin = %self.task.plugin, task = %self.task.task_id, done, total, "{message}");
        }
        self.calls.progress.kept = Some(now);
        self.push_log("progress", format!("{done}/{total} {message}"));
    }

    /// Adds what the task printed to its logs, after its own log lines, newest lines first
    /// when they do not all fit: `reserve` bytes of the output cap stay free (for the result).
    pub fn keep_stdio(&mut self, captured: &crate::stdio::Captured, reserve: usize) {
        let mut room = self.meter.log_room().saturating_sub(reserve);
        let mut first = captured.lines.len();
        while first > 0 {
            let line = &captured.lines[first - 1].1;
            let cost = line.len().min(MAX_LOG_LINE) + 64;
            if cost > room || self.calls.logs.len() + (captured.lines.len() - first) >= MAX_LOG_LINES {
                break;
            }
            room -= cost;
            first -= 1;
        }
        let dropped = captured.dropped_lines + first as u64;
        if dropped > 0 {
            let at = now();
            self.calls.logs.push(LogLine {
                at,
                level: "warn",
                message: format!("{dropped} earlier lines of stdout/stderr dropped: over the task's log cap"),
            });
        }
        for (stream, line) in &captured.lines[first..] {
            self.push_log(stream.level(), line.clone());
        }
    }

    /// The logs to keep, with a last line saying how many were dropped.
    pub fn take_logs(&mut self) -> Vec<LogLine> {
        let mut logs = std::mem::take(&mut self.calls.logs);
        if self.calls.logs_dropped > 0 {
            logs.push(LogLine {
                at: now(),
                level: "warn",
                message: format!("{} more log lines dropped: over the task's log cap", self.calls.logs_dropped),
            });
        }
        logs
    }
}

impl StoreState {
    fn grants_view(&self) -> Vec<(String, String, bool)> {
        self.task
            .grants
            .iter()
            .zip(crate::guest_paths(&self.task.grants))
            .map(|(g, guest_path)| (g.name.clone(), guest_path, g.writable))
            .collect()
    }

    fn remaining_ms_impl(&self) -> u64 {
        self.task.deadline.saturating_duration_since(Instant::now()).as_millis() as u64
    }

    /// Writes a kv entry within the plugin's quota. Going over it ends the task
    /// (`quota_exceeded`), and a write that fails ends it with the reason: `kv-set` has no
    /// error to report either with.
    fn kv_set_checked(&mut self, key: String, value: String) -> wasmtime::Result<()> {
        let over = |what: String| -> wasmtime::Result<()> { Err(QuotaExceeded(what).into()) };
        let quota = self.calls.kv_quota;
        if key.len() > quota.key_bytes {
            return self.quota_trap(format!("kv quota: a key of {} bytes (at most {})", key.len(), quota.key_bytes));
        }
        if value.len() > MAX_KV_VALUE {
            return self.quota_trap(format!("kv quota: a value of {} bytes (at most {MAX_KV_VALUE})", value.len()));
        }
        let in_flight = key.len() + value.len();
        if !self.meter.hold(in_flight) {
            self.meter.memory_refused = true;
            return over("a kv write does not fit the task's memory cap".into());
        }
        let r = self.calls.kv.set(&self.task.plugin, &key, &value, &quota);
        self.meter.release(in_flight);
        match r {
            Ok(()) => Ok(()),
            Err(KvError::Quota(m)) => self.quota_trap(format!("kv quota: {m}")),
            // `kv-set` has no error result: the task ends with the reason rather than report
            // `completed` with a write that was lost.
            Err(KvError::Failed(m)) => {
                Err(wasmtime::Error::msg(format!("kv-set failed, the value was not saved: {m}")))
            }
            Err(KvError::Passing(m)) => {
                let why = format!("kv-set failed, the value was not saved: {m}");
                self.host_fault(why.clone());
                Err(wasmtime::Error::msg(why))
            }
        }
    }

    /// Traps once a lock this task held was lost: the task ends as `transient` (see
    /// `Runtime::handle`), at its next host call if it was not waiting in one.
    fn lock_lost(&self) -> wasmtime::Result<()> {
        match self.calls.locks.alarm.reason() {
            Some(why) => Err(wasmtime::Error::msg(why)),
            None => Ok(()),
        }
    }

    /// Records an exceeded quota and traps: the task ends as `quota_exceeded`.
    fn quota_trap(&mut self, what: String) -> wasmtime::Result<()> {
        self.meter.quota.set(what.clone());
        Err(QuotaExceeded(what).into())
    }

    async fn lock_acquire_impl(&mut self, name: String, timeout_ms: u32) -> Result<(), crate::locks::LockError> {
        if self.calls.locks.held.contains(&name) {
            return Ok(());
        }
        self.calls
            .locks
            .named
            .acquire(
                &self.task.plugin,
                &self.task.task_id,
                &name,
                Duration::from_millis(timeout_ms.into()),
                &self.calls.locks.alarm,
            )
            .await?;
        self.calls.locks.held.push(name);
        Ok(())
    }

    /// Releases a lock this task holds; a lock held by another task is not touched.
    fn lock_release_impl(&mut self, name: String) {
        if !self.calls.locks.held.contains(&name) {
            return;
        }
        self.calls.locks.named.release(&self.task.plugin, &self.task.task_id, &name);
        self.calls.locks.held.retain(|n| n != &name);
    }

    fn emit_impl(
        &mut self,
        to: String,
        title: String,
        body: String,
        correlation_id: Option<String>,
    ) -> Result<String, FollowUpRefused> {
        if self.calls.follow_ups.len() >= MAX_FOLLOW_UPS {
            return Err(FollowUpRefused::TooMany);
        }
        if !baton_handoff::names::is_valid_name(&to) {
            return Err(FollowUpRefused::BadName(to));
        }
        // A follow-up to baton itself would be a TASK from baton to baton: never one a plugin
        // can ask for (it cannot name a plugin to run, and the RETURN would come back to baton).
        if crate::is_reserved_name(&baton_handoff::names::fold_key(&to)) {
            return Err(FollowUpRefused::ToBaton(to));
        }
        // What the handoff schema allows (handoffs/schema/handoff.v1.json), so the TASK that
        // reaches the other agent is valid; no control characters in a title people read.
        let chars = title.chars().count();
        if chars == 0 || chars > 500 || title.chars().any(char::is_control) {
            return Err(FollowUpRefused::Title { chars, title });
        }
        if correlation_id.as_ref().is_some_and(|c| c.chars().count() > 200 || c.chars().any(char::is_control)) {
            return Err(FollowUpRefused::CorrelationId);
        }
        // Counted before it is parsed: as stored (a handoff file) and as held until then.
        let size = to.len() + title.len() + body.len() + correlation_id.as_ref().map_or(0, String::len);
        if !self.meter.output(size) {
            return Err(FollowUpRefused::OutputCap { size, cap: self.meter.output_cap });
        }
        if !self.meter.hold(size * 2) {
            return Err(FollowUpRefused::MemoryCap { size });
        }
        let body = match serde_json::from_str::<serde_json::Value>(if body.is_empty() { "{}" } else { &body }) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(FollowUpRefused::BodyNotObject),
            Err(e) => return Err(FollowUpRefused::BodyNotJson(e)),
        };
        let forged: Vec<&str> = ENVELOPE_FIELDS.iter().copied().filter(|f| body.contains_key(*f)).collect();
        if !forged.is_empty() {
            self.meter.release(size * 2);
            return Err(FollowUpRefused::Envelope(forged.join(", ")));
        }
        let seq = self.calls.follow_ups.len() as u32 + 1;
        let id = follow_up_id(&self.task.task_id, seq);
        self.calls.follow_ups.push(FollowUp { seq, to, title, body, correlation_id });
        Ok(id)
    }
}

/// Why `emit` refused a follow-up; the plugin gets the message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowUpRefused {
    #[error("at most {MAX_FOLLOW_UPS} follow-ups per task")]
    TooMany,
    #[error("`{}` is not a valid agent name", truncate(.0.escape_debug().to_string(), 200))]
    BadName(String),
    #[error("`{0}` is baton itself; a follow-up goes to another agent")]
    ToBaton(String),
    #[error(
        "the title must be 1 to 500 characters without control characters (got {chars} characters: {})",
        truncate(title.escape_debug().to_string(), 120)
    )]
    Title { chars: usize, title: String },
    #[error("the correlation_id must be at most 200 characters without control characters")]
    CorrelationId,
    #[error("follow-up of {size} bytes refused: the task's follow-ups and logs are over its output cap of {cap} bytes")]
    OutputCap { size: usize, cap: usize },
    #[error("follow-up of {size} bytes refused: over the task's memory cap")]
    MemoryCap { size: usize },
    #[error("body must be a JSON object")]
    BodyNotObject,
    #[error("body is not JSON: {0}")]
    BodyNotJson(serde_json::Error),
    /// The envelope fields the body sets, comma-separated.
    #[error("the body sets envelope fields ({0}), which only the host writes; put the content under other keys")]
    Envelope(String),
}

/// `baton:plugin/host` as the newest version has it, the one implementation: every older
/// version is adapted up to it (`older.rs`).
mod newest {
    use super::StoreState;
    use crate::bindings::v0_6::baton::plugin::{host, types};

    impl types::Host for StoreState {}

    impl host::Host for StoreState {
        async fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
            self.lock_lost()?;
            let level = match level {
                types::Level::Trace => "trace",
                types::Level::Debug => "debug",
                types::Level::Info => "info",
                types::Level::Warn => "warn",
                types::Level::Error => "error",
            };
            self.push_log(level, message);
            Ok(())
        }

        async fn progress(&mut self, done: u64, total: u64, message: String) -> wasmtime::Result<()> {
            self.lock_lost()?;
            self.progress_impl(done, total, message);
            Ok(())
        }

        async fn grants(&mut self) -> wasmtime::Result<Vec<types::Grant>> {
            self.lock_lost()?;
            Ok(self
                .grants_view()
                .into_iter()
                .map(|(name, guest_path, writable)| types::Grant { name, guest_path, writable })
                .collect())
        }

        async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
            self.lock_lost()?;
            Ok(self.calls.kv.get(&self.task.plugin, &key))
        }

        async fn kv_set(&mut self, key: String, value: String) -> wasmtime::Result<()> {
            self.lock_lost()?;
            self.kv_set_checked(key, value)
        }

        async fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
            self.lock_lost()?;
            self.calls.kv.delete(&self.task.plugin, &key);
            Ok(())
        }

        async fn lock_acquire(&mut self, name: String, timeout_ms: u32) -> wasmtime::Result<Result<(), String>> {
            self.lock_lost()?;
            Ok(self.lock_acquire_impl(name, timeout_ms).await.map_err(|e| e.to_string()))
        }

        async fn lock_release(&mut self, name: String) -> wasmtime::Result<()> {
            self.lock_lost()?;
            self.lock_release_impl(name);
            Ok(())
        }

        async fn emit(&mut self, task: types::FollowUp) -> wasmtime::Result<Result<String, String>> {
            self.lock_lost()?;
            Ok(self.emit_impl(task.to, task.title, task.body, task.correlation_id).map_err(|e| e.to_string()))
        }

        async fn remaining_ms(&mut self) -> wasmtime::Result<u64> {
            Ok(self.remaining_ms_impl())
        }

        async fn settings(&mut self) -> wasmtime::Result<String> {
            // From baton.toml, so small; the copy into the guest is bounded by its memory cap.
            Ok(self.task.settings.settings.to_string())
        }

        async fn guest_path(&mut self, host_path: String) -> wasmtime::Result<Option<String>> {
            Ok(crate::paths::guest_path_of(&self.task.grants, std::path::Path::new(&host_path)))
        }

        async fn host_path(&mut self, guest_path: String) -> wasmtime::Result<Option<String>> {
            Ok(crate::paths::host_path_of(&self.task.grants, &guest_path)
                .and_then(|p| p.into_os_string().into_string().ok()))
        }
    }
}

/// The top-level fields of a handoff (handoffs/schema/handoff.v1.json): the envelope, which
/// the host writes. A follow-up body that sets one is refused, so a plugin cannot make a TASK
/// signed `from: baton` look like a RETURN (`status`, `in_reply_to`), route itself to another
/// plugin (`plugin`, `action`, `params`) or forge a sender.
pub const ENVELOPE_FIELDS: &[&str] = &[
    "schema",
    "id",
    "kind",
    "created_at",
    "from",
    "to",
    "reply_to",
    "title",
    "correlation_id",
    "priority",
    "deadline",
    "plugin",
    "action",
    "params",
    "in_reply_to",
    "status",
    "summary",
    "result",
    "artifacts",
    "error",
    "started_at",
    "finished_at",
    "attempts",
];

/// The id of the `seq`-th follow-up of a task: stable across re-runs of the same task.
pub fn follow_up_id(task_id: &str, seq: u32) -> String {
    format!("{task_id}.f{seq}")
}
