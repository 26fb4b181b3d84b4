//! The handoff pipeline. One batch travels:
//!
//! 1. **scan** ([`crate::inbox`]): ready files in baton's inbox are claimed (atomic rename
//!    into this process's work folder); claims of dead processes are taken over;
//! 2. **ledger** ([`crate::intake`]): each claim is parsed, validated and recorded in one
//!    transaction, which is also where duplicate ids are caught;
//! 3. **run** ([`crate::execution`]): tasks run in the wasm runtime, concurrently;
//! 4. **RETURN** ([`crate::outputs`]): as each task finishes, its answer (and `.error.json`
//!    record, follow-ups) is delivered through the outbox ([`crate::outbox`]), under names
//!    derived from the claim: never lost, never twice;
//! 5. **ledger**: the results of every task that finished meanwhile are recorded in one
//!    transaction (a group commit);
//! 6. **file**: their originals move to `02_processed/` or `03_failed/` (those folders are
//!    synced a moment later, off this thread: [`crate::later`]).
//!
//! Steps 4 and 6 work on each half of a large group at once, one half on a second thread
//! ([`crate::halves`]): each item's steps keep their order, and a group is synced before any
//! of it is published, committed before any of it is filed.
//!
//! Failures stay local to one item: an error while writing or filing one handoff files that
//! handoff as `internal` and the others go on. Disk-full and I/O errors back off instead.
//! Only the state database itself or a missing home stop the daemon.
//!
//! A crash anywhere leaves the claim in the work folder; the next process takes it over and
//! runs it again, alone (the poison-pill guard: a claim that was alone in flight when the
//! process died `crash_limit` times is filed as `crashed_host`). Execution is at least once,
//! delivery exactly once.
use baton_sync::Locked;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use baton_handoff::{ErrorCode, names};
use baton_runtime::Runtime;

use baton_ledger::SharedLedger;

use crate::PipelineError;
use crate::claims::{Claim, Claims};
use crate::execution::Running;
use crate::intake::prepare;
use crate::leases::{Claimer, SharedClaims};
use crate::outbox::Outbox;
use crate::outputs::Outputs;
use crate::post::Post;
use crate::returns::Answer;
use baton_home::config::{Config, Paths};
use baton_home::failpoint;

use crate::faults::is_passing_io;
use crate::item::{IO_BACKOFF, Item, Prepared};
pub use baton_home::health::Health;

/// What one drain (`serve --once`) did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub completed: usize,
    pub failed: usize,
    pub rejected: usize,
    pub duplicates: usize,
    pub returns_filed: usize,
    pub retried: usize,
}

pub struct Pipeline {
    pub(crate) cfg: Config,
    pub(crate) paths: Paths,
    pub(crate) ledger: SharedLedger,
    pub(crate) runtime: Arc<Runtime>,
    /// Syncs the folders originals were filed in, off this thread ([`crate::later`]). Declared
    /// before `claims` so that it is dropped first: its last syncs name this process's claims
    /// folder, which dropping the claims removes once it is empty.
    filed_syncs: crate::later::LaterSyncs,
    pub(crate) claims: Claimer,
    pub(crate) post: Arc<Post>,
    /// The audit library the app wired (see [`crate::audit::Reports`]).
    pub(crate) audit_reports: Arc<dyn crate::audit::Reports>,
    /// The claim running alone under the poison-pill guard, if any.
    solo_in_flight: Option<String>,
    /// The inbox stage and what it knows between scans (files still settling, names still to
    /// look at); `serve`'s watch drives its scans by events ([`crate::inbox`]).
    pub(crate) inbox: crate::inbox::Inbox,
    /// Claims waiting for their next attempt.
    /// Claims of TASKs waiting for an answer to their input request: looked at again (an
    /// answer, an expiry) at the first pass after this time. Not work that is due: `serve
    /// --once` does not wait for them, and a pass does not wake for them (the periodic
    /// reconcile does; an answer through the inbox wakes its TASK at once).
    waiting_at: HashMap<String, Instant>,
    retry_at: HashMap<String, Instant>,
    /// Claim files taken over from dead processes: they run one at a time.
    pub(crate) suspects: HashSet<OsString>,
    /// The observe stage: what other agents pass each other ([`crate::observe`]).
    pub(crate) observer: crate::observe::Observer,
    /// Every plugin's health as this pass knows it ([`baton_home::health`]).
    pub(crate) health: baton_home::health::Healths,
    /// The fold keys of the folders originals are filed in (names that are one on a Mac).
    pub(crate) folded: crate::folding::FoldedDirs,
    /// How long a group of finished tasks waits for more (adapts to the sync's cost).
    pacing: Pacing,
    /// The spares kept for this agent's senders and RETURNs ([`Self::keep_spares`]).
    spares: Option<crate::spares::Keeper>,
    /// What the readiness check read, waiting for the claim to be prepared.
    pub(crate) preread: crate::preread::Prereads,
    /// Plugins are loaded when a task names them, not all at start-up (see
    /// [`crate::Loading::OnDemand`]).
    pub(crate) on_demand: bool,
    pub summary: Summary,
    /// Since when items have been deferred by passing faults with none filed (for
    /// `[pipeline] give_up_after`), and the last reason.
    pub(crate) waiting_since: Option<(Instant, String)>,
}

/// Right-sized groups: a group of finished tasks waits for more to finish about as long as
/// its sync will take (a moving average of the last syncs), as group commit does. Under load
/// the tasks that finish while one group syncs form the next, so groups grow with the
/// arrival rate and the syncs per handoff fall; a task finishing alone (nothing else running)
/// never waits, so latency at low rates is the sync's alone.
pub(crate) struct Pacing {
    sync_us: f64,
}

impl Pacing {
    const MIN: Duration = Duration::from_micros(200);
    const MAX: Duration = Duration::from_millis(5);

    fn synced(&mut self, took: Duration) {
        self.sync_us = 0.75 * self.sync_us + 0.25 * took.as_secs_f64() * 1e6;
    }

    fn window(&self) -> Duration {
        Duration::from_secs_f64(self.sync_us / 1e6).clamp(Self::MIN, Self::MAX)
    }
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing { sync_us: GROUP_WINDOW.as_secs_f64() * 1e6 }
    }
}

/// How long a group of finished tasks waits for more to finish before its RETURNs are
/// synced and recorded together, before any sync was measured (see [`Pacing`]).
const GROUP_WINDOW: Duration = Duration::from_millis(3);

/// At most this many written, not yet published files are held open in one group (a group
/// with more is synced and published in parts), and never more than a quarter of the
/// process's descriptor limit (`ulimit -n`; 64 under macOS's default of 256): see
/// [`max_open_pending`].
const MAX_OPEN_PENDING: usize = 512;

/// The bound on a group's open files: [`MAX_OPEN_PENDING`], or a quarter of `RLIMIT_NOFILE`'s
/// soft limit if that is less (at least 8). The rest is left to the runtime, SQLite, the
/// watcher and the plugins' preopened folders.
pub(crate) fn max_open_pending() -> usize {
    static BOUND: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
        MAX_OPEN_PENDING.min((soft / 4).max(8) as usize)
    })
}

impl Pipeline {
    pub fn new(cfg: Config, paths: Paths, ledger: SharedLedger, runtime: Arc<Runtime>) -> Result<Self, PipelineError> {
        let me = &cfg.agent;
        for dir in [paths.inbox(me), paths.processed(me), paths.failed(me)] {
            failpoint::fault("start_folders", "")
                .and_then(|()| baton_fs::ensure_dir(&dir))
                .map_err(|e| PipelineError::io(&dir, e))?;
        }
        let shared = ledger.locked().is_shared();
        if !shared {
            check_inbox_layout(&paths, me)?;
        }
        let claims = if shared {
            // Nothing is renamed into `.claims/` inside a synced tree: the ledger row is the claim.
            let state_dir = paths.state.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
            let lease = Duration::from_secs(cfg.pipeline.lease_secs.max(1));
            Claimer::Shared(SharedClaims::open(&paths.inbox(me), &state_dir, ledger.clone(), lease)?)
        } else {
            Claimer::Local(Claims::open(&paths.agent(me)).map_err(|e| PipelineError::io(&paths.agent(me), e))?)
        };
        let outbox_dir = paths.agent(me).join(".outbox");
        let outbox = Outbox::open(outbox_dir.clone()).map_err(|e| PipelineError::io(&outbox_dir, e))?;
        // Marks first, then the claims that name them (a claim is made before its marks).
        // Shared claims are rows, and the outbox is then in the synced tree that every host
        // writes to: a host cannot see all claims, so its marks are only dropped by `forget`.
        if let Claimer::Local(c) = &claims {
            let marks = outbox.marks();
            outbox.sweep(marks, &c.all_nonces());
        }
        sweep_temps(&paths, me);
        let teams = baton_mailbox::teams::Teams::of(cfg.sections.get(baton_mailbox::settings::SECTION), &paths.home);
        let post = Arc::new(Post::new(paths.clone(), cfg.agent.clone(), outbox).with_teams(teams));
        Ok(Pipeline {
            cfg,
            paths,
            ledger,
            runtime,
            claims,
            post,
            audit_reports: Arc::new(crate::audit::NoReports),
            solo_in_flight: None,
            inbox: Default::default(),
            retry_at: HashMap::new(),
            waiting_at: HashMap::new(),
            suspects: HashSet::new(),
            observer: Default::default(),
            health: Default::default(),
            folded: Default::default(),
            pacing: Pacing::default(),
            filed_syncs: Default::default(),
            spares: None,
            preread: Default::default(),
            on_demand: false,
            summary: Summary::default(),
            waiting_since: None,
        })
    }

    /// One step of the task list's search indexer (see `baton_ledger::search`): at most
    /// [`baton_ledger::search::INDEX_BATCH`] tasks' text into the index, in a transaction of its
    /// own. `serve` runs it when a pass found nothing left to do, so the index never costs the
    /// pipeline's own transactions. Whether rows are left (the caller comes back soon). A
    /// failure is only a warning: the search reads unindexed tasks directly, so nothing is lost
    /// until the next step.
    pub fn index_search_step(&self) -> bool {
        match self.ledger.locked().stats().index_search(baton_ledger::search::INDEX_BATCH) {
            Ok((_, left)) => left,
            Err(e) => {
                baton_home::ratelimit::warn_every(
                    "serve:search_index",
                    &format!("the task list's search index: {e}"),
                    "serve",
                );
                false
            }
        }
    }

    /// How long deferred items have waited for a passing fault with nothing filed, and why.
    pub fn stalled_for(&self) -> Option<(Duration, &str)> {
        self.waiting_since.as_ref().map(|(t, why)| (t.elapsed(), why.as_str()))
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Keeps spare files in this agent's `.baton-tmp/` from now on, for a daemon whose callers
    /// wait on each TASK's sync and its RETURN's ([`crate::spares`]). Not in a tree shared
    /// through a sync client (a PostgreSQL ledger): every spare would be uploaded, and used
    /// ones again.
    pub fn keep_spares(&mut self) {
        if self.spares.is_none() && matches!(self.claims, Claimer::Local(_)) {
            let dir = self.paths.agent(&self.cfg.agent).join(baton_fs::TEMP_DIR);
            self.spares = crate::spares::Keeper::start(dir.clone());
            if self.spares.is_some() {
                self.post.outbox.use_spares(dir);
            }
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// With on-demand loading, loads the installed plugins these items' tasks name that are not
    /// loaded yet (each once per process); a no-op when every plugin was loaded at start-up.
    pub(crate) async fn load_named(&mut self, items: &[Item]) {
        if !self.on_demand {
            return;
        }
        let names: std::collections::BTreeSet<&str> =
            items.iter().filter_map(|i| i.prepared.task().and_then(|t| t.plugin.as_deref())).collect();
        for name in names {
            self.ensure_plugin(name).await;
        }
    }

    /// The plugin `name`, loading it first if it is installed but not loaded yet.
    pub async fn ensure_plugin(&self, name: &str) -> Option<Arc<baton_runtime::Plugin>> {
        baton_home::plugins::ensure_loaded(&self.runtime, &self.cfg, &self.paths, &self.ledger, name).await
    }

    /// Reloads plugins whose installed file changed (cheap when nothing did: one stat per file).
    pub async fn reload_plugins(&mut self) -> Vec<String> {
        baton_home::plugins::reload_changed(&self.runtime, &self.cfg, &self.paths, &self.ledger).await
    }

    /// One pass: take over dead claims, claim what is ready, run the taken-over claims one at
    /// a time, then every other due claim in batches, record other agents' handoffs. Returns
    /// when something is next due, if anything waits.
    pub async fn tick(&mut self) -> Result<Option<Instant>, PipelineError> {
        // The fault tests' stand-in for a pass that fails as a full state disk makes it fail.
        failpoint::fault("pass", "").map_err(|e| PipelineError::io(&self.paths.state, e))?;
        self.health.refresh();
        let moved = self.claims.take_over_dead()?;
        self.suspects.extend(moved);
        loop {
            let env = crate::inbox::Env {
                cfg: &self.cfg,
                paths: &self.paths,
                claims: &mut self.claims,
                suspects: &mut self.suspects,
                preread: &mut self.preread,
                folded: &self.folded,
                health: &mut self.health,
                ledger: &self.ledger,
            };
            let (claimed, more_ready) = self.inbox.claim_ready(env)?;
            if claimed > 0 {
                failpoint::hit("after_claim");
            }
            for claim in self.due(true)? {
                self.process(vec![claim], true).await?;
            }
            // One listing of the work folder per pass, run in batches: listing it again before
            // each batch made a drain of n claims cost n²/batch entries read and parsed. Nothing
            // is claimed during a pass, and each claim is in the list once.
            let mut due = self.due(false)?;
            while !due.is_empty() {
                let rest = due.split_off(due.len().min(self.cfg.batch.max(1)));
                self.process(due, false).await?;
                due = rest;
            }
            // Held claims all waiting (retries) leave no room: stop until one is due.
            if !more_ready || claimed == 0 {
                break;
            }
        }
        let next_observe = self.observer.observe_due(&self.paths.handoffs, &self.cfg, &self.ledger)?;
        let next_retry = self.retry_at.values().min().copied();
        let next_settle =
            self.inbox.settling().then(|| Instant::now() + Duration::from_millis(self.cfg.settle_ms.clamp(10, 250)));
        Ok([next_retry, next_settle, next_observe].into_iter().flatten().min())
    }

    /// The claims due now: the taken-over ones (fewest deaths first, so a claim that already
    /// took a process down waits behind its innocent neighbours), or all the others.
    fn due(&mut self, suspects: bool) -> Result<Vec<Claim>, PipelineError> {
        let now = Instant::now();
        let all = self.claims.list()?;
        // Forget what belongs to claims no longer here (filed by hand, say): a stale retry
        // time in the past would make every wait end at once.
        let present: HashSet<OsString> = all.iter().filter_map(|c| c.path.file_name().map(|n| n.to_owned())).collect();
        self.suspects.retain(|s| present.contains(s));
        let keys: HashSet<&str> = all.iter().map(Claim::key).collect();
        self.retry_at.retain(|k, _| keys.contains(k.as_str()));
        self.waiting_at.retain(|k, _| keys.contains(k.as_str()));
        self.preread.retain(&keys);
        let mut due: Vec<Claim> = all
            .into_iter()
            .filter(|c| c.path.file_name().is_some_and(|n| self.suspects.contains(n)) == suspects)
            .filter(|c| self.retry_at.get(c.key()).is_none_or(|t| *t <= now))
            .filter(|c| self.waiting_at.get(c.key()).is_none_or(|t| *t <= now))
            .collect();
        if suspects && due.len() > 1 {
            let ledger = self.ledger.locked();
            let mut keyed: Vec<(u32, Claim)> =
                due.into_iter().map(|c| (ledger.deaths(c.key()).unwrap_or(0), c)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
            due = keyed.into_iter().map(|(_, c)| c).collect();
        }
        Ok(due)
    }

    /// Steps 2–6 for one batch of claims; `solo` for one claim taken over from a dead process.
    async fn process(&mut self, claims: Vec<Claim>, solo: bool) -> Result<(), PipelineError> {
        let deaths = match (solo, claims.first()) {
            (true, Some(c)) => {
                let key = c.key().to_owned();
                let deaths = self.ledger.locked().batch(|b| b.solo_begin(&key))?;
                self.solo_in_flight = Some(key);
                deaths
            }
            _ => 0,
        };
        let done = self.run_batch(claims, solo, deaths).await;
        if done.is_err() {
            // The process lives on: this was no death of the claim running alone.
            self.stopped();
        }
        done
    }

    async fn run_batch(&mut self, claims: Vec<Claim>, solo: bool, deaths: u32) -> Result<(), PipelineError> {
        // 2. parse, validate, record the claims.
        let claims: Vec<(Claim, Option<crate::preread::Preread>)> = claims
            .into_iter()
            .map(|c| {
                let pre = self.preread.take(c.key());
                (c, pre)
            })
            .collect();
        let items: Vec<Item> = {
            let mut ledger = self.ledger.locked();
            let cfg = &self.cfg;
            let root = &self.paths.handoffs;
            let teams = &self.post.teams;
            let record = |b: &baton_ledger::Batch<'_>| {
                claims
                    .into_iter()
                    .map(|(claim, pre)| {
                        // A panic while reading one file refuses that file, never the batch.
                        let prepared = crate::faults::read_one(|| prepare(cfg, teams, root, &claim, pre, b))
                            .unwrap_or_else(|bug| {
                                Ok(Prepared::Refuse {
                                    id: None,
                                    code: ErrorCode::Internal,
                                    message: bug.to_string(),
                                    reply: None,
                                    task: None,
                                })
                            })?;
                        Ok(Item::new(claim, prepared))
                    })
                    .collect::<Result<Vec<_>, baton_ledger::LedgerError>>()
            };
            // A local claim is its file in `.claims/`: the rows recorded here only index it, so
            // their commit does not wait for its own sync (it was a third of `serve`'s part of a
            // round trip, on the path to the RETURN). A crash of this process loses none of it;
            // a power loss may lose the batch, whole, and then the claims are taken over and
            // run again under the same ids, as after any crash (the RETURN's name is the
            // claim's, so nothing is answered twice). Step 5's commit, synced, always follows
            // before an original is filed. A shared claim's row is the claim: synced.
            match self.claims {
                Claimer::Local(_) => ledger.batch_unsynced(record)?,
                Claimer::Shared(_) => ledger.batch(record)?,
            }
        };
        // 3. run; 4–6 for each group of items that finished meanwhile.
        self.load_named(&items).await;
        let crash_limit = self.cfg.pipeline.crash_limit.max(1);
        let mut running = Running::default();
        let mut ready: Vec<Item> = Vec::new();
        for mut item in items {
            item.solo = solo;
            if solo && deaths >= crash_limit {
                crashed(&mut item, deaths);
            }
            ready.extend(running.start(self.exec_env(), item));
        }
        loop {
            if !ready.is_empty() {
                self.finish(std::mem::take(&mut ready))?;
            }
            if running.is_empty() {
                break;
            }
            // A group: the first task to finish, and those finishing within the window of it.
            ready.extend(running.next(self.exec_env()).await);
            let window = tokio::time::sleep(self.pacing.window());
            tokio::pin!(window);
            loop {
                while let Some(item) = running.try_next(self.exec_env()) {
                    ready.push(item);
                }
                if running.is_empty() || ready.len() >= self.cfg.batch {
                    break;
                }
                tokio::select! {
                    _ = &mut window => break,
                    item = running.next(self.exec_env()) => ready.extend(item),
                }
            }
        }
        Ok(())
    }

    /// What the outputs stage ([`crate::outputs`]) borrows for one call.
    fn outputs(&self) -> Outputs<'_> {
        Outputs { cfg: &self.cfg, paths: &self.paths, post: &self.post, folded: &self.folded }
    }

    /// What the execute stage ([`crate::execution`]) borrows for one call.
    fn exec_env(&mut self) -> crate::execution::Env<'_> {
        crate::execution::Env {
            runtime: &self.runtime,
            cfg: &self.cfg,
            health: &mut self.health,
            ledger: &self.ledger,
            paths: &self.paths,
            on_demand: self.on_demand,
        }
    }

    /// Runs every item to its answer (or retry) and returns them: `baton run`.
    pub(crate) async fn run_all(&mut self, items: Vec<Item>) -> Vec<Item> {
        self.load_named(&items).await;
        let mut running = Running::default();
        let mut done: Vec<Item> = items.into_iter().filter_map(|i| running.start(self.exec_env(), i)).collect();
        while !running.is_empty() {
            done.extend(running.next(self.exec_env()).await);
        }
        done
    }

    /// Steps 4–6 for items that are done running: outputs, one ledger commit, filing.
    fn finish(&mut self, mut items: Vec<Item>) -> Result<(), PipelineError> {
        if items.iter().any(|i| matches!(i.prepared, Prepared::Run { .. })) {
            failpoint::hit("after_run");
        }
        // 4. answers, error records, follow-ups.
        let dirs = self.write_group(&mut items);
        self.post.new_group();
        self.sync_dirs(&dirs)?;
        failpoint::hit("after_return");

        // 5. record the results: one commit for the group.
        {
            let mut ledger = self.ledger.locked();
            let health = &self.health;
            let runtime = &self.runtime;
            ledger.batch(|b| {
                let mut stats = baton_ledger::stats::StatsBatch::default();
                for item in &items {
                    crate::outputs::record(b, item, &mut stats, &|p| runtime.get(p).is_some())?;
                    if item.solo {
                        b.solo_end(item.claim.key())?;
                    }
                }
                b.record_stats(&stats)?;
                health.save_changed(b)
            })?;
        }
        self.health.saved();
        if items.iter().any(|i| i.solo) {
            self.solo_in_flight = None;
        }
        failpoint::hit("before_file");

        // 6. file the originals.
        let waiting = items.iter().find(|i| i.deferred.is_some()).map(|i| {
            format!("{} is waiting for a fault to pass (see the warnings above)", i.claim.original.to_string_lossy())
        });
        // Each half of a large group on its own thread, as in step 4; what the pipeline keeps
        // (retry times, counts) is updated here after, in the group's order.
        let outputs = self.outputs();
        // Per item: `Err(delay)` for one that stays (a retry or a deferral), else its filing.
        let (mut placed, more) = crate::halves::on_halves(&mut items, |part| {
            part.iter_mut()
                .map(|item| match item.stays() {
                    Some(delay) => Err(delay),
                    None => Ok(outputs.file(item)),
                })
                .collect::<Vec<_>>()
        });
        placed.extend(more);
        let mut dirs: HashSet<PathBuf> = HashSet::from([self.claims.dir().to_path_buf()]);
        let mut filed = Vec::with_capacity(items.len());
        for (item, placed) in items.iter_mut().zip(placed) {
            let span = item.span.clone();
            let _entered = span.enter();
            let placed = match placed {
                Ok(placed) => placed,
                Err(delay) => {
                    self.hold_back(item, delay);
                    continue;
                }
            };
            match placed {
                Ok(dir) => {
                    self.retry_at.remove(item.claim.key());
                    self.waiting_at.remove(item.claim.key());
                    // An answer came in: the TASK it answers runs again at once (its claim
                    // waited for a recheck).
                    if let Prepared::Answered { claim: woken, request } = &item.prepared {
                        self.waiting_at.remove(woken);
                        self.retry_at.insert(woken.clone(), Instant::now());
                        if let Some(name) = request {
                            self.post.outbox.forget(name);
                        }
                    }
                    dirs.insert(dir);
                    self.count(item);
                    filed.push(item);
                }
                Err(e) => {
                    baton_home::ratelimit::warn_every(
                        "file:failed",
                        &format!("filing {} failed, will try again: {e}", item.claim.path.display()),
                        item.claim.key(),
                    );
                    self.retry_at.insert(item.claim.key().to_owned(), Instant::now() + IO_BACKOFF);
                }
            }
        }
        // No promise waits for the filing to be on the disk (see `crate::later`): synced a
        // moment later, off this thread, and not before the next TASK is claimed.
        self.filed_syncs.sync(dirs);
        if let Some(spares) = &self.spares {
            spares.used();
        }
        if !filed.is_empty() {
            self.waiting_since = None;
        } else if let Some(why) = waiting {
            self.waiting_since.get_or_insert((Instant::now(), why));
        }
        for item in filed {
            if let Some(name) = item.claim.path.file_name() {
                self.suspects.remove(name);
            }
            self.claims.release(&item.claim);
            for name in &item.delivered {
                self.post.outbox.forget(name);
            }
        }
        self.claims.flush();
        Ok(())
    }

    /// Step 6 for an item that is not filed this time (a retry or a deferral): it is tried
    /// again after `delay`.
    fn hold_back(&mut self, item: &mut Item, delay: Duration) {
        // A deferred attempt's record is not the handoff's: the next attempt writes its own
        // (its staged RETURN, never delivered, is moved aside by that attempt).
        if let Some(record) = item.record.take() {
            let agent_dir = self.paths.agent(&self.cfg.agent);
            if let Err(e) = crate::superseded::move_aside(&agent_dir, &record, "the error record of a deferred attempt")
            {
                warn!(file = %record.display(), "cannot move a deferred attempt's record aside: {e}");
            }
        }
        if item.waiting.is_some() && item.retry.is_none() && item.deferred.is_none() {
            self.retry_at.remove(item.claim.key());
            self.waiting_at.insert(item.claim.key().to_owned(), Instant::now() + delay);
            return;
        }
        self.waiting_at.remove(item.claim.key());
        self.retry_at.insert(item.claim.key().to_owned(), Instant::now() + delay);
        self.summary.retried += usize::from(item.retry.is_some());
    }

    /// Step 4 for a group: each item's outputs on its own, each half of a large group on its
    /// own thread ([`crate::halves`]). Written unnamed, a bounded number of open files at a
    /// time; then one sync for the group, and only then named and linked: no RETURN is visible
    /// before its bytes are durable. Returns the folders to sync.
    fn write_group(&mut self, items: &mut [Item]) -> HashSet<PathBuf> {
        self.post.new_group();
        let mid = crate::halves::split_point(items.len());
        let cap = if mid < items.len() { max_open_pending() / 2 } else { max_open_pending() };
        if mid < items.len() {
            tracing::debug!(items = items.len(), "a group's file work split in two halves");
        }
        let outputs = self.outputs();
        let (first, second) = items.split_at_mut(mid);
        let ((mut dirs, mut synced, first_left), (more_dirs, more_synced, second_left)) =
            crate::halves::both(first, second, &|part: &mut [Item]| write_part(&outputs, part, cap));
        dirs.extend(more_dirs);
        synced.extend(more_synced);
        dirs.insert(self.post.outbox.dir().to_path_buf());
        let (first, second) = (&mut first[first_left..], &mut second[second_left..]);
        let last = sync_group(first.iter().chain(second.iter()));
        if last.as_ref().is_some_and(|(_, result)| result.is_err()) {
            defer_pending(first.iter_mut().chain(second.iter_mut()));
        }
        synced.extend(last);
        let (a, b) = crate::halves::both(first, second, &|part: &mut [Item]| publish_part(&outputs, part));
        dirs.extend(a.into_iter().chain(b));
        for (took, _) in synced {
            self.pacing.synced(took);
        }
        dirs
    }

    /// The daemon is stopping in the middle of a pass (a signal): a claim running alone was
    /// not what stopped it, so its guard is lifted without counting a death.
    pub fn stopped(&mut self) {
        if let Some(key) = self.solo_in_flight.take() {
            let lifted = self.ledger.locked().batch(|b| b.solo_abandon(&key));
            if let Err(e) = lifted {
                warn!(claim = %key, "cannot lift the poison-pill guard: {e}");
            }
        }
    }

    /// fsyncs folders; an error that may pass stops this pass (the claims stay), any other
    /// is logged: a folder removed meanwhile is no reason to stop answering.
    fn sync_dirs(&self, dirs: &HashSet<PathBuf>) -> Result<(), PipelineError> {
        for d in dirs {
            if let Err(e) = baton_fs::sync_dir(d) {
                if is_passing_io(&e) {
                    return Err(PipelineError::io(d, e));
                }
                baton_home::ratelimit::warn_every(
                    "sync:dir",
                    &format!("cannot sync folder {}: {e}", d.display()),
                    "outputs",
                );
            }
        }
        Ok(())
    }

    fn count(&mut self, item: &Item) {
        let s = &mut self.summary;
        match (&item.prepared, item.answer.as_ref().map(|a| a.status)) {
            (Prepared::Duplicate, _) => s.duplicates += 1,
            (Prepared::Reply, _) => s.returns_filed += 1,
            (Prepared::Conflict(_), _) => s.rejected += 1,
            (Prepared::Finished(row), _) => match row.state {
                baton_ledger::TaskState::Completed => s.completed += 1,
                baton_ledger::TaskState::Rejected => s.rejected += 1,
                _ => s.failed += 1,
            },
            (_, Some(baton_handoff::Status::Completed)) => s.completed += 1,
            (_, Some(baton_handoff::Status::Rejected)) => s.rejected += 1,
            (_, _) => s.failed += 1,
        }
    }
}

/// The audit runs (`crate::audit`): the pipeline hands its runtime, configuration and mail to an
/// [`crate::audit::Auditor`], which runs without it.
impl Pipeline {
    /// Runs the installed audit plugin once (see [`crate::audit::Auditor::audit`]).
    pub async fn audit(
        &self,
        folders: Option<&crate::audit::Folders>,
        force: bool,
    ) -> Result<Option<crate::audit::Outcome>, PipelineError> {
        self.auditor().audit(folders, force).await
    }

    pub fn auditor(&self) -> crate::audit::Auditor {
        crate::audit::Auditor::new(
            self.runtime.clone(),
            self.cfg.clone(),
            self.post.clone(),
            self.audit_reports.clone(),
        )
    }

    /// The plans folders `serve` watches: the host paths granted to the audit plugin as `plans`.
    pub fn watched_plans(&self) -> Vec<PathBuf> {
        self.runtime()
            .get(crate::audit::PLUGIN)
            .map(|p| p.grants.iter().filter(|g| g.name == "plans").map(|g| g.host_path.clone()).collect())
            .unwrap_or_default()
    }
}

/// baton's `01_inbox/` as a symlink to a folder on another file system: a claim is a rename
/// into `.claims/` beside it, which fails there (`EXDEV`), so no TASK would ever be claimed.
/// Refused at start with the reason and the fix, rather than a drain that answers nothing.
/// Step 4 for one part of a group: writes each item's outputs unnamed and, whenever `cap`
/// files are open, syncs and publishes what is written so far. Returns the folders it touched,
/// the syncs it made, and where the items it left unsynced begin.
fn write_part(outputs: &Outputs<'_>, items: &mut [Item], cap: usize) -> (HashSet<PathBuf>, Vec<Synced>, usize) {
    let mut dirs = HashSet::new();
    let mut syncs = Vec::new();
    let (mut start, mut open) = (0, 0);
    for i in 0..items.len() {
        outputs.write_isolated(&mut items[i], &mut dirs);
        open += items[i].pending.len();
        if open >= cap {
            let part = &mut items[start..=i];
            let synced = sync_group(part.iter());
            if synced.as_ref().is_some_and(|(_, result)| result.is_err()) {
                defer_pending(part.iter_mut());
            }
            syncs.extend(synced);
            dirs.extend(publish_part(outputs, part));
            (start, open) = (i + 1, 0);
        }
    }
    (dirs, syncs, start)
}

/// One sync: how long it took, and whether it failed.
type Synced = (Duration, std::io::Result<()>);

/// One sync for the new files of `items` (`None`: they have none). No RETURN is visible
/// before its bytes are durable: the caller publishes only after this, and defers the items
/// of a failed sync ([`defer_pending`]).
fn sync_group<'a>(items: impl Iterator<Item = &'a Item>) -> Option<Synced> {
    let files: Vec<&std::fs::File> = items.flat_map(|i| i.pending.iter().map(|p| p.file())).collect();
    if files.is_empty() {
        return None;
    }
    let started = Instant::now();
    let result = failpoint::fault("sync", "").and_then(|()| baton_fs::sync_group(&files));
    let took = started.elapsed();
    if let Err(e) = &result {
        baton_home::ratelimit::warn_every(
            "sync:group",
            &format!("cannot make a group of {} RETURNs durable, will try again: {e}", files.len()),
            "outputs",
        );
    }
    failpoint::hit("after_group_sync");
    Some((took, result))
}

/// The items that had files in a failed sync: nothing of theirs was visible, and they are
/// written again after a pause.
fn defer_pending<'a>(items: impl Iterator<Item = &'a mut Item>) {
    for item in items.filter(|i| !i.pending.is_empty()) {
        item.pending.clear();
        item.deferred = Some(IO_BACKOFF);
    }
}

/// Names and links what `items` staged, now durable. Returns the folders it touched.
fn publish_part(outputs: &Outputs<'_>, items: &mut [Item]) -> HashSet<PathBuf> {
    let mut dirs = HashSet::new();
    for item in items {
        outputs.publish_isolated(item, &mut dirs);
    }
    dirs
}

fn check_inbox_layout(paths: &Paths, me: &str) -> Result<(), PipelineError> {
    use std::os::unix::fs::MetadataExt;
    let inbox = paths.inbox(me);
    let linked = std::fs::symlink_metadata(&inbox).is_ok_and(|m| m.file_type().is_symlink());
    if !linked {
        return Ok(());
    }
    let agent = paths.agent(me);
    let (Ok(target), Ok(beside)) = (std::fs::metadata(&inbox), std::fs::metadata(&agent)) else { return Ok(()) };
    if target.dev() != beside.dev() {
        return Err(PipelineError::Layout(format!(
            "baton's inbox {} is a symlink to a folder on another file system ({}), and a TASK is claimed by renaming it \
             into {} on this one, which cannot cross file systems: nothing would ever be claimed. Move the handoffs \
             folder itself there instead (`handoffs` in baton.toml), or make 01_inbox a real folder",
            inbox.display(),
            std::fs::read_link(&inbox).map(|t| t.display().to_string()).unwrap_or_default(),
            agent.join(".claims").display()
        )));
    }
    Ok(())
}

/// Temp files younger than this are never swept: a write holds its temp for milliseconds.
const TEMP_MIN_AGE: Duration = Duration::from_secs(60);

/// Removes the temp files (`.baton-tmp.<pid>.<random>`, see [`baton_fs::sweep_stale_temps`]) that
/// a crashed baton left in the folders it creates files in: the outbox, `03_failed/` and the
/// claim folders. Only baton's own temp names, older than [`TEMP_MIN_AGE`], whose writing
/// process is gone; nothing else is touched. A folder that cannot be read is logged.
fn sweep_temps(paths: &Paths, me: &str) {
    let claims = paths.agent(me).join(".claims");
    let mut dirs = vec![
        paths.agent(me).join(".outbox"),
        paths.agent(me).join(baton_fs::TEMP_DIR),
        paths.failed(me),
        claims.clone(),
    ];
    if let Ok(entries) = std::fs::read_dir(&claims) {
        dirs.extend(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
    }
    for dir in dirs {
        match baton_fs::sweep_stale_temps(&dir, TEMP_MIN_AGE) {
            Ok(0) => {}
            Ok(n) => info!(dir = %dir.display(), removed = n, "removed temp files a crash left"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(dir = %dir.display(), "cannot sweep temp files: {e}"),
        }
    }
}

/// The poison-pill guard's verdict: this claim was alone in flight when a process died
/// `deaths` times; answer `crashed_host` instead of running it again.
fn crashed(item: &mut Item, deaths: u32) {
    let span = item.span.clone();
    let _entered = span.enter();
    let message = format!(
        "baton died {deaths} times while this handoff was the only one in flight, so it is not run again \
         (`[pipeline] crash_limit` in baton.toml); check it, then `baton retry ID` to run it once more"
    );
    warn!(claim = %item.claim.key(), deaths, "poison-pill guard: filing as crashed_host");
    let file_agent = item.claim.original.to_str().and_then(names::agent_of_file_name);
    let task = item.prepared.task().cloned();
    let reply = match &item.prepared {
        Prepared::Refuse { reply, .. } => reply.clone(),
        _ => task.as_ref().map(|t| t.reply_agent().to_string()).or(file_agent),
    };
    item.prepared = Prepared::Refuse { id: None, code: ErrorCode::CrashedHost, message: message.clone(), reply, task };
    item.answer = Some(Answer::refused(ErrorCode::CrashedHost, message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_window_follows_the_sync_cost_within_bounds() {
        let mut p = Pacing::default();
        assert_eq!(p.window(), GROUP_WINDOW, "before any sync was measured");
        for _ in 0..40 {
            p.synced(Duration::from_micros(800));
        }
        let w = p.window().as_micros();
        assert!((780..=820).contains(&w), "a fast disk: a short wait ({w} µs)");
        for _ in 0..40 {
            p.synced(Duration::from_millis(50));
        }
        assert_eq!(p.window(), Pacing::MAX, "a slow sync never makes a group wait longer than MAX");
        for _ in 0..60 {
            p.synced(Duration::from_micros(10));
        }
        assert_eq!(p.window(), Pacing::MIN);
    }
}
