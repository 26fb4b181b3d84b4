//! Tokio runtimes for the commands that run plugins or serve: one shape for all, so a task a
//! timeout abandoned in a blocked file operation never holds up the exit.
use anyhow::{Context, Result};

/// Blocking-pool threads: a file operation a timed-out task left blocked keeps its thread, so
/// their number is capped (further blocking work queues instead of spawning threads).
const MAX_BLOCKING_THREADS: usize = 64;
/// On exit, threads still blocked (abandoned by timed-out tasks) are not waited for longer.
pub const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
