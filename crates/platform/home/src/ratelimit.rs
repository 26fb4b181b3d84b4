//! Repeated warnings, rate-limited: a fault that lasts a few seconds (a folder unwritable, a
//! disk full, no file handle free) hits every handoff in flight, and one line per handoff per
//! retry buried the log (38,410 lines in 12 s). Each kind of warning is logged at most once per
//! [`EVERY`]; the next line says how many were left out meanwhile.
use baton_sync::Locked;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two lines of one kind.
pub const EVERY: Duration = Duration::from_secs(10);

/// Per kind: when it was last logged, and how many were left out since.
static SEEN: Mutex<Option<HashMap<String, (Instant, u64)>>> = Mutex::new(None);

/// Whether a line of `kind` may be logged now; `Some(n)`: yes, `n` were left out before it.
pub fn allow(kind: &str) -> Option<u64> {
    let mut seen = SEEN.locked();
    let seen = seen.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    match seen.get_mut(kind) {
        Some((last, skipped)) if now.duration_since(*last) < EVERY => {
            *skipped += 1;
            None
        }
        Some((last, skipped)) => {
            let n = std::mem::take(skipped);
            *last = now;
            Some(n)
        }
        None => {
            // Bounded: the kinds are few (a step and an errno), but never let it grow.
            if seen.len() > 1024 {
                seen.clear();
            }
            seen.insert(kind.to_string(), (now, 0));
            Some(0)
        }
    }
}

/// Logs `message` at WARN for `subject`, at most once per [`EVERY`] for `kind`.
pub fn warn_every(kind: &str, message: &str, subject: &str) {
    match allow(kind) {
        Some(0) => tracing::warn!(subject, "{message}"),
        Some(n) => tracing::warn!(
            subject,
            left_out = n,
            "{message} ({n} more like it left out in the last {} s)",
            EVERY.as_secs()
        ),
        None => tracing::debug!(subject, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kind_is_let_through_once_per_period_and_counts_the_rest() {
        assert_eq!(super::allow("t-kind"), Some(0));
        assert_eq!(super::allow("t-kind"), None);
        assert_eq!(super::allow("t-kind"), None);
        assert_eq!(super::allow("t-other"), Some(0));
    }
}
