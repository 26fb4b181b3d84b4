//! Crash injection for the end-to-end tests: `BATON_FAILPOINT=<name>[@<key>][:<n>]` kills the
//! process with SIGKILL the n-th time (default first) it passes the named point, counting only
//! passes for `key` when one is given (a task id, say). A point whose name starts with
//! `panic_` panics instead of killing. Unset, it costs one relaxed atomic load.
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

struct Target {
    name: String,
    key: Option<String>,
    n: u32,
}

fn target() -> &'static Option<Target> {
    static T: OnceLock<Option<Target>> = OnceLock::new();
    T.get_or_init(|| {
        let v = std::env::var("BATON_FAILPOINT").ok()?;
        let (spec, n) = match v.rsplit_once(':') {
            Some((spec, n)) => (spec.to_string(), n.parse().unwrap_or(1)),
            None => (v, 1),
        };
        let (name, key) = match spec.split_once('@') {
            Some((name, key)) => (name.to_string(), Some(key.to_string())),
            None => (spec, None),
        };
        Some(Target { name, key, n })
    })
}

/// Passes the named point; dies here if the environment says so.
pub fn hit(name: &str) {
    hit_for(name, "");
}

/// Passes the named point on behalf of `key`.
pub fn hit_for(name: &str, key: &str) {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let Some(t) = target() else { return };
    if t.name != name || t.key.as_deref().is_some_and(|k| k != key) {
        return;
    }
    if COUNT.fetch_add(1, Ordering::Relaxed) + 1 < t.n {
        return;
    }
    if name.starts_with("panic_") {
        panic!("failpoint {name}: panicking on purpose");
    }
    tracing::warn!(failpoint = name, "failpoint: killing this process");
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
}
