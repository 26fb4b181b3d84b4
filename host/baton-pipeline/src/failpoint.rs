//! Crash injection for the end-to-end tests: `BATON_FAILPOINT=<name>[:<n>]` kills the process
//! with SIGKILL the n-th time (default first) it passes the named point. Unset, it costs one
//! relaxed atomic load.
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

fn target() -> &'static Option<(String, u32)> {
    static T: OnceLock<Option<(String, u32)>> = OnceLock::new();
    T.get_or_init(|| {
        let v = std::env::var("BATON_FAILPOINT").ok()?;
        let (name, n) = match v.split_once(':') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some((name, n))
    })
}

/// Passes the named point; dies here if the environment says so.
pub fn hit(name: &str) {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    if let Some((target, n)) = target()
        && target == name && COUNT.fetch_add(1, Ordering::Relaxed) + 1 >= *n {
            tracing::warn!(failpoint = name, "failpoint: killing this process");
            let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        }
}
