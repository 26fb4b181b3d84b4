//! How one catalog call runs, whatever the version that made it: on tokio's blocking pool
//! under the process-wide catalog lock, bounded by the task's deadline and the per-call caps
//! ([`baton_catalog::bounds`]), with what the host holds for it charged to the task's memory.
//! Here too, the catalog's errors become the plugin's `catalog-error` (0.5's type: older
//! versions convert it in `adapt`), with their text, and so their fix, unchanged.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use baton_sync::Locked;

use baton_catalog::bounds::{self, CallBounds, Stop};
use baton_catalog::{Access, Catalog, CatalogError};

use crate::paths::Files;
use crate::wit;
use crate::{CatView, MAX_CALL_BYTES, MAX_CALL_READ_BYTES, MAX_CALL_TICKS};

/// A call's answer, or the refusal the plugin reads.
pub(crate) type WitResult<T> = Result<T, wit::CatalogError>;

thread_local! {
    /// The first fault of the state met by the catalog call running on this thread that may
    /// pass (see [`CatalogError::is_transient`]). [`error`] notes it where the catalog's error
    /// becomes the plugin's, and [`CatView::run_reading`] hands it to the task's store: if the
    /// task then fails, the attempt does not count and it runs again once the fault has passed,
    /// as for a kv write (see `StoreState::host_fault`).
    static FAULT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The catalog's refusal as the plugin sees it. The message is the catalog's own, which names
/// the fix where there is one (the grant to add in `baton.toml`, the quota to raise): the
/// guest SDK passes it on without adding its own.
pub(crate) fn error(e: CatalogError) -> wit::CatalogError {
    let m = e.to_string();
    if e.is_transient() {
        FAULT.with(|f| {
            f.borrow_mut().get_or_insert_with(|| format!("the catalog's state: {m}"));
        });
    }
    match e {
        CatalogError::NotGranted { .. }
        | CatalogError::NotOwner { .. }
        | CatalogError::ReadOnly { .. }
        | CatalogError::ManualByPlugin { .. } => wit::CatalogError::Denied(m),
        CatalogError::Quota { .. } => wit::CatalogError::Quota(m),
        CatalogError::Sql(_)
        | CatalogError::Postgres { .. }
        | CatalogError::Unavailable { .. }
        | CatalogError::Virtual(_)
        | CatalogError::Fingerprint(_) => wit::CatalogError::Io(m),
        _ => wit::CatalogError::Invalid(m),
    }
}

pub(crate) fn invalid(m: impl Into<String>) -> wit::CatalogError {
    wit::CatalogError::Invalid(m.into())
}

pub(crate) fn denied(m: impl Into<String>) -> wit::CatalogError {
    wit::CatalogError::Denied(m.into())
}

impl CatView<'_> {
    /// Runs `f` on the process's catalog on the blocking pool. Past the task's deadline the
    /// call traps (the task ends `timeout`); a write already under way still commits or rolls
    /// back as a whole.
    pub(crate) async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Catalog, &Access, &Files) -> WitResult<T> + Send + 'static,
    ) -> wasmtime::Result<WitResult<T>> {
        self.run_reading(MAX_CALL_READ_BYTES, f).await
    }

    /// [`CatView::run`], reading at most `read_cap` bytes of rows.
    pub(crate) async fn run_reading<T: Send + 'static>(
        &mut self,
        read_cap: usize,
        f: impl FnOnce(&mut Catalog, &Access, &Files) -> WitResult<T> + Send + 'static,
    ) -> wasmtime::Result<WitResult<T>> {
        let Some(host) = self.host.clone() else {
            return Ok(Err(wit::CatalogError::Io("this host offers no catalog".into())));
        };
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        let access = self.access.clone();
        let identity = self.identity.clone();
        let files = Files::new(&self.grants, &self.dirs);
        // Set when this call's future is dropped (the task ended) or its deadline passes: the
        // work stops where it is and the catalog lock is given back.
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancel.clone());
        let call = CallBounds::new(cancel.clone(), self.deadline, MAX_CALL_TICKS, read_cap);
        let inner = call.clone();
        let job = tokio::task::spawn_blocking(move || {
            FAULT.with(|f| f.borrow_mut().take());
            let r = Self::call(&host, access, identity, &files, &inner, f);
            (r, FAULT.with(|f| f.borrow_mut().take()))
        });
        match tokio::time::timeout_at(self.deadline.into(), job).await {
            Err(_) => {
                cancel.store(true, Ordering::Relaxed);
                Err(wasmtime::Trap::Interrupt.into())
            }
            Ok(Ok(_)) if matches!(call.stopped(), Some(Stop::Deadline | Stop::Cancelled)) => {
                Err(wasmtime::Trap::Interrupt.into())
            }
            Ok(Err(e)) => {
                tracing::error!(plugin = %self.access.actor, "catalog call failed: {e}");
                Ok(Err(wit::CatalogError::Io("the catalog call failed (see the host's log)".into())))
            }
            Ok(Ok((r, fault))) => {
                if let Some(why) = fault {
                    self.fault.get_or_insert(why);
                }
                Ok(r)
            }
        }
    }

    /// One call on the blocking pool: opens the catalog on first use, binds the plugin's
    /// identity, and runs `f` within the call's bounds.
    fn call<T>(
        host: &crate::CatalogHost,
        access: Access,
        identity: Option<String>,
        files: &Files,
        inner: &Arc<CallBounds>,
        f: impl FnOnce(&mut Catalog, &Access, &Files) -> WitResult<T>,
    ) -> WitResult<T> {
        let _bounded = bounds::enter(inner.clone());
        let mut guard = host.catalog.locked();
        // Waited for the lock past the end of the task: nothing to do.
        bounds::check().map_err(error)?;
        if guard.is_none() {
            let mut cat = match &host.location {
                Some(loc) => Catalog::open_at(loc, &host.path),
                None => Catalog::open(&host.path),
            }
            .map_err(error)?;
            if let Some((dir, source)) = host.audit_reports.clone() {
                cat.set_audit_reports(Some(dir), source);
            }
            if let Some(source) = host.handoffs.clone() {
                cat.set_handoffs(source);
            }
            cat.set_files(host.files.clone());
            *guard = Some(cat);
        }
        let r = match guard.as_mut() {
            Some(cat) => match identity {
                Some(id) => cat.bind_owner(access, &id).map_err(error).and_then(|access| f(cat, &access, files)),
                None => f(cat, &access, files),
            },
            None => Err(wit::CatalogError::Io("the catalog could not be opened".into())),
        };
        // A statement interrupted by the bounds fails as an SQL error: say which bound.
        match (r, inner.stopped()) {
            (Err(_), Some(Stop::Work | Stop::Bytes)) => Err(error(inner.error())),
            (r, _) => r,
        }
    }

    /// Charges `bytes` the host holds for this call to the task's memory; refused (nothing
    /// done) when over [`MAX_CALL_BYTES`] or the task's memory cap.
    pub(crate) fn hold(&mut self, what: &str, bytes: usize) -> WitResult<()> {
        self.hold_as(what, bytes, bytes)
    }

    /// As [`CatView::hold`] for `size` bytes of JSON that take `charge` bytes while held.
    pub(crate) fn hold_as(&mut self, what: &str, size: usize, charge: usize) -> WitResult<()> {
        if size > MAX_CALL_BYTES {
            return Err(invalid(format!(
                "{what}: {size} bytes, over the per-call cap of {MAX_CALL_BYTES} bytes; split it"
            )));
        }
        if !self.meter.hold(charge) {
            return Err(invalid(format!("{what}: {size} bytes do not fit the task's memory cap")));
        }
        Ok(())
    }

    /// As [`CatView::hold`] for an answer, which the host holds until the plugin has it.
    pub(crate) fn answer<T>(&mut self, what: &str, r: WitResult<(T, usize)>) -> WitResult<T> {
        let (v, bytes) = r?;
        self.hold(what, bytes)?;
        self.meter.release(bytes);
        Ok(v)
    }
}

/// Whether the running call was stopped because its task ended (then no partial answer).
pub(crate) fn bounds_cancelled() -> bool {
    bounds::should_stop() && matches!(bounds::current_stop(), Some(Stop::Cancelled | Stop::Deadline))
}

/// Sets its flag when dropped: a call abandoned with its task stops its work.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CatalogHost;
    use baton_runtime::limits::TaskMeter;

    fn view<'a>(meter: &'a mut TaskMeter, fault: &'a mut Option<String>) -> CatView<'a> {
        let access = Access::plugin("p", baton_catalog::Grants::default(), baton_catalog::Quota::DEFAULT);
        CatView {
            host: None,
            access,
            identity: None,
            grants: Vec::new(),
            dirs: Vec::new(),
            deadline: Instant::now(),
            meter,
            fault,
        }
    }

    #[test]
    fn per_call_caps_and_the_memory_meter() {
        let mut meter = TaskMeter::new(20 << 20, 1 << 20);
        let mut fault = None;
        let mut v = view(&mut meter, &mut fault);
        match v.hold_as("tracks: upsert", MAX_CALL_BYTES + 1, 2) {
            Err(wit::CatalogError::Invalid(m)) => assert!(m.contains("per-call cap") && m.contains("tracks"), "{m}"),
            other => panic!("{other:?}"),
        }
        v.hold_as("tracks: upsert", 6 << 20, 12 << 20).unwrap();
        match v.hold_as("tracks: upsert", 6 << 20, 12 << 20) {
            Err(wit::CatalogError::Invalid(m)) => assert!(m.contains("memory cap"), "{m}"),
            other => panic!("{other:?}"),
        }
        v.meter.release(12 << 20);
        v.meter.memory_refused = false;
        v.hold_as("tracks: upsert", 6 << 20, 12 << 20).unwrap();
    }

    #[tokio::test]
    async fn without_the_catalog_or_past_the_deadline() {
        let mut meter = TaskMeter::new(1 << 20, 1 << 20);
        let mut fault = None;
        let mut v = view(&mut meter, &mut fault);
        match v.run(|_, _, _| Ok(())).await {
            Ok(Err(wit::CatalogError::Io(m))) => assert!(m.contains("no catalog"), "{m}"),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        v.host = Some(CatalogHost::new(dir.path().join("state.sqlite")));
        let e = v.run(|_, _, _| Ok(())).await.unwrap_err();
        assert_eq!(
            e.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt),
            "past the deadline: the task ends `timeout`"
        );
        v.deadline = Instant::now() + std::time::Duration::from_secs(5);
        let n = v.run(|cat, access, _| Ok(cat.collections(access).map_err(error)?.len())).await.unwrap().unwrap();
        assert_eq!(n, 0, "a plugin granted nothing reads no collection");
    }

    /// A call still working when its task's time runs out is interrupted where it is and gives
    /// the process-wide catalog lock back at once: the next call (another plugin's) does not
    /// wait for work nobody will read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_stops_with_its_task_and_releases_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let mut meter = TaskMeter::new(1 << 20, 1 << 20);
        let mut fault = None;
        let mut v = view(&mut meter, &mut fault);
        v.host = Some(CatalogHost::new(dir.path().join("state.sqlite")));
        v.deadline = Instant::now() + std::time::Duration::from_millis(300);
        let started = Instant::now();
        // Work that would run for a minute, checking its bounds as the catalog's loops do.
        let e = v
            .run(move |_, _, _| {
                while started.elapsed() < std::time::Duration::from_secs(60) {
                    bounds::check().map_err(error)?;
                }
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(e.downcast_ref::<wasmtime::Trap>(), Some(&wasmtime::Trap::Interrupt));
        v.deadline = Instant::now() + std::time::Duration::from_secs(5);
        let t = Instant::now();
        v.run(|cat, access, _| Ok(cat.collections(access).map_err(error)?.len())).await.unwrap().unwrap();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "the next call waited {:?} for the lock", t.elapsed());
    }

    /// A catalog call that meets a full database hands the fault to the task (it runs again
    /// once the fault has passed); a refusal does not.
    #[tokio::test]
    async fn a_full_database_is_the_tasks_host_fault_a_refusal_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut meter = TaskMeter::new(1 << 20, 1 << 20);
        let mut fault = None;
        let mut v = view(&mut meter, &mut fault);
        v.host = Some(CatalogHost::new(dir.path().join("state.sqlite")));
        v.deadline = Instant::now() + std::time::Duration::from_secs(5);
        let refused = v
            .run(|_, _, _| -> WitResult<()> { Err(error(CatalogError::UnknownCollection("nope".into()))) })
            .await
            .unwrap();
        assert!(matches!(refused, Err(wit::CatalogError::Invalid(_))), "{refused:?}");
        assert_eq!(*v.fault, None, "a refusal is the plugin's, not a fault of the host");
        // A real SQLITE_FULL: a database capped at one page, written past it.
        let full = v
            .run(|_, _, _| -> WitResult<()> {
                let db = baton_ledger::rusqlite::Connection::open_in_memory().map_err(|e| error(e.into()))?;
                db.execute_batch("PRAGMA max_page_count = 2; CREATE TABLE t (v BLOB);").map_err(|e| error(e.into()))?;
                db.execute("INSERT INTO t VALUES (zeroblob(100000))", []).map_err(|e| error(e.into()))?;
                Ok(())
            })
            .await
            .unwrap();
        match full {
            Err(wit::CatalogError::Io(m)) => assert!(m.contains("full"), "{m}"),
            other => panic!("{other:?}"),
        }
        let why = v.fault.clone().expect("the full database is the task's host fault");
        assert!(why.contains("database or disk is full"), "{why}");
    }
}
