//! What wakes the pipeline: file-system events under the handoffs root (notify), a periodic
//! full reconcile as a safety net, and the next due retry.
//!
//! Events drive the inbox scan: the names an event names in baton's own inbox are gathered
//! ([`Noted`]) and the next pass looks at those, the files still settling, the ready files left
//! unclaimed (shared claims) and the retries due, not at the whole inbox. 100,000 ignored names
//! beside a trickle of TASKs cost a full listing and sort per TASK before (issue 55, fault 8:
//! 10.2 s of CPU in 11 s). Whenever an event may have been lost or coalesced, the pass lists
//! the whole inbox instead: notify's rescan request (the kernel's queue overflowed), a watcher
//! error, a change at folder level (an inbox replaced or come back), a watch not in place on
//! baton's inbox, a failed pass; and at least every `reconcile_secs` (the periodic reconcile),
//! so a file that came without any event is found then. A dropped or coalesced event costs
//! latency, never a handoff. Without a watch (polling), every pass lists the inbox.
//!
//! A pass that fails with an error that may pass (disk full, I/O error, a busy database)
//! is tried again after a capped, growing pause; any other error stops the daemon. Automatic
//! audits run as a task of their own, so handoffs keep flowing while one runs. A signal stops
//! the daemon at once, even in the middle of a pass: what was in flight is taken over by the
//! next process, as after a crash.
//!
//! A watch follows an inode, not a path. If the handoffs root is moved away or deleted (a sync
//! client restoring a folder, a user tidying up), the watch and this process's claim and outbox
//! folders went with it, so serve stops with an error that says so rather than run half-blind;
//! its service restarts it on the new folder. [`Liveness`] tells `/readyz` whether the watch
//! still covers the root and the loop is turning.
use baton_sync::Locked;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use baton_handoff::stamp::now_ms;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::{Pipeline, PipelineError};

/// The longest pause between two tries after a pass failed for a passing reason.
const MAX_PAUSE: Duration = Duration::from_secs(8);

/// How often the inboxes are read when no file watch is possible (no inotify instance left,
/// or a file system without events): the periodic reconcile, this often.
const POLL_WITHOUT_WATCH: Duration = Duration::from_millis(500);

/// How often baton's own inbox is read when the watches ran out before it had one.
const OWN_INBOX_POLL: Duration = Duration::from_secs(1);

/// A pass running longer than this counts as stalled for readiness: a group's tasks are
/// bounded by their budgets (minutes at most), so a loop stuck past this is not working.
const STALLED_AFTER_MS: i64 = 10 * 60 * 1000;

/// What the serve loop reports about itself, shared with the dashboard's `/readyz`.
#[derive(Debug, Default)]
pub struct Liveness {
    /// The watched root: its path and identity (device, inode) when the watch was set.
    watched: OnceLock<(PathBuf, (u64, u64))>,
    /// Wall-clock ms when the running pass started, or 0 between passes.
    pass_started_ms: AtomicI64,
    /// Wall-clock ms when the last pass ended.
    last_pass_ms: AtomicI64,
    /// Passes in a row that failed (and are being retried).
    failures: AtomicU32,
    /// Errors the watcher itself reported (each one is followed by a full reconcile).
    watch_errors: AtomicU64,
    /// Full listings of baton's inbox since start (events drive the others: see the module).
    inbox_listings: AtomicU64,
}

/// A snapshot of [`Liveness`] for a readiness answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LivenessReport {
    pub ok: bool,
    /// The watch is set and the folder it covers is still the handoffs root.
    pub watching: bool,
    pub in_pass_ms: Option<i64>,
    pub last_pass_ms_ago: Option<i64>,
    pub failing_passes: u32,
    pub watch_errors: u64,
    /// Full listings of baton's inbox since start: one at start, one per `reconcile_secs`, and
    /// one after each event the watch may have lost; not one per TASK.
    pub inbox_listings: u64,
    /// Why it is not ok, in words (`None` when it is): a supervisor's log then says whether
    /// serve is still starting or something is wrong.
    pub reason: Option<String>,
}

impl Liveness {
    pub fn report(&self, now_ms: i64) -> LivenessReport {
        let watching = self.watched.get().is_some_and(|(root, id)| dir_id(root) == Some(*id));
        let started = self.pass_started_ms.load(Ordering::Relaxed);
        let last = self.last_pass_ms.load(Ordering::Relaxed);
        let failing_passes = self.failures.load(Ordering::Relaxed);
        let in_pass_ms = (started > 0).then(|| now_ms - started);
        let stalled = in_pass_ms.is_some_and(|d| d > STALLED_AFTER_MS);
        let reason = if !watching {
            Some("the file watch does not cover the handoffs folder (not set yet, or the folder was replaced)".into())
        } else if failing_passes > 0 {
            Some(format!("the last {failing_passes} pass(es) failed and are being retried (see serve's log)"))
        } else if stalled {
            Some(format!("a pass has run for {} s", in_pass_ms.unwrap_or_default() / 1000))
        } else if last == 0 {
            Some("serve is starting: its first pass has not ended yet".into())
        } else {
            None
        };
        LivenessReport {
            ok: reason.is_none(),
            reason,
            watching,
            in_pass_ms,
            last_pass_ms_ago: (last > 0).then(|| now_ms - last),
            failing_passes,
            watch_errors: self.watch_errors.load(Ordering::Relaxed),
            inbox_listings: self.inbox_listings.load(Ordering::Relaxed),
        }
    }
}

/// The identity of a folder (device, inode), or `None` if it is not there.
fn dir_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()))
}

/// What a look at the handoffs root found.
enum RootIs {
    /// The folder the watch was set on.
    Same,
    /// Read successfully, and gone or another folder (another device or inode): replaced.
    Replaced,
    /// Could not be read (an I/O error, no permission for a while): a pause, not a verdict.
    Unreadable(std::io::Error),
}

/// Compares the root with the identity it had when the watch was set. Only a successful read
/// that finds it gone or different says "replaced": an error while reading it says nothing.
fn root_is(root: &Path, watched: (u64, u64)) -> RootIs {
    match baton_home::failpoint::fault("root_stat", "").and_then(|()| std::fs::metadata(root)) {
        Ok(m) if m.is_dir() && (m.dev(), m.ino()) == watched => RootIs::Same,
        Ok(_) => RootIs::Replaced,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            RootIs::Replaced
        }
        Err(e) => {
            RootIs::Unreadable(std::io::Error::new(e.kind(), format!("the handoffs folder {}: {e}", root.display())))
        }
    }
}

/// The SQLite state file's path and identity (device, inode) when serve started; `None` on a
/// PostgreSQL ledger, which lives on its server.
fn state_id(pipeline: &Pipeline) -> Option<(PathBuf, (u64, u64))> {
    if pipeline.ledger.locked().is_shared() {
        return None;
    }
    let path = pipeline.paths().state.clone();
    let m = std::fs::metadata(&path).ok()?;
    Some((path, (m.dev(), m.ino())))
}

/// Compares the state's path with the file serve opened, as [`root_is`] does the root: only
/// a `stat` that succeeds and finds another file, or finds nothing, says it was replaced; a
/// `stat` that fails (EIO) says nothing and is a pause.
fn state_is(path: &Path, opened: (u64, u64)) -> Result<RootIs, PipelineError> {
    let gone = |what| Err(PipelineError::StateReplaced { path: path.display().to_string(), what });
    match baton_home::failpoint::fault("state_stat", "").and_then(|()| std::fs::metadata(path)) {
        Ok(m) if (m.dev(), m.ino()) == opened => Ok(RootIs::Same),
        Ok(_) => gone("replaced by another file"),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            gone("deleted")
        }
        Err(e) => Ok(RootIs::Unreadable(std::io::Error::new(e.kind(), format!("the state {}: {e}", path.display())))),
    }
}

/// At most this many names are gathered between two passes; past that the next pass lists the
/// inbox (which then costs about as much), and the callback stops keeping names.
const MAX_NOTED: usize = 10_000;

/// What the events since the last pass said about baton's own inbox, gathered by the watch's
/// callback for the next pass: the names they named, or that the whole inbox must be listed
/// (an event may have been lost or coalesced).
#[derive(Default, Clone)]
struct Noted(std::sync::Arc<std::sync::Mutex<NotedNames>>);

#[derive(Default)]
struct NotedNames {
    list: bool,
    names: std::collections::BTreeSet<std::ffi::OsString>,
}

impl Noted {
    /// Notes the names `event` names directly in baton's inbox (`own`: its path under each
    /// form of the root); the callback has already left out events about ignored names only.
    fn names(&self, event: &notify::Event, own: &[PathBuf]) {
        let Ok(mut noted) = self.0.lock() else { return };
        if noted.list {
            return;
        }
        for p in &event.paths {
            if p.parent().is_some_and(|d| own.iter().any(|o| o == d))
                && let Some(name) = p.file_name()
            {
                noted.names.insert(name.to_owned());
            }
        }
        if noted.names.len() > MAX_NOTED {
            noted.list = true;
            noted.names.clear();
        }
    }

    /// The whole inbox must be listed: an event may have been lost or coalesced.
    fn list(&self) {
        if let Ok(mut noted) = self.0.lock() {
            noted.list = true;
            noted.names.clear();
        }
    }

    /// What was noted since the last call. A poisoned lock (a panic in the callback) asks for
    /// a listing: the names noted are unknown.
    fn take(&self) -> (bool, std::collections::BTreeSet<std::ffi::OsString>) {
        match self.0.lock() {
            Ok(mut noted) => (std::mem::take(&mut noted.list), std::mem::take(&mut noted.names)),
            Err(_) => (true, Default::default()),
        }
    }
}

/// The handoff watch as `serve` holds it: the watcher (none when no watch is possible), the
/// channel its events wake the loop through, whether folders came or went, which folders
/// it covers, and what the events said about baton's inbox.
struct HandoffWatch {
    watcher: Option<notify::RecommendedWatcher>,
    rx: mpsc::Receiver<()>,
    /// Set by an event at folder level (or an error): the watched folders are listed again.
    folders_changed: std::sync::Arc<AtomicBool>,
    inboxes: InboxWatch,
    /// The names events named in baton's inbox since the last pass.
    noted: Noted,
}

impl HandoffWatch {
    /// Sets up the watch on `root` (its folders are added by [`Self::refresh`]). Without a watch
    /// at all (the per-user inotify instances used up, a file system without events), serve
    /// still answers everything, by reading the inboxes every [`POLL_WITHOUT_WATCH`].
    fn new(root: &Path, me: &str, liveness: &std::sync::Arc<Liveness>) -> Self {
        let errors = liveness.clone();
        let (tx, rx) = mpsc::channel::<()>(1);
        let folders_changed = std::sync::Arc::new(AtomicBool::new(true));
        let changed = folders_changed.clone();
        // FSEvents (macOS) names paths canonically (`/private/var/…` for `/var/…`): both forms.
        let event_roots = [root.to_path_buf(), root.canonicalize().unwrap_or_else(|_| root.to_path_buf())];
        let own_inboxes = event_roots.clone().map(|r| r.join(me).join(baton_home::config::INBOX));
        let inboxes = InboxWatch::default();
        let dropped = inboxes.dropped.clone();
        let noted = Noted::default();
        let note = noted.clone();
        let made = baton_home::failpoint::fault("inotify", "").map_err(notify::Error::io).and_then(|()| {
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // The fault tests' `watch_drop` failpoint loses events without a word, as a
                // watch that is not there would: only the periodic reconcile finds their files.
                if baton_home::failpoint::fault("watch_drop", "").is_err() {
                    return;
                }
                // The fault tests' `watch_event` failpoint turns events into the watcher's errors.
                let event = event.and_then(|ev| {
                    baton_home::failpoint::fault("watch_event", "").map(|()| ev).map_err(notify::Error::io)
                });
                // Any event, an error or a rescan request: all mean "look again". A full channel
                // already holds a pending wake-up. An event in baton's inbox names what to look
                // at; an error, a rescan request or a folder-level change asks for a listing.
                match &event {
                    Err(e) => {
                        note.list();
                        errors.watch_errors.fetch_add(1, Ordering::Relaxed);
                        // A read fault lasting seconds fails every event: one line per kind per
                        // period, with how many were left out (not 15,000 identical lines).
                        baton_home::ratelimit::warn_every(
                            &format!("watcher:{e}"),
                            &format!("watcher: {e}; reconciling"),
                            "watcher",
                        );
                        changed.store(true, Ordering::Relaxed);
                    }
                    Ok(ev) if !wakes(ev) || only_ignored(ev, &own_inboxes) => return,
                    Ok(ev)
                        if ev.need_rescan()
                            || ev
                                .paths
                                .iter()
                                .any(|p| event_roots.iter().any(|r| InboxWatch::is_folder_level(r, p))) =>
                    {
                        note.list();
                        dropped.note(ev);
                        changed.store(true, Ordering::Relaxed);
                    }
                    Ok(ev) => note.names(ev, &own_inboxes),
                }
                let _ = tx.try_send(());
            })
        });
        let watcher = match made {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "no file watch is possible ({e}); reading the inboxes every {} ms instead. On Linux the per-user limit of \
                     inotify instances is probably reached: raise it with `sysctl fs.inotify.max_user_instances=1024` \
                     (and in /etc/sysctl.d/ to keep it), then restart serve",
                    POLL_WITHOUT_WATCH.as_millis()
                );
                None
            }
        };
        HandoffWatch { watcher, rx, folders_changed, inboxes, noted }
    }

    /// Hands the next pass what the events since the last one said about baton's inbox: the
    /// names they named, or a full listing when one may have been lost, or when baton's inbox
    /// has no watch in place (none possible, out of watches, the inbox not there): then no
    /// event would name what lands in it.
    fn drive(&mut self, inbox: &mut crate::inbox::Inbox, root: &Path, me: &str) {
        let (list, names) = self.noted.take();
        let own = root.join(me).join(baton_home::config::INBOX);
        if list || self.watcher.is_none() || !self.inboxes.dirs.contains_key(&own) {
            inbox.list_next();
        }
        inbox.note(names);
    }

    /// Whether baton's own inbox has a watch in place.
    fn watches_own_inbox(&self, root: &Path, me: &str) -> bool {
        self.inboxes.dirs.contains_key(&root.join(me).join(baton_home::config::INBOX))
    }

    /// Watches the folders that came since the last look, if any did. Run before each pass, so
    /// a file dropped before a new inbox was watched is still seen.
    fn refresh(&mut self, root: &Path, me: &str) {
        if let Some(w) = self.watcher.as_mut().filter(|_| self.folders_changed.swap(false, Ordering::Relaxed))
            && let Err(e) = self.inboxes.sync(w, root, me)
        {
            baton_home::ratelimit::warn_every(
                "serve:watch",
                &format!("cannot set the file watch: {e}; reading the inboxes every reconcile_secs meanwhile"),
                "serve",
            );
            self.folders_changed.store(true, Ordering::Relaxed);
        }
    }
}

/// The plans folders' watch and the audit's schedule: their own channel, so only plans changes
/// (re)start the audit's quiet period. No schedule when automatic audits are off; no watch
/// when the handoff watch could not be made either (the schedule's interval then runs them).
struct PlansWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    rx: Option<mpsc::Receiver<()>>,
    schedule: Option<crate::audit::Schedule>,
}

impl PlansWatch {
    fn new(pipeline: &Pipeline, watching: bool) -> Self {
        let (plans_tx, plans_rx) = mpsc::channel::<()>(1);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.as_ref().is_ok_and(wakes) {
                let _ = plans_tx.try_send(());
            }
        })
        .ok()
        .filter(|_| watching);
        let audit_cfg = &pipeline.config().audit;
        let schedule = audit_cfg.enabled.then(|| {
            for dir in pipeline.watched_plans() {
                let Some(w) = watcher.as_mut() else { break };
                if let Err(e) = w.watch(&dir, RecursiveMode::Recursive) {
                    tracing::warn!(dir = %dir.display(), "cannot watch plans folder: {e}");
                }
            }
            crate::audit::Schedule::new(
                Duration::from_secs(audit_cfg.debounce_secs),
                Duration::from_secs(audit_cfg.interval.max(1)),
            )
        });
        let rx = watcher.is_some().then_some(plans_rx);
        PlansWatch { _watcher: watcher, rx, schedule }
    }

    /// Waits for a change in a plans folder (forever without a watch).
    async fn changed(&mut self) {
        // A closed channel (no watcher left) would return at once, every time: wait forever then.
        let Some(rx) = self.rx.as_mut() else { return std::future::pending().await };
        if rx.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// The pause before trying again after `failures` passing faults in a row.
fn pause_after(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(5)).min(MAX_PAUSE)
}

/// Whether the handoffs root and the state file are still those serve started on: `Ok(None)`
/// when they are, `Ok(Some(error))` when one could not be read (a pause, not a verdict), and
/// the error that stops serve when one was moved, deleted or replaced.
fn look_at_root(
    root: &Path,
    watched: (u64, u64),
    state: &Option<(PathBuf, (u64, u64))>,
) -> Result<Option<std::io::Error>, PipelineError> {
    let look = match root_is(root, watched) {
        RootIs::Same => match state {
            Some((path, opened)) => state_is(path, *opened)?,
            None => RootIs::Same,
        },
        look => look,
    };
    match look {
        RootIs::Same => Ok(None),
        RootIs::Unreadable(e) => Ok(Some(e)),
        RootIs::Replaced => Err(PipelineError::RootReplaced(root.display().to_string())),
    }
}

/// Runs until `shutdown` resolves.
pub async fn serve(
    pipeline: &mut Pipeline,
    liveness: &std::sync::Arc<Liveness>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), PipelineError> {
    pipeline.observer.every = crate::observe::OBSERVE_EVERY;
    let root = pipeline.paths().handoffs.clone();
    baton_fs::ensure_dir(&root).map_err(|e| PipelineError::io(&root, e))?;
    let me = pipeline.config().agent.clone();
    let mut handoffs = HandoffWatch::new(&root, &me, liveness);
    let poll = if handoffs.watcher.is_some() { None } else { Some(POLL_WITHOUT_WATCH) };
    let watched = dir_id(&root).ok_or_else(|| PipelineError::RootReplaced(root.display().to_string()))?;
    let _ = liveness.watched.set((root.clone(), watched));
    // The handoff folders' watches before any other (baton's own inbox first of all): when
    // the per-user watch limit is low, the plugins and plans folders go unwatched, not it.
    handoffs.refresh(&root, &me);
    // Dropping a changed component into the plugins folder reloads it without a restart.
    let plugins_dir = pipeline.paths().plugins.clone();
    if let Some(w) = handoffs.watcher.as_mut().filter(|_| plugins_dir.is_dir())
        && let Err(e) = w.watch(&plugins_dir, RecursiveMode::NonRecursive)
    {
        tracing::warn!(dir = %plugins_dir.display(), "cannot watch the plugins folder: {e}; changes are seen every reconcile_secs");
    }
    let mut plans = PlansWatch::new(pipeline, handoffs.watcher.is_some());
    let reconcile = poll.unwrap_or(Duration::from_secs(pipeline.config().reconcile_secs.max(1)));
    // Events drive the inbox scans from here on; `serve --once` lists the inbox on each pass.
    pipeline.inbox.drive_by_events(reconcile);
    tracing::info!(root = %root.display(), agent = %me, "serving");
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    let mut audit: Option<tokio::task::JoinHandle<()>> = None;
    let state = state_id(pipeline);
    loop {
        match look_at_root(&root, watched, &state) {
            Ok(None) => {}
            Ok(Some(e)) => {
                // Not a verdict: wait and look again (the claims stay as they are).
                failures += 1;
                liveness.failures.store(failures, Ordering::Relaxed);
                let pause = pause_after(failures);
                baton_home::ratelimit::warn_every(
                    "serve:root",
                    &format!("cannot read {e}; trying again in {} ms", pause.as_millis()),
                    "serve",
                );
                tokio::select! {
                    _ = &mut shutdown => { pipeline.stopped(); break }
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
            Err(stop) => {
                pipeline.stopped();
                return Err(stop);
            }
        }
        handoffs.refresh(&root, &me);
        handoffs.drive(&mut pipeline.inbox, &root, &me);
        tracing::debug!("pass");
        liveness.pass_started_ms.store(now_ms(), Ordering::Relaxed);
        let next = tokio::select! {
            _ = &mut shutdown => None,
            next = pass(pipeline) => Some(next),
        };
        liveness.pass_started_ms.store(0, Ordering::Relaxed);
        liveness.last_pass_ms.store(now_ms(), Ordering::Relaxed);
        liveness.inbox_listings.store(pipeline.inbox.listings(), Ordering::Relaxed);
        let Some(next) = next else {
            pipeline.stopped();
            break;
        };
        let next = match next {
            Ok(next) => {
                failures = 0;
                liveness.failures.store(0, Ordering::Relaxed);
                next
            }
            Err(_) if !matches!(root_is(&root, watched), RootIs::Same) => continue, // said above, at the loop's top
            Err(e) if crate::faults::is_passing(&e) => {
                // What the failed pass did not get to is found by listing the inbox again.
                pipeline.inbox.list_next();
                failures += 1;
                liveness.failures.store(failures, Ordering::Relaxed);
                let pause = pause_after(failures);
                baton_home::ratelimit::warn_every(
                    "serve:pass",
                    &format!("{e}; trying again in {} ms", pause.as_millis()),
                    "serve",
                );
                Some(Instant::now() + pause)
            }
            Err(e) => return Err(e),
        };
        // Nothing left to do: a step of the search's indexer, and another soon while rows are
        // left (a batch is a few ms; events still wake the loop between steps).
        let next = if next.is_none() && failures == 0 && pipeline.index_search_step() {
            Some(Instant::now() + Duration::from_millis(20))
        } else {
            next
        };
        let idle = audit.as_ref().is_none_or(|a| a.is_finished());
        if let Some(s) = plans.schedule.as_mut().filter(|s| idle && s.due().is_some_and(|d| d <= Instant::now())) {
            s.ran();
            let auditor = pipeline.auditor();
            audit = Some(tokio::spawn(async move { run_audit(&auditor).await }));
        }
        let audit_due = plans.schedule.as_ref().and_then(|s| s.due());
        // baton's own inbox without a watch (out of watches) is read every second.
        let own_unwatched = handoffs.watcher.is_some() && !handoffs.watches_own_inbox(&root, &me);
        let own_poll = own_unwatched.then(|| Instant::now() + OWN_INBOX_POLL);
        let deadline = [next, audit_due, own_poll].into_iter().flatten().fold(Instant::now() + reconcile, Instant::min);
        tokio::select! {
            _ = &mut shutdown => { pipeline.stopped(); break }
            // After a failed pass, the pause is kept: a burst of events during a database
            // outage or a full disk would otherwise retry (and log) once per event. They stay
            // pending, and the pass after the pause sees their files.
            // Without a watch its sender is gone (recv would return at once): the deadline,
            // POLL_WITHOUT_WATCH away, paces the loop instead.
            _ = handoffs.rx.recv(), if failures == 0 && handoffs.watcher.is_some() => {}
            // A component compiled in the background (see plugins::reload_changed): load it.
            _ = baton_home::plugins::compiled().notified() => {}
            _ = plans.changed() => {
                if let Some(s) = plans.schedule.as_mut() {
                    s.changed();
                }
            }
            // The periodic reconcile also checks the watched folders (one that was replaced
            // under the same name lost its watch without an event that says so).
            _ = tokio::time::sleep_until(deadline.into()) => handoffs.folders_changed.store(true, Ordering::Relaxed),
        }
    }
    if let Some(a) = audit {
        a.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Whether a file-system event may mean new work. Opening or reading a file or a folder does
/// not: every pass lists the inboxes and every audit reads the plans, and a watch woken by those
/// opens (inotify's `IN_OPEN`) would start the next pass or audit at once, forever: an idle
/// daemon spun more than a core on its own reads. A file closed after writing does: a handoff
/// written in several steps is whole then.
fn wakes(event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether an event is only about names baton's own inbox ignores (notes, temp and swap files,
/// dotfiles), directly in it (`own`: its path under each form of the root): such an event never
/// makes work, so it does not wake the loop for a pass (a folder of them written all day would
/// otherwise list the inbox for each). A rename to a handoff's name names the new name, which
/// wakes it. Other agents' inboxes are not judged here: what the observer reads there is its own.
fn only_ignored(event: &notify::Event, own: &[PathBuf]) -> bool {
    !event.need_rescan()
        && !event.paths.is_empty()
        && event.paths.iter().all(|p| {
            p.parent().is_some_and(|d| own.iter().any(|o| o == d))
                && p.file_name().is_some_and(|n| {
                    baton_handoff::names::classify(n.as_encoded_bytes()) == baton_handoff::names::Entry::Ignored
                })
        })
}

/// The folders the handoff watch covers, none of them recursively: the root (agents coming and
/// going), each agent's folder (its `01_inbox/` appearing) and each `01_inbox/`. New work only
/// ever lands in an inbox, and a recursive watch would also wake the loop for each of the
/// renames, links and unlinks baton itself makes in `.claims/`, `.outbox/`, `02_processed/`
/// and `03_failed/` (about nine inotify events per handoff, 14% of the daemon's CPU at
/// 2,000 handoffs/s, all of it in the watcher's thread).
#[derive(Default)]
struct InboxWatch {
    /// Each watched folder and its identity when the watch was set.
    dirs: std::collections::HashMap<PathBuf, (u64, u64)>,
    /// Folders whose watch notify dropped on its own, noted by the event callback.
    dropped: Dropped,
    /// The warning that watches ran out was given.
    warned_full: bool,
}

/// Whether adding a watch failed because the per-user watch limit is reached.
fn out_of_watches(e: &notify::Error) -> bool {
    matches!(&e.kind, notify::ErrorKind::MaxFilesWatch)
        || matches!(&e.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()))
}

/// The paths under which notify's inotify backend dropped a watch by itself. When a watched
/// folder's name is moved away or deleted (`IN_MOVED_FROM`, `IN_DELETE`), notify removes the
/// watch registered under that *path*, and every watch below it, at the end of the event batch.
/// A folder moved away and back (a sync client restoring it, a user undoing a move) is then the
/// same inode without a watch, and the loop's record of (path, inode) alone would call it
/// watched: that inbox went deaf until the periodic reconcile. The callback notes those paths
/// before notify acts, and the `sync` that follows watches them again; its request reaches
/// notify's thread after the batch's removals.
#[derive(Default, Clone)]
struct Dropped(std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>);

impl Dropped {
    fn note(&self, event: &notify::Event) {
        use notify::event::{EventKind, ModifyKind, RenameMode};
        if matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From | RenameMode::Any))
        ) && let Ok(mut dropped) = self.0.lock()
        {
            dropped.extend(event.paths.iter().cloned());
        }
    }

    fn take(&self) -> Vec<PathBuf> {
        self.0.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default()
    }
}

impl InboxWatch {
    /// Whether an event at `path` may mean a folder to watch appeared or went: the root itself,
    /// an agent's folder, or an entry directly in one (`<root>/<agent>/01_inbox`).
    fn is_folder_level(root: &Path, path: &Path) -> bool {
        path.strip_prefix(root).is_ok_and(|rel| rel.components().count() <= 2)
    }

    /// Watches what is there now and forgets what went. A folder replaced under the same name
    /// (another inode) is watched again: its old watch went with the old folder.
    ///
    /// baton's own folder and inbox (`me`) are watched first, right after the root: when the
    /// watches run out (`fs.inotify.max_user_watches`, with thousands of agents) it is other
    /// agents' inboxes that go unwatched (read every `reconcile_secs`), never baton's, and a
    /// warning says so once.
    fn sync(&mut self, watcher: &mut impl Watcher, root: &Path, me: &str) -> Result<(), PipelineError> {
        let dropped = self.dropped.take();
        self.dirs.retain(|dir, _| !dropped.iter().any(|d| dir.starts_with(d)));
        let own = root.join(me);
        // baton's own inbox first: with a watch limit of 1 it is the one watched.
        let mut want = vec![own.join(baton_home::config::INBOX), own.clone(), root.to_path_buf()];
        if let Ok(agents) = std::fs::read_dir(root) {
            for agent in agents.flatten().filter(|e| {
                e.file_type().is_ok_and(|t| t.is_dir()) && !e.file_name().as_encoded_bytes().starts_with(b".")
            }) {
                let dir = agent.path();
                if dir == own {
                    continue;
                }
                want.push(dir.join(baton_home::config::INBOX));
                want.push(dir);
            }
        }
        let mut now = std::collections::HashMap::with_capacity(want.len());
        for dir in want {
            let Some(id) = dir_id(&dir) else { continue };
            if self.dirs.get(&dir) != Some(&id) {
                let _ = watcher.unwatch(&dir);
                match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {}
                    Err(e) if out_of_watches(&e) => {
                        if !self.warned_full {
                            self.warned_full = true;
                            let what = if dir == own.join(baton_home::config::INBOX) {
                                "not even baton's own inbox could be watched: it is read every second, the other \
                                 folders every reconcile_secs"
                            } else {
                                "this folder and those after it are read every reconcile_secs instead (baton's own \
                                 inbox is watched: it was watched first)"
                            };
                            tracing::warn!(
                                dir = %dir.display(),
                                "the file watches ran out ({e}): {what}. Raise the limit with \
                                 `sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it)"
                            );
                        }
                        continue;
                    }
                    // The root's watch is what serve stands on; an agent's folder that went
                    // between the listing and the watch is simply not there any more.
                    Err(e) if dir == root => return Err(e.into()),
                    Err(e) => {
                        tracing::debug!(dir = %dir.display(), "not watched: {e}");
                        continue;
                    }
                }
            }
            now.insert(dir, id);
        }
        for gone in self.dirs.keys().filter(|d| !now.contains_key(*d)) {
            let _ = watcher.unwatch(gone);
        }
        self.dirs = now;
        Ok(())
    }
}

/// One pass: reload changed plugins, then a tick.
async fn pass(pipeline: &mut Pipeline) -> Result<Option<Instant>, PipelineError> {
    pipeline.reload_plugins().await;
    pipeline.tick().await
}

/// Drains everything present (including retries and files still settling), runs the plans
/// audit once if enabled, then returns. Disk and database errors that may pass are waited
/// out as in `serve`.
///
/// A pass that fails for a passing reason is retried with a growing pause (250 ms doubling,
/// capped at [`MAX_PAUSE`]); so are handoffs deferred by one. Either way the drain gives up
/// (exit 2) only after `[pipeline] give_up_after` without progress: a total time, not a count,
/// so eight separate blips of a few seconds each pass as they come.
pub async fn once(pipeline: &mut Pipeline) -> Result<(), PipelineError> {
    let give_up = pipeline.config().pipeline.give_up_after;
    let gave_up = |waiting: String| PipelineError::GaveUp { secs: give_up.as_secs(), waiting };
    let mut failing: Option<Instant> = None;
    let mut failures = 0u32;
    loop {
        match pipeline.tick().await {
            Ok(None) => break,
            Ok(Some(next)) => {
                (failing, failures) = (None, 0);
                if let Some((waited, why)) = pipeline.stalled_for().filter(|(w, _)| *w > give_up) {
                    return Err(gave_up(format!("{why}, for {} s", waited.as_secs())));
                }
                tokio::time::sleep_until(next.into()).await
            }
            Err(e) if crate::faults::is_passing(&e) => {
                let since = *failing.get_or_insert_with(Instant::now);
                if since.elapsed() > give_up {
                    return Err(gave_up(format!("the last error: {e}")));
                }
                failures += 1;
                let pause = Duration::from_millis(250u64 << failures.min(5)).min(MAX_PAUSE);
                baton_home::ratelimit::warn_every(
                    "once:pass",
                    &format!("{e}; trying again in {} ms", pause.as_millis()),
                    "serve --once",
                );
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
    if pipeline.config().audit.enabled {
        pipeline.ensure_plugin(crate::audit::PLUGIN).await;
        run_audit(&pipeline.auditor()).await;
    }
    Ok(())
}

/// An automatic audit never stops the daemon: a failure is logged and retried next time.
async fn run_audit(auditor: &crate::audit::Auditor) {
    match auditor.audit(None, false).await {
        Ok(Some(_)) | Ok(None) => {}
        Err(e) => tracing::error!("plans audit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{EventKind, ModifyKind, RenameMode};
    use std::sync::mpsc::{Receiver, channel};

    #[test]
    fn readiness_says_why_it_is_not_ok() {
        let dir = tempfile::tempdir().unwrap();
        let l = Liveness::default();
        let r = l.report(now_ms());
        assert!(!r.ok && r.reason.as_deref().is_some_and(|w| w.contains("file watch")), "{r:?}");
        let _ = l.watched.set((dir.path().to_path_buf(), dir_id(dir.path()).unwrap()));
        let r = l.report(now_ms());
        assert!(!r.ok && r.reason.as_deref().is_some_and(|w| w.contains("starting")), "{r:?}");
        l.last_pass_ms.store(now_ms(), Ordering::Relaxed);
        let r = l.report(now_ms());
        assert!(r.ok && r.reason.is_none(), "{r:?}");
        l.failures.store(2, Ordering::Relaxed);
        let r = l.report(now_ms());
        assert!(!r.ok && r.reason.as_deref().is_some_and(|w| w.contains("last 2 pass(es) failed")), "{r:?}");
        l.failures.store(0, Ordering::Relaxed);
        l.pass_started_ms.store(now_ms() - STALLED_AFTER_MS - 5_000, Ordering::Relaxed);
        let r = l.report(now_ms());
        assert!(!r.ok && r.reason.as_deref().is_some_and(|w| w.contains("a pass has run for 605 s")), "{r:?}");
    }

    /// Waits for an event that names `path` and passes `pick`.
    fn wait_for(rx: &Receiver<notify::Event>, path: &Path, pick: impl Fn(&notify::Event) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(ev) if ev.paths.iter().any(|p| p == path) && pick(&ev) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Events about ignored names in an inbox do not wake the loop; a handoff's name, a
    /// rename to one, a folder-level event or a rescan request does.
    #[test]
    fn only_events_that_can_make_work_wake_the_loop() {
        use notify::event::CreateKind;
        let ev = |paths: &[&str]| {
            let mut e = notify::Event::new(EventKind::Create(CreateKind::File));
            e.paths = paths.iter().map(PathBuf::from).collect();
            e
        };
        let own = [PathBuf::from("/h/baton/01_inbox")];
        let only = |e: &notify::Event| only_ignored(e, &own);
        assert!(only(&ev(&["/h/baton/01_inbox/note.txt"])));
        assert!(only(&ev(&["/h/baton/01_inbox/.x.json", "/h/baton/01_inbox/x.json.swp"])));
        assert!(!only(&ev(&["/h/a/01_inbox/note.md"])), "another agent's inbox is the observer's");
        assert!(!only(&ev(&["/h/baton/01_inbox/20260118T070951Z__TASK__a__B.json"])));
        assert!(!only(&ev(&["/h/baton/01_inbox/x.json.tmp", "/h/baton/01_inbox/x.json"])), "a rename to a handoff");
        assert!(!only(&ev(&["/h/baton/notes.txt"])), "not in the inbox: a folder-level change");
        assert!(!only(&ev(&[])));
        let rescan = ev(&["/h/baton/01_inbox/note.txt"]).set_flag(notify::event::Flag::Rescan);
        assert!(!only(&rescan));
    }

    /// Events name what the next pass looks at in baton's own inbox, and nothing elsewhere; a
    /// burst past [`MAX_NOTED`] names, or a lost event, asks for a listing instead.
    #[test]
    fn events_note_the_names_in_batons_inbox_or_ask_for_a_listing() {
        use notify::event::CreateKind;
        let ev = |paths: &[String]| {
            let mut e = notify::Event::new(EventKind::Create(CreateKind::File));
            e.paths = paths.iter().map(PathBuf::from).collect();
            e
        };
        let own = [PathBuf::from("/h/baton/01_inbox")];
        let noted = Noted::default();
        noted.names(&ev(&["/h/baton/01_inbox/t.json".into(), "/h/a/01_inbox/u.json".into()]), &own);
        noted.names(&ev(&["/h/baton/notes.txt".into()]), &own);
        let (list, names) = noted.take();
        assert!(!list);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["t.json"]);
        assert_eq!(noted.take(), (false, Default::default()), "taken");
        let burst: Vec<String> = (0..=MAX_NOTED).map(|i| format!("/h/baton/01_inbox/{i}.json")).collect();
        noted.names(&ev(&burst), &own);
        assert_eq!(noted.take(), (true, Default::default()), "a burst: list instead");
        noted.names(&ev(&["/h/baton/01_inbox/t.json".into()]), &own);
        noted.list();
        noted.names(&ev(&["/h/baton/01_inbox/u.json".into()]), &own);
        assert_eq!(noted.take(), (true, Default::default()), "a lost event: list");
    }

    /// An inbox moved away and back (a sync client restoring it, a user undoing a move) is the
    /// same folder, same inode, but notify dropped its watch when its name was moved away: the
    /// loop's record alone would call it watched. Each round must still report a file written
    /// into it, with `sync` run after the events as the serve loop runs it.
    #[test]
    fn an_inbox_moved_away_and_back_stays_watched() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("handoffs");
        let agent = root.join("a");
        let inbox = agent.join(baton_home::config::INBOX);
        std::fs::create_dir_all(&inbox).unwrap();
        let mut inboxes = InboxWatch::default();
        let dropped = inboxes.dropped.clone();
        let (tx, rx) = channel();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                dropped.note(&ev);
                let _ = tx.send(ev);
            }
        })
        .unwrap();
        inboxes.sync(&mut watcher, &root, "baton").unwrap();
        let mut deaf = Vec::new();
        for round in 0..20 {
            let aside = agent.join(format!("aside-{round}"));
            std::fs::rename(&inbox, &aside).unwrap();
            std::fs::rename(&aside, &inbox).unwrap();
            let back = |ev: &notify::Event| matches!(ev.kind, EventKind::Modify(ModifyKind::Name(RenameMode::To)));
            assert!(wait_for(&rx, &inbox, back), "round {round}: no event for the move back");
            inboxes.sync(&mut watcher, &root, "baton").unwrap();
            let file = inbox.join(format!("t{round}.json"));
            std::fs::write(&file, b"{}").unwrap();
            if !wait_for(&rx, &file, |_| true) {
                deaf.push(round);
            }
        }
        assert!(deaf.is_empty(), "the inbox was deaf in rounds {deaf:?}");
    }
}
