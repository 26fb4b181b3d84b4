//! One policy for poisoned locks, written once: **a poisoned lock is recovered**. A lock is
//! poisoned when a thread panicked while holding it; `std` then answers every later `lock()`
//! with an error carrying the guard, and each caller chooses. baton always takes the guard
//! ([`Locked::locked`], [`RwLocked::read_locked`], [`RwLocked::write_locked`], and [`recover`]
//! for the other `LockResult`s: a `Condvar` wait, `get_mut`), for two reasons.
//!
//! **The data behind baton's locks stays consistent across a panic.** Every lock in the
//! workspace guards one of three kinds of data, and none of them can be left half-changed:
//!
//! - *A database handle* (the ledger, the catalog, a fingerprint-library or snapshot
//!   connection, the PostgreSQL pool's idle sessions). Every write goes through one
//!   transaction, and a transaction not committed is rolled back when it is dropped, unwinding
//!   included (rusqlite's `Transaction`, tokio-postgres's `Transaction`): the database is left
//!   as it was before the call that panicked, and the handle is ready for the next one.
//! - *A cache or memo* (the dashboard's counts and reports, the fingerprint index and deep
//!   library, the duplicate groups, the inboxes found for a group, the compile jobs and
//!   deferred files, the log rate limiter, the MCP session's sent handoffs and tasks). An
//!   entry is inserted whole, after it was built, and is checked against its source (a
//!   generation, a file's stamp, an age) before it is used: a panic loses at most an entry
//!   that is built again.
//! - *A table changed by one step* (the held named locks, the advisory locks and their
//!   alarms, the dashboard's tokens, the plugins map, a grant's held handle, a call's stop
//!   reason, the claim-id generator, the fingerprint workers' slots). Each critical section
//!   makes one insert, remove or assignment, after everything that can fail was done, so a
//!   panic leaves the old state or the new one. Two keep a byte count beside their buffers
//!   and change it in several steps (a task's captured stdout/stderr, the SQLite snapshots'
//!   copy usage): nothing between those steps can panic but arithmetic on the count itself,
//!   which can only overflow if the count was already wrong.
//!
//! **A panicking task is already reported.** A plugin task that panics fails with the panic's
//! words (`baton_pipeline`'s execution joins it), a file whose reading panics is set aside with
//! them (the poison-pill rule), a request handler's panic is the request's error, and the
//! panic hook prints the rest. Refusing the lock afterwards would say nothing more: it would
//! only turn one reported bug into a panic in every later user of the lock, which is how a
//! failing plugin would take the whole `serve` down.
//!
//! A lock added later must guard data of one of these kinds, or say beside it why recovering
//! is still right.
use std::sync::{LockResult, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a lock call answered, poisoned or not (see the module's policy).
pub fn recover<G>(result: LockResult<G>) -> G {
    result.unwrap_or_else(PoisonError::into_inner)
}

/// `Mutex::lock` under the one poison policy.
pub trait Locked<T: ?Sized> {
    /// The guard, also when a thread panicked while holding it.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        recover(self.lock())
    }
}

/// `RwLock::read` and `RwLock::write` under the one poison policy.
pub trait RwLocked<T: ?Sized> {
    /// A read guard, also when a writer panicked.
    fn read_locked(&self) -> RwLockReadGuard<'_, T>;
    /// The write guard, also when a writer panicked.
    fn write_locked(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLocked<T> for RwLock<T> {
    fn read_locked(&self) -> RwLockReadGuard<'_, T> {
        recover(self.read())
    }

    fn write_locked(&self) -> RwLockWriteGuard<'_, T> {
        recover(self.write())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Poisons `lock` by panicking on another thread while holding it.
    fn poison<T: Send + Sync + 'static>(lock: Arc<T>, hold: impl FnOnce(&T) + Send + 'static) {
        let joined = std::thread::spawn(move || hold(&lock)).join();
        assert!(joined.is_err(), "the holder panicked");
    }

    #[test]
    fn a_poisoned_mutex_gives_its_guard_and_the_value_it_held() {
        let m = Arc::new(Mutex::new(vec![1]));
        poison(m.clone(), |m| {
            let mut held = m.lock().unwrap();
            held.push(2);
            panic!("on purpose, holding the lock");
        });
        assert!(m.is_poisoned());
        m.locked().push(3);
        assert_eq!(*m.locked(), vec![1, 2, 3]);
    }

    #[test]
    fn a_poisoned_rwlock_reads_and_writes() {
        let l = Arc::new(RwLock::new(1));
        poison(l.clone(), |l| {
            let mut held = l.write().unwrap();
            *held = 2;
            panic!("on purpose, holding the lock");
        });
        assert!(l.is_poisoned());
        assert_eq!(*l.read_locked(), 2);
        *l.write_locked() = 3;
        assert_eq!(*l.read_locked(), 3);
    }

    #[test]
    fn recover_takes_any_lock_result() {
        let mut m = Mutex::new(5);
        *recover(m.get_mut()) += 1;
        assert_eq!(*m.locked(), 6);
    }
}
