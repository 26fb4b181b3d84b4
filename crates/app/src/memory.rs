//! Memory a long-running `serve` has freed, handed back to the system.
//!
//! glibc's malloc gives the threads that allocate arenas of their own and returns an arena's
//! free pages to the system only from the top of its heap, so freed memory in the middle stays
//! resident. In a soak at 50 TASKs/s (bench/README.md) `serve` held 107 MB of anonymous memory
//! four minutes after a start, 94 MB of it in those arenas, while what it had allocated and not
//! yet freed peaked at 25 MB (heaptrack, a shorter run); one `malloc_trim(0)` handed back 54 MB
//! at once. So `serve` trims every [`PERIOD`]: a pass over the arenas' free chunks, a few
//! milliseconds. It hands back what glibc held; it does not stop `serve` growing by ~2 MB a
//! minute at 20 TASKs/s, which is not explained yet (bench/runs/2026-11-29/soak-release.md).
use std::time::Duration;

/// How often `serve` trims.
pub const PERIOD: Duration = Duration::from_secs(30);

/// Starts a thread that hands freed memory back every `period`, for as long as the process
/// runs (elsewhere than glibc, whose allocators return memory on their own, nothing).
pub fn trim_every(period: Duration) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new().name("memory-trim".into()).spawn(move || {
            loop {
                std::thread::sleep(period);
                // SAFETY: malloc_trim only walks glibc's own arenas under their locks; any
                // thread may call it at any time.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("freed memory will not be handed back to the system while serving: {e}");
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = period;
}
