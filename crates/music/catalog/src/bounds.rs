//! Bounds on one catalog call made for a plugin: the work it may do (SQLite steps), the bytes it
//! may read and build, and when it must stop (its task ended, or its deadline passed).
//!
//! Why: one [`crate::Catalog`] per host process sits behind a lock. A plugin's call that reads
//! gigabytes to answer a page, or keeps computing after its task timed out, held that lock and
//! the host's memory for everyone. The host (`baton-host-catalog`) wraps each plugin call in
//! [`enter`]; the catalog's SQLite connection has a progress handler ([`tick`]) that interrupts
//! the statement running on a bounded thread once its call must stop, and every row the
//! catalog reads is charged ([`charge_read`]) before it is built. Loops in Rust (matching,
//! shaping pages) ask [`check`]. Calls outside [`enter`] (the CLI, the user) are unbounded.
//!
//! The bounds live in a thread-local: a call runs on one blocking thread from start to end.
use baton_sync::Locked;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::CatalogError;

/// SQLite virtual-machine steps between two progress checks.
pub const STEPS_PER_TICK: i32 = 1_000;

/// Why a call was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Its task ended or the call was abandoned.
    Cancelled,
    /// Its task's time ran out.
    Deadline,
    /// Over [`CallBounds::max_ticks`].
    Work,
    /// Over [`CallBounds::max_read_bytes`].
    Bytes,
}

/// The bounds of one call, shared by the host (which cancels it) and the thread running it.
#[derive(Debug)]
pub struct CallBounds {
    cancel: Arc<AtomicBool>,
    deadline: Instant,
    /// Progress ticks ([`STEPS_PER_TICK`] SQLite steps each) the call may use.
    pub max_ticks: u64,
    ticks: AtomicU64,
    /// Bytes of rows the call may read (built into host memory), all statements together.
    pub max_read_bytes: usize,
    read: AtomicUsize,
    stopped: std::sync::Mutex<Option<Stop>>,
}

impl CallBounds {
    pub fn new(cancel: Arc<AtomicBool>, deadline: Instant, max_ticks: u64, max_read_bytes: usize) -> Arc<CallBounds> {
        Arc::new(CallBounds {
            cancel,
            deadline,
            max_ticks,
            ticks: AtomicU64::new(0),
            max_read_bytes,
            read: AtomicUsize::new(0),
            stopped: std::sync::Mutex::new(None),
        })
    }

    /// Why the call was stopped, if it was.
    pub fn stopped(&self) -> Option<Stop> {
        *self.stopped.locked()
    }

    /// Bytes read so far.
    pub fn read_bytes(&self) -> usize {
        self.read.load(Ordering::Relaxed)
    }

    fn stop(&self, why: Stop) {
        let mut s = self.stopped.locked();
        s.get_or_insert(why);
    }

    /// Whether the call must stop now (and records why).
    fn must_stop(&self) -> bool {
        if self.stopped().is_some() {
            return true;
        }
        let why = if self.cancel.load(Ordering::Relaxed) {
            Stop::Cancelled
        } else if Instant::now() >= self.deadline {
            Stop::Deadline
        } else if self.ticks.load(Ordering::Relaxed) > self.max_ticks {
            Stop::Work
        } else {
            return false;
        };
        self.stop(why);
        true
    }

    /// The error a stopped call answers with.
    pub fn error(&self) -> CatalogError {
        CatalogError::CallBound(match self.stopped() {
            Some(Stop::Work) => format!(
                "the call did more work than one call may ({} million SQLite steps); ask for less (a narrower filter, a smaller page)",
                self.max_ticks * STEPS_PER_TICK as u64 / 1_000_000
            ),
            Some(Stop::Bytes) => format!(
                "the call would read more than {} MiB to answer; ask for less (a smaller page, fewer changes)",
                self.max_read_bytes >> 20
            ),
            Some(Stop::Deadline) => "the task's time ran out".into(),
            _ => "the call was abandoned (its task ended)".into(),
        })
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CallBounds>>> = const { RefCell::new(None) };
}

/// While alive, catalog work on this thread is bounded by `bounds`.
pub struct Entered {
    previous: Option<Arc<CallBounds>>,
}

/// Bounds the catalog work this thread does until the guard is dropped.
pub fn enter(bounds: Arc<CallBounds>) -> Entered {
    Entered { previous: CURRENT.with(|c| c.replace(Some(bounds))) }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn with_current<T>(f: impl FnOnce(&CallBounds) -> T) -> Option<T> {
    CURRENT.try_with(|c| c.borrow().as_ref().map(|b| f(b))).ok().flatten()
}

/// The progress handler of the catalog's SQLite connection: true interrupts the statement.
pub(crate) fn tick() -> bool {
    with_current(|b| {
        b.ticks.fetch_add(1, Ordering::Relaxed);
        b.must_stop()
    })
    .unwrap_or(false)
}

/// Stops work in Rust: an error once the call must stop.
pub fn check() -> Result<(), CatalogError> {
    match with_current(|b| b.must_stop().then(|| b.error())) {
        Some(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// The running call's bounds, for work that runs on another thread (a PostgreSQL statement
/// runs on the connection's runtime: a watch there cancels it, see `db.rs`).
pub(crate) fn current() -> Option<Arc<CallBounds>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// A statement on the PostgreSQL server is cancelled when the call must stop (see
/// `baton_store::sql::Bound`).
impl baton_store::sql::Bound for CallBounds {
    fn stopped(&self) -> bool {
        CallBounds::stopped(self).is_some()
    }

    /// Whether the call must stop now (and records why), from any thread.
    fn must_stop_now(&self) -> bool {
        self.must_stop()
    }
}

/// Why the running call was stopped, if it was.
pub fn current_stop() -> Option<Stop> {
    with_current(CallBounds::stopped).flatten()
}

/// Whether the call must stop (for callbacks that take a `stop` predicate).
pub fn should_stop() -> bool {
    with_current(CallBounds::must_stop).unwrap_or(false)
}

/// Charges `n` bytes the call is about to build; refused (with the call stopped) over its cap.
pub(crate) fn charge_read(n: usize) -> Result<(), CatalogError> {
    if !metered() {
        return Ok(());
    }
    match with_current(|b| {
        let now = b.read.fetch_add(n, Ordering::Relaxed) + n;
        if now > b.max_read_bytes {
            b.read.fetch_sub(n, Ordering::Relaxed);
            b.stop(Stop::Bytes);
            return Err(b.error());
        }
        Ok(())
    }) {
        Some(r) => r,
        None => Ok(()),
    }
}

/// Bytes the current call may still read (`usize::MAX` outside a bounded call).
pub(crate) fn remaining_read() -> usize {
    if !metered() {
        return usize::MAX;
    }
    with_current(|b| b.max_read_bytes.saturating_sub(b.read.load(Ordering::Relaxed))).unwrap_or(usize::MAX)
}

/// Runs `f` with reading not charged to the call (the track index, kept for every call and
/// task, is not one call's answer). Steps and cancellation still apply.
pub(crate) fn unmetered<T>(f: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = UNMETERED.try_with(|u| u.set(u.get().saturating_sub(1)));
        }
    }
    UNMETERED.with(|u| u.set(u.get() + 1));
    let _restore = Restore;
    f()
}

thread_local! {
    static UNMETERED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether reads are charged now.
fn metered() -> bool {
    UNMETERED.try_with(|u| u.get() == 0).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, Catalog, Filter, Record};
    use std::time::Duration;

    fn catalog(n: usize) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = Catalog::open(&dir.path().join("state.sqlite")).unwrap();
        let records: Vec<Record> = (0..n)
            .map(|i| Record::new(format!("t{i:05}"), serde_json::json!({"title": format!("{i}{}", "x".repeat(1000))})))
            .collect();
        cat.upsert(&Access::user(), "tracks", &records).unwrap();
        (dir, cat)
    }

    fn bounds(ticks: u64, bytes: usize) -> Arc<CallBounds> {
        CallBounds::new(Arc::default(), Instant::now() + Duration::from_secs(60), ticks, bytes)
    }

    /// A page reads rows only while they fit the call's read cap, and ends with a cursor there;
    /// the rest follows from it.
    #[test]
    fn a_page_ends_at_the_read_cap_with_its_cursor() {
        let (_d, cat) = catalog(300);
        let u = Access::user();
        let b = bounds(u64::MAX, 100_000);
        let page = {
            let _e = enter(b.clone());
            cat.query(&u, "tracks", &Filter::parse("title~nothing").unwrap(), false, None, 1000).unwrap()
        };
        assert!(page.records.is_empty());
        let next = page.next.expect("a cursor where the read cap stopped the page");
        assert!(next.as_str() > "t00010" && next.as_str() < "t00299", "{next}");
        assert!(b.read_bytes() <= 100_000, "{}", b.read_bytes());
        let all = cat.query(&u, "tracks", &Filter::parse("title~nothing").unwrap(), false, None, 1000).unwrap();
        assert!(all.next.is_none(), "outside a plugin's call nothing is bounded");
    }

    /// The progress handler stops a statement over the call's work, and a cancelled call at
    /// its next step; other callers on the same connection are never stopped.
    #[test]
    fn work_and_cancellation_interrupt_statements() {
        let (_d, cat) = catalog(300);
        let u = Access::user();
        let b = bounds(0, usize::MAX);
        let r = {
            let _e = enter(b.clone());
            cat.query(&u, "tracks", &Filter::default(), false, None, 1000)
        };
        assert!(r.is_err(), "a full scan is more than 1,000 steps");
        assert_eq!(b.stopped(), Some(Stop::Work));
        assert!(b.error().to_string().contains("more work than one call may"));
        let cancel = Arc::new(AtomicBool::new(true));
        let c = CallBounds::new(cancel, Instant::now() + Duration::from_secs(60), u64::MAX, usize::MAX);
        let r = {
            let _e = enter(c.clone());
            cat.changes_since(&u, 0, 1000)
        };
        assert!(r.is_err());
        assert_eq!(c.stopped(), Some(Stop::Cancelled));
        assert_eq!(cat.query(&u, "tracks", &Filter::default(), false, None, 1000).unwrap().records.len(), 300);
    }
}
