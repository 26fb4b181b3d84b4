//! Crash and error injection for the end-to-end tests, compiled in only with the `failpoints`
//! feature (the tests' binary enables it through `baton-app`; this crate's own tests build it
//! too). Without the feature every point is an empty inline function, so the call sites stay
//! unconditional and the shipped binary carries no trace of them: no environment variable
//! read, no way for a stray `BATON_FAILPOINT` to kill a user's `serve`.
//!
//! `BATON_FAILPOINT=<name>[@<key>][:<n>]` kills the process with SIGKILL the n-th time (default
//! first) it passes the named point, counting only passes for `key` when one is given (a task
//! id, say). A point whose name starts with `panic_` panics instead of killing. Unset, it costs
//! one relaxed atomic load.
//!
//! `BATON_FAULT=<point>[@<key>]=<ERRNO>` (several, comma-separated) makes the named point fail
//! with that errno (`EIO`, `EACCES`, `EROFS`, `ENOSPC`, `EMFILE`, `EPERM`, `EEXIST`) for as long
//! as the file named by `BATON_FAULT_WHILE` exists (always, when that is unset). It stands in
//! for `strace -e inject=` where strace is not installed, and for permission flips that root
//! ignores: the test creates the file, the fault lasts, the test removes it, the fault has
//! passed.
//!
//! The pipeline's own tests can also stop a pass in-process (`arm`, with the feature): at the
//! armed point a closure of the test runs instead of a kill, which unwinds (a crash the test
//! survives, to go on with another pipeline on the same home) or holds the pass there while
//! another pipeline works (`baton_pipeline`'s `props`).

#[cfg(any(test, feature = "failpoints"))]
pub use points::{arm, disarm};
#[cfg(any(test, feature = "failpoints"))]
pub use points::{fault, hit, hit_for};

/// Without the feature: every point passes, at no cost.
#[cfg(not(any(test, feature = "failpoints")))]
mod off {
    /// Passes the named point.
    #[inline(always)]
    pub fn hit(_name: &str) {}

    /// Passes the named point on behalf of a key.
    #[inline(always)]
    pub fn hit_for(_name: &str, _key: &str) {}

    /// Never fails.
    #[inline(always)]
    pub fn fault(_name: &str, _key: &str) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(not(any(test, feature = "failpoints")))]
pub use off::{fault, hit, hit_for};

#[cfg(any(test, feature = "failpoints"))]
mod points {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

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
        run_if_armed(name);
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

    /// What [`arm`] keeps for this thread: the point, how many more passes until it acts, and
    /// what it does then.
    struct Armed {
        name: String,
        left: u32,
        then: Box<dyn FnOnce(&str)>,
    }

    thread_local! {
        static ARMED: std::cell::RefCell<Option<Armed>> = const { std::cell::RefCell::new(None) };
    }

    /// Runs `then` at the `n`-th pass (from 1) of the point `name` on this thread, once; it may
    /// unwind (a crash: what the pass has not done stays undone), block (the process held there
    /// while the test goes on), or [`arm`] the next point. Per thread, so that tests running
    /// beside each other never reach each other's points. Replaces what was armed before.
    pub fn arm(name: &str, n: u32, then: impl FnOnce(&str) + 'static) {
        let armed = Armed { name: name.to_string(), left: n.max(1), then: Box::new(then) };
        ARMED.with_borrow_mut(|slot| *slot = Some(armed));
    }

    /// Disarms what [`arm`] armed on this thread, if it was not reached.
    pub fn disarm() {
        ARMED.with_borrow_mut(|slot| *slot = None);
    }

    fn run_if_armed(name: &str) {
        let due = ARMED.with_borrow_mut(|slot| {
            let armed = slot.as_mut().filter(|a| a.name == name)?;
            armed.left -= 1;
            if armed.left > 0 { None } else { slot.take() }
        });
        // Taken out first: `then` may arm the next point, or never return.
        if let Some(armed) = due {
            (armed.then)(name);
        }
    }

    /// Fails the named point with the errno `BATON_FAULT` gives it, while `BATON_FAULT_WHILE` exists.
    pub fn fault(name: &str, key: &str) -> std::io::Result<()> {
        static FAULTS: OnceLock<(Vec<(String, Option<String>, i32)>, Option<std::path::PathBuf>)> = OnceLock::new();
        let (faults, while_path) = FAULTS.get_or_init(|| {
            let spec = std::env::var("BATON_FAULT").unwrap_or_default();
            let faults = spec
                .split(',')
                .filter_map(|one| {
                    let (point, errno) = one.trim().split_once('=')?;
                    let (point, key) = match point.split_once('@') {
                        Some((p, k)) => (p.to_string(), Some(k.to_string())),
                        None => (point.to_string(), None),
                    };
                    let code = match errno {
                        "EIO" => rustix::io::Errno::IO,
                        "EACCES" => rustix::io::Errno::ACCESS,
                        "EROFS" => rustix::io::Errno::ROFS,
                        "ENOSPC" => rustix::io::Errno::NOSPC,
                        "EMFILE" => rustix::io::Errno::MFILE,
                        "EPERM" => rustix::io::Errno::PERM,
                        "EEXIST" => rustix::io::Errno::EXIST,
                        _ => return None,
                    };
                    Some((point, key, code.raw_os_error()))
                })
                .collect();
            (faults, std::env::var_os("BATON_FAULT_WHILE").map(Into::into))
        });
        if let Some((_, _, code)) = faults.iter().find(|(p, k, _)| p == name && k.as_deref().is_none_or(|k| k == key))
            && while_path.as_ref().is_none_or(|p| p.exists())
        {
            return Err(std::io::Error::from_raw_os_error(*code));
        }
        Ok(())
    }
}
