//! One budget per task: everything a running task can make the host hold is counted here.
//!
//! Why one place: a cap per linear memory let a component with two memories hold twice the
//! cap, and host-side buffers (follow-ups, logs) were counted nowhere. [`TaskMeter`] is the
//! store's `ResourceLimiter`, so it sees every memory and table of every core instance grow,
//! and the host functions charge their own buffers to the same total. Output (what is stored
//! or written for the task: logs, follow-up bodies, result, failure message) has a second,
//! smaller counter, and quotas (kv, disk, open handles) record the first one exceeded so the
//! task ends as `quota_exceeded` whatever the plugin did afterwards.
//!
//! A string a plugin passes to the host is copied out of its memory before any host code sees
//! its length (the bindings lift it first), so that copy is bounded by the memory cap: a task
//! can make the host hold at most about twice its cap at once. Everything the host keeps
//! beyond the call is charged here.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Bytes charged per table element (a function reference is a pointer in wasmtime).
const TABLE_ELEMENT_BYTES: usize = 8;
/// A failure message is cut to this size (and to what is left of the output cap): it is
/// stored in the RETURN, the error record and the state database, once per attempt.
pub const MAX_FAILURE_MESSAGE: usize = 4 << 10;
/// Handles (open files, directories, streams, pollables) one task may hold at once.
pub const MAX_OPEN_HANDLES: usize = 1024;
/// Logs (and progress lines) as stored may use at most this fraction of the output cap, so
/// a chatty plugin always keeps room for its result.
const LOG_SHARE_DIVISOR: usize = 4;

/// The part of a task's output cap that its logs (host `log` calls, progress, and captured
/// stdout/stderr) may fill.
pub fn log_share(output_cap: usize) -> usize {
    output_cap / LOG_SHARE_DIVISOR
}

/// The first quota a task exceeded, shared with the pieces that live outside the store
/// state (file streams sit in the resource table).
#[derive(Debug, Default, Clone)]
pub struct QuotaFlag(Arc<OnceLock<String>>);

impl QuotaFlag {
    /// Records `what` unless an earlier quota was already recorded.
    pub fn set(&self, what: String) {
        let _ = self.0.set(what);
    }

    pub fn get(&self) -> Option<&String> {
        self.0.get()
    }
}

/// Memory, output and quota accounting for one task (one store).
pub struct TaskMeter {
    pub memory_cap: usize,
    /// Bytes of every linear memory and table of the instance.
    wasm_bytes: usize,
    /// Bytes the host holds for the task (logs, follow-ups, a kv write in flight).
    host_bytes: usize,
    /// Set once a grow or a host buffer was refused: whatever trap follows is `out_of_memory`.
    pub memory_refused: bool,
    pub output_cap: usize,
    output_used: usize,
    log_bytes: usize,
    /// Output refused (a follow-up over the cap): the task ends `output_too_large`, with the
    /// size it asked for.
    pub output_refused: Option<usize>,
    pub quota: QuotaFlag,
}

impl TaskMeter {
    pub fn new(memory_cap: usize, output_cap: usize) -> Self {
        TaskMeter {
            memory_cap,
            wasm_bytes: 0,
            host_bytes: 0,
            memory_refused: false,
            output_cap,
            output_used: 0,
            log_bytes: 0,
            output_refused: None,
            quota: QuotaFlag::default(),
        }
    }

    fn fits(&self, more: usize) -> bool {
        self.wasm_bytes.saturating_add(self.host_bytes).saturating_add(more) <= self.memory_cap
    }

    /// Charges `bytes` the host keeps for this task to the memory budget. `false` (and the
    /// task is marked out of memory) when it does not fit.
    pub fn hold(&mut self, bytes: usize) -> bool {
        if self.fits(bytes) {
            self.host_bytes += bytes;
            true
        } else {
            self.memory_refused = true;
            false
        }
    }

    /// Gives back what [`TaskMeter::hold`] charged (a kv write once it is stored).
    pub fn release(&mut self, bytes: usize) {
        self.host_bytes = self.host_bytes.saturating_sub(bytes);
    }

    /// Output left for the result once logs and follow-ups are stored.
    pub fn output_left(&self) -> usize {
        self.output_cap.saturating_sub(self.output_used)
    }

    pub fn output_used(&self) -> usize {
        self.output_used
    }

    /// Charges stored output (a follow-up body): `false` when it does not fit, and the task
    /// will end `output_too_large`.
    pub fn output(&mut self, bytes: usize) -> bool {
        if self.charge_output(bytes) {
            true
        } else {
            let asked = self.output_used.saturating_add(bytes);
            self.output_refused = Some(self.output_refused.map_or(asked, |a| a.max(asked)));
            false
        }
    }

    fn charge_output(&mut self, bytes: usize) -> bool {
        if bytes <= self.output_left() {
            self.output_used += bytes;
            true
        } else {
            false
        }
    }

    /// Bytes of log still storable: what is left of the logs' share of the output cap, and of
    /// the output cap itself.
    pub fn log_room(&self) -> usize {
        log_share(self.output_cap).saturating_sub(self.log_bytes).min(self.output_left())
    }

    /// Charges a log line as stored: `false` once logs have used their share of the output.
    pub fn log(&mut self, bytes: usize) -> bool {
        if self.log_bytes + bytes <= log_share(self.output_cap) && self.charge_output(bytes) {
            self.log_bytes += bytes;
            true
        } else {
            false
        }
    }
}

impl wasmtime::ResourceLimiter for TaskMeter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        if maximum.is_some_and(|m| desired > m) || !self.fits(more) {
            self.memory_refused = true;
            // Trap rather than let memory.grow return -1: a guest that ignores the failure
            // must not run on.
            return Err(wasmtime::Error::msg(format!(
                "memory cap of {} bytes reached (all memories and tables of the task together)",
                self.memory_cap
            )));
        }
        self.wasm_bytes += more;
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES);
        if maximum.is_some_and(|m| desired > m) || !self.fits(more) {
            self.memory_refused = true;
            return Err(wasmtime::Error::msg(format!("memory cap of {} bytes reached by a table", self.memory_cap)));
        }
        self.wasm_bytes += more;
        Ok(true)
    }

    // Counts are generous: the sizes above are what is capped.
    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        256
    }

    fn memories(&self) -> usize {
        64
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, saying how long it was.
pub fn truncate(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let total = s.len();
    let note = format!(" …(truncated, {total} bytes)");
    let mut cut = max.saturating_sub(note.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    // A new string of the cut size: truncating in place would keep the whole allocation (a
    // 100 MB log line cut to 8 KB held its 100 MB), and the host counts what it keeps.
    let mut out = String::with_capacity(cut + note.len());
    out.push_str(&s[..cut]);
    out.push_str(&note);
    drop(s);
    out
}

/// Per-task limits on one writable grant: bytes written and files (or folders, links)
/// created during the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskQuota {
    pub bytes: u64,
    pub files: u64,
}

impl Default for DiskQuota {
    fn default() -> Self {
        DiskQuota { bytes: 1 << 30, files: 10_000 }
    }
}

/// Usage of one writable grant by one task. Shared with the file streams of that grant.
#[derive(Debug)]
pub struct DiskMeter {
    pub grant: String,
    pub quota: DiskQuota,
    bytes: AtomicU64,
    files: AtomicU64,
    flag: QuotaFlag,
}

impl DiskMeter {
    pub fn new(grant: String, quota: DiskQuota, flag: QuotaFlag) -> Self {
        DiskMeter { grant, quota, bytes: AtomicU64::new(0), files: AtomicU64::new(0), flag }
    }

    /// Charges a write of `n` bytes; `false` (and the task's quota flag is set) when it
    /// would go over.
    pub fn write(&self, n: u64) -> bool {
        let before = self.bytes.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.quota.bytes {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            self.flag.set(format!(
                "disk quota of grant `{}` exceeded: more than {} bytes written in one task",
                self.grant, self.quota.bytes
            ));
            return false;
        }
        true
    }

    /// Charges one new file, folder or link.
    pub fn create(&self) -> bool {
        let before = self.files.fetch_add(1, Ordering::Relaxed);
        if before + 1 > self.quota.files {
            self.files.fetch_sub(1, Ordering::Relaxed);
            self.flag.set(format!(
                "disk quota of grant `{}` exceeded: more than {} files created in one task",
                self.grant, self.quota.files
            ));
            return false;
        }
        true
    }
}

/// Per-plugin limits on the kv store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    pub key_bytes: usize,
    pub keys: u64,
    /// Keys plus values, in bytes.
    pub bytes: u64,
}

impl Default for KvQuota {
    fn default() -> Self {
        KvQuota { key_bytes: 1024, keys: 100_000, bytes: 64 << 20 }
    }
}

/// The trap that ends a task over a quota (kv, disk, open handles); the task's
/// [`QuotaFlag`] says which.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QuotaExceeded(pub String);
