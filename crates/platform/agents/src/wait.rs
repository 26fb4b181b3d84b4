//! `baton wait ID`: blocks until the RETURN answering a TASK lands, woken by file-system events
//! ([`crate::events`]) with a 1 s poll beside them for folders where events never come
//! (network and FUSE mounts). It reads only; it never moves or changes a RETURN, and needs no `baton serve` (for
//! a TASK between agents, the other agent answers). `send --wait`, `call` and A2A's
//! `SendMessage` set their watch before they write the TASK ([`Watch`]) and then read only the
//! files the events name, listing no reply inbox full of unread RETURNs (or, for A2A, of one
//! filed RETURN per task ever sent) more than once a second.
use crate::events::{Wake, wake_of};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::Value;

use baton_handoff::names;

use super::Tree;
use baton_cli::Ctx;

/// The poll beside the events: what a folder without working events waits at most.
const POLL: Duration = Duration::from_secs(1);

/// A RETURN file may be named up to this long before its TASK (another machine's clock).
const SKEW_SECS: i64 = 600;

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// The TASK's id (what `baton send` printed).
    pub id: String,
    /// Give up after this many seconds (exit 124; the TASK stays pending). Default 60; `inf`
    /// waits forever.
    #[arg(long, value_name = "SECS", default_value = "60")]
    pub timeout: Option<f64>,
    /// Print exactly the RETURN object.
    #[arg(long)]
    pub json: bool,
    /// Once the RETURN is here, mark it read (as `baton ack`): it moves to 02_processed/.
    #[arg(long)]
    pub ack: bool,
    /// For a message delivered into a Claude Code inbox (`send --to TEAM/AGENT`): wait until
    /// it is `noticed` (Claude Code took it from the inbox), `seen` (the recipient's model
    /// received it: its transcript says so) or `answered` (exit 1 if it is lost). `read` is
    /// taken as `noticed`. For a TASK: `final` waits through its input requests for the RETURN
    /// (by default a wait ends at an open input request: printed, exit 3).
    #[arg(long, value_parser = ["noticed", "seen", "answered", "read", "final"])]
    pub until: Option<String>,
}

/// The exit status of a wait that ended at an open input request (the TASK asked back).
pub const ASKED: i32 = 3;

/// Blocks until a delivery reaches `until` (`noticed`, `seen`, `answered`; `read` is the old
/// name of `noticed`): exit 0, or 1 when it is lost, 124 on timeout. Prints the state (JSON
/// `{id, delivery}` with `json`, with `seen_at` and `transcript` once seen).
pub fn delivery(ctx: &Ctx, id: &str, until: &str, timeout: Option<Duration>, json: bool) -> Result<i32> {
    use baton_mailbox::receipt::State;
    let Some(until) = State::parse_until(until) else {
        bail!("--until {until:?}: use noticed, seen or answered");
    };
    let start = Instant::now();
    let mut ledger = ctx.connect()?;
    let mut transcripts = crate::claude_inbox::transcripts(ctx);
    loop {
        let Some(look) = crate::claude_inbox::delivery(ctx, &mut ledger, &mut transcripts, id)? else {
            bail!("{id:?} is no message delivered into a mailbox (`baton send --to TEAM/AGENT` prints one)");
        };
        let state = look.state;
        let done = state.reached(until);
        let timed_out = timeout.is_some_and(|t| start.elapsed() >= t);
        if done || state == State::Lost || timed_out {
            if json {
                let mut out = serde_json::json!({"id": id, "delivery": state.as_str()});
                if let Some(seen) = crate::claude_inbox::seen_detail(&ledger, id)? {
                    out["seen_at"] = seen["seen_at"].clone();
                    out["transcript"] = seen["transcript"].clone();
                }
                println!("{out}");
            } else {
                println!("{id}: {}", state.as_str());
            }
            return Ok(if done {
                0
            } else if state == State::Lost {
                1
            } else {
                124
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The names in a folder now.
pub fn names_in(dir: &Path) -> HashSet<OsString> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name()).collect()
}

/// Looks for the RETURN answering one TASK wherever it is delivered: as a file in a few
/// folders (a folder agent's inbox), reading each file at most once (a file that does not parse
/// yet, still being written by a non-atomic writer, is read again when its size or time
/// changes), or as a message in a Claude Code team agent's inbox ([`ClaudeWatch`]) when the
/// TASK's reply agent is `TEAM/AGENT`. Every way of waiting (`wait`, `send --wait`, `call`, MCP
/// `wait_for_return`, A2A) builds one with [`Waiter::for_agent`] or [`Waiter::for_sent`], so
/// none watches a folder where nothing will come.
pub struct Waiter {
    id: String,
    pub dirs: Vec<PathBuf>,
    /// The RETURN of a TASK answered to `TEAM/AGENT`: a message `baton serve` appends to that
    /// agent's Claude inbox, never a file in `dirs` (empty then).
    claude: Option<ClaudeWatch>,
    /// Files named (`<stamp>__…`) before this are older than the TASK: skipped unread.
    min_stamp: Option<String>,
    seen: HashSet<OsString>,
    unparsed: HashMap<OsString, (u64, Option<std::time::SystemTime>)>,
    /// RETURN ids of attempts that were retried since (`baton retry`): not the answer waited for.
    pub stale: HashSet<String>,
    /// The latest RETURN found so far: a retried TASK has one RETURN per attempt.
    best: Option<(PathBuf, Value)>,
    /// Where the TASK's ledger row is read: a TASK baton refused or failed may have no RETURN
    /// anywhere a waiter looks (one refused with `unknown_recipient` has nowhere to go), so
    /// without the row every way of waiting would time out instead of saying why.
    ledger: Option<baton_ledger::Location>,
    /// When the ledger row was last read (read at most once per [`POLL`]).
    asked_row: Option<Instant>,
    /// Just before the TASK was written, for a waiter of a TASK this process wrote
    /// ([`Waiter::for_sent`]). Its row finishes after that, so a wait's row cannot answer (it
    /// must have finished [`ROW_GRACE`] ago) until `ROW_GRACE` after it: asking sooner only
    /// opens the ledger (a connection, on PostgreSQL) while the RETURN is on its way.
    written: Option<Instant>,
    /// A watch set before the TASK was written ([`Waiter::with_watch`]), or by the first
    /// [`block`] (after which the folders are listed once): a scan reads only the files its
    /// events named (`noted`) unless `list_due` (at the start without a watch set before the
    /// TASK, after a lost event) or a [`POLL`] passed since the last listing.
    watch: Option<Watch>,
    noted: Vec<PathBuf>,
    list_due: bool,
    /// A server's shared watch instead of one of its own ([`Landings`]), read from this number.
    landings: Option<(std::sync::Arc<Landings>, u64)>,
    /// Whether an open input request of the TASK ends the wait (`wait`, `send --wait`, `call`;
    /// not `wait --until final`, MCP or A2A, which wait through it).
    pub asking: bool,
    /// The latest input request of the TASK seen in its folders, and whether the ledger said
    /// it is open (asked again until it does: the file lands before the ledger's commit).
    request: Option<(PathBuf, Value, bool)>,
    /// When the ledger was last asked about `request`, and how many times: it is asked again
    /// after 2, 4, 8, … ms, at most 50 (the ledger commits a moment after the file lands).
    asked_request: Option<(Instant, u32)>,
    /// When the folders were last listed (or the waiter made): with a watch, they are listed
    /// again once [`POLL`] has passed, whoever drives the looks.
    listed: Instant,
    /// The TASK is for a plugin: `serve` answers it (a wait says when none runs).
    pub for_plugin: bool,
}

/// A watch on the folders a RETURN can land in, set **before** the TASK is written: every file
/// that can answer the TASK then comes with an event naming it, so the waiter reads the files
/// the events name and lists no folder. A sender's inbox can hold thousands of unread RETURNs,
/// and listing it is what a `send --wait` cost most (5,043 files: 11.4 ms of CPU a send, 4.8 ms
/// with 43, the kernel hashing every entry of each listing).
pub struct Watch {
    events: crate::events::Events,
    _slot: Slot,
}

/// The watches alive in this process, at most [`MAX_WATCHES`]: on Linux each is an inotify
/// instance (elsewhere `notify`'s watcher and its thread), and a user gets 128 instances by
/// default (`fs.inotify.max_user_instances`), shared with `serve` and every other process. An
/// MCP or A2A server with more waits in flight gives the others no watch: they list their
/// folders at each look instead.
static LIVE_WATCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
const MAX_WATCHES: usize = 64;

/// One of the [`MAX_WATCHES`], given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        use std::sync::atomic::Ordering::Relaxed;
        LIVE_WATCHES.fetch_update(Relaxed, Relaxed, |n| (n < MAX_WATCHES).then_some(n + 1)).ok().map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        LIVE_WATCHES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Watch {
    /// A watch on `dirs`: the first (the inbox), and those of the others it can watch (a
    /// RETURN landing in one it cannot, or in one made later, is found by the poll's listing);
    /// `None` when the first cannot be watched (the waiter then lists its folders at each look,
    /// as it does without a watch).
    pub fn new(dirs: &[PathBuf]) -> Option<Watch> {
        let Some(slot) = Slot::take() else {
            tracing::debug!("{MAX_WATCHES} watches in this process already: this wait lists its folders");
            return None;
        };
        Some(Watch { events: crate::events::Events::new(dirs)?, _slot: slot })
    }
}

/// What one watch on a folder saw land there, kept for a server's many waiters (A2A's: one
/// watch on `a2a`'s inbox, however many tasks are in flight): each waiter reads only the files
/// that landed after its TASK was written ([`Waiter::with_landings`]), with no watch of its own
/// and no listing of a folder that keeps one RETURN per task ever sent.
#[derive(Default)]
pub struct Landings {
    log: std::sync::Mutex<LandingLog>,
    /// Signalled at each landing, for a waiter that sleeps on the log ([`block`]).
    landed: std::sync::Condvar,
}

#[derive(Default)]
struct LandingLog {
    /// The number the next landing gets.
    next: u64,
    /// The last [`LANDINGS_KEPT`] landings; `None`: an event was lost, look at everything.
    recent: std::collections::VecDeque<(u64, Option<PathBuf>)>,
}

/// Landings kept for waiters that have not looked yet; one further behind lists its folders.
const LANDINGS_KEPT: usize = 4096;

impl Landings {
    /// A watch on `dir` that records what lands there, calling `on_land` after each record;
    /// `None` where the folder gives no events (its waiters then list it at each look).
    pub fn watch(
        dir: &Path,
        on_land: impl Fn() + Send + 'static,
    ) -> Option<(notify::RecommendedWatcher, std::sync::Arc<Landings>)> {
        use notify::Watcher;
        let landings = std::sync::Arc::new(Landings::default());
        let log = landings.clone();
        let mut w = notify::recommended_watcher(move |ev| {
            if let Some(wake) = wake_of(ev) {
                log.record(wake);
                on_land();
            }
        })
        .map_err(|e| tracing::warn!("no file watcher ({e}); polling"))
        .ok()?;
        w.watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| tracing::warn!(dir = %dir.display(), "no file events ({e}); polling"))
            .ok()?;
        Some((w, landings))
    }

    /// What the watch's event says: these files landed, or one was missed.
    fn record(&self, wake: Wake) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let items: Vec<Option<PathBuf>> = match wake {
            Wake::Paths(p) => p.into_iter().map(Some).collect(),
            Wake::All => vec![None],
        };
        for item in items {
            let n = log.next;
            log.next += 1;
            log.recent.push_back((n, item));
            if log.recent.len() > LANDINGS_KEPT {
                log.recent.pop_front();
            }
        }
        self.landed.notify_all();
    }

    /// Sleeps until something lands at or past `from`, at most `timeout`.
    fn wait_past(&self, from: u64, timeout: Duration) {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.landed.wait_timeout_while(log, timeout, |log| log.next <= from);
    }

    /// The number of the next landing: a waiter made before its TASK is written starts there.
    pub fn mark(&self) -> u64 {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).next
    }

    /// What landed from `from` on, moving `from` past it: the files, or `All` when one was
    /// missed or has left the log.
    fn since(&self, from: &mut u64) -> Option<Wake> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if *from >= log.next {
            return None;
        }
        let oldest = log.recent.front().map_or(log.next, |(n, _)| *n);
        let wake = if *from < oldest {
            Wake::All
        } else {
            let mut paths = Vec::new();
            for (_, p) in log.recent.iter().skip((*from - oldest) as usize) {
                match p {
                    Some(p) => paths.push(p.clone()),
                    None => {
                        *from = log.next;
                        return Some(Wake::All);
                    }
                }
            }
            Wake::Paths(paths)
        };
        *from = log.next;
        Some(wake)
    }
}

/// The answer a TASK's ledger row gives on its own, as a RETURN-shaped object (`"from":
/// "ledger"`, no file): its state, code and reason when baton refused it (`rejected`) or its run
/// failed; `None` for any other row (running, retrying, completed with its RETURN on its way).
/// A wait ([`Waiter::check`]) asks it only after [`ROW_GRACE`], preferring the RETURN file; a
/// one-off look ([`Waiter::look`]) asks it at once, so a finished TASK is never shown as still
/// working.
fn row_answer(row: &baton_ledger::TaskRow) -> Option<Value> {
    use baton_ledger::TaskState;
    if !matches!(row.state, TaskState::Rejected | TaskState::Failed) {
        return None;
    }
    let state = row.state.as_str();
    let reason = row.error_message.clone().unwrap_or_else(|| format!("the TASK was {state}"));
    Some(serde_json::json!({
        "kind": "return",
        "in_reply_to": row.id,
        "from": "ledger",
        "status": state,
        "summary": reason,
        "error": {"code": row.error_code, "message": reason},
        "finished_at": row.finished_at,
    }))
}

/// How long after a TASK's row turned `rejected` or `failed` the waiter still waits for the
/// RETURN itself before it answers from the row: the pipeline records the row before it has
/// delivered the RETURN, and the RETURN (a file to `--ack`) is the better answer.
const ROW_GRACE: Duration = Duration::from_secs(2);

impl Waiter {
    pub fn new(id: &str, dirs: Vec<PathBuf>, min_stamp: Option<String>, before: HashSet<OsString>) -> Self {
        Waiter {
            id: id.to_string(),
            dirs,
            min_stamp,
            seen: before,
            unparsed: HashMap::new(),
            stale: HashSet::new(),
            best: None,
            claude: None,
            ledger: None,
            asked_row: None,
            written: None,
            watch: None,
            noted: Vec::new(),
            list_due: true,
            landings: None,
            listed: Instant::now(),
            for_plugin: false,
            asking: false,
            request: None,
            asked_request: None,
        }
    }

    /// Reads what `watch` (set before the TASK was written) names instead of listing the
    /// folders; a waiter without one lists them at each look.
    pub fn with_watch(mut self, watch: Option<Watch>) -> Self {
        self.list_due = watch.is_none();
        self.watch = watch;
        self
    }

    /// Reads what landed in `landings` from `mark` on (taken before the TASK was written)
    /// instead of listing the folders; they are still listed once a [`POLL`] passed (a RETURN
    /// in a folder the shared watch does not cover).
    pub fn with_landings(mut self, landings: std::sync::Arc<Landings>, mark: u64) -> Self {
        self.list_due = false;
        self.landings = Some((landings, mark));
        self
    }

    /// A watch for the RETURN of TASK `id` answered to `reply_agent`: a folder agent's inbox
    /// (and `02_processed/`), or, for `TEAM/AGENT`, the message in its Claude inbox. A
    /// `TEAM/AGENT` that no claude-team mailbox has gets a watch on nothing that says so in
    /// [`Self::expected`] (the TASK is refused at intake; its refusal is in the ledger).
    pub fn for_agent(ctx: &Ctx, tree: &Tree, id: &str, reply_agent: &str, created_at: Option<&str>) -> Waiter {
        let min = created_at.and_then(min_stamp);
        if names::team_agent(reply_agent).is_some() {
            let found = crate::claude_inbox::recipient(ctx, reply_agent, false);
            let mut w = Waiter::new(id, Vec::new(), min, HashSet::new());
            w.claude = Some(match found {
                Ok(r) => ClaudeWatch::new(r.agent(), Some(r.inbox)),
                Err(e) => {
                    let mut c = ClaudeWatch::new(reply_agent.to_string(), None);
                    c.unknown = Some(format!("{e:#}"));
                    c
                }
            });
            w.ledger = Some(ctx.location.clone());
            return w;
        }
        let agent = tree.existing_agent(reply_agent).unwrap_or_else(|| reply_agent.to_string());
        let inbox = tree.root.join(&agent).join(baton_home::config::INBOX);
        let mut w = Waiter::new(id, dirs_of(&inbox), min, HashSet::new());
        w.ledger = Some(ctx.location.clone());
        w
    }

    /// A watch for the RETURN of a TASK just written; the names its reply folders held before
    /// it, when they were listed ([`crate::send::Sent::before`]), are skipped unread.
    pub fn for_sent(sent: &crate::send::Sent, ledger: Option<baton_ledger::Location>) -> Waiter {
        let min = min_stamp(&sent.created_at);
        let mut w = match &sent.mailbox {
            Some(r) => {
                let mut w = Waiter::new(&sent.id, Vec::new(), min, HashSet::new());
                w.claude = Some(ClaudeWatch::new(r.agent(), Some(r.inbox.clone())));
                w
            }
            None => Waiter::new(&sent.id, dirs_of(&sent.reply_inbox), min, sent.before.clone()),
        };
        w.ledger = ledger;
        w.written = Some(sent.written);
        w.for_plugin = sent.for_plugin;
        w
    }

    /// Where the RETURN is expected, for a message that says what did not come.
    pub fn expected(&self) -> String {
        match &self.claude {
            Some(c) => match (&c.inbox, &c.unknown) {
                (Some(inbox), _) => format!(
                    "a message in {} (the Claude Code inbox of {}, appended by `baton serve`)",
                    inbox.display(),
                    c.agent
                ),
                (None, why) => format!(
                    "the Claude Code inbox of {}, which no claude-team mailbox has ({})",
                    c.agent,
                    why.as_deref().unwrap_or("unknown")
                ),
            },
            None => format!(
                "a RETURN file in {}",
                self.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" or ")
            ),
        }
    }

    /// Whether the RETURN is a message in a Claude Code inbox (no file to file away).
    pub fn is_mailbox(&self) -> bool {
        self.claude.is_some()
    }

    /// The folders whose file events may mean the RETURN came.
    pub fn watched(&self) -> Vec<PathBuf> {
        let mut out = self.dirs.clone();
        if let Some(folder) = self.claude.as_ref().and_then(|c| c.inbox.as_deref()).and_then(Path::parent) {
            out.push(folder.to_path_buf());
        }
        out
    }

    /// The RETURN (its file and body), if it is there now: of several (one per attempt of a
    /// retried TASK), the latest. For a wait, polled until it answers: a TASK refused or
    /// failed answers from its ledger row once [`ROW_GRACE`] passed with no RETURN.
    pub fn check(&mut self) -> Option<(PathBuf, Value)> {
        self.answer(ROW_GRACE)
    }

    /// [`Self::check`] for a one-off look (A2A's `GetTask`, MCP's `tasks/get`): a TASK refused
    /// or failed answers from its row at once, or it would read as still working.
    pub fn look(&mut self) -> Option<(PathBuf, Value)> {
        self.answer(Duration::ZERO)
    }

    fn answer(&mut self, grace: Duration) -> Option<(PathBuf, Value)> {
        self.scan();
        if let Some(mut c) = self.claude.take() {
            for (path, body) in c.look(&self.id, self.ledger.as_ref()) {
                self.offer(path, body);
            }
            self.claude = Some(c);
        }
        if self.best.is_none() {
            return self.open_request().or_else(|| self.answer_of_row(grace));
        }
        self.best.clone()
    }

    /// The TASK's input request, if the wait ends at one ([`Self::asking`]) and the ledger
    /// says it is still open (its answer not given yet). Asked at most every 50 ms.
    fn open_request(&mut self) -> Option<(PathBuf, Value)> {
        if !self.asking {
            return None;
        }
        let (path, body, open) = self.request.as_mut()?;
        if *open {
            return Some((path.clone(), body.clone()));
        }
        let tries = self.asked_request.map_or(0, |(_, n)| n);
        if self.asked_request.is_some_and(|(t, n)| t.elapsed() < request_backoff(n)) {
            return None;
        }
        self.asked_request = Some((Instant::now(), tries + 1));
        let ledger = baton_home::state::connect(self.ledger.as_ref()?).ok()?;
        let row = ledger.task(&self.id).ok()??;
        let asked = baton_pipeline::asking::open_request(&ledger.events(&self.id).ok()?)?;
        *open = row.state == baton_ledger::TaskState::InputRequired
            && body.get("request_id").and_then(Value::as_str) == Some(asked.request_id.as_str());
        open.then(|| (path.clone(), body.clone()))
    }

    /// Whether a request was seen that the ledger has not confirmed open yet (a wait then looks
    /// again soon rather than at its next poll).
    fn request_pending(&self) -> bool {
        self.asking && self.request.as_ref().is_some_and(|(_, _, open)| !open)
    }

    /// How long until the ledger is asked again about a request seen in the folders.
    fn request_pause(&self) -> Duration {
        request_backoff(self.asked_request.map_or(0, |(_, n)| n))
    }

    /// The answer the ledger's row gives when no RETURN is found ([`row_answer`]: a TASK baton
    /// refused or whose run failed), once it finished over `grace` ago, so `wait`, MCP and A2A
    /// all say it as they say a RETURN's instead of timing out.
    fn answer_of_row(&mut self, grace: Duration) -> Option<(PathBuf, Value)> {
        let loc = self.ledger.as_ref()?;
        if self.written.is_some_and(|t| t.elapsed() < grace) || self.asked_row.is_some_and(|t| t.elapsed() < POLL) {
            return None;
        }
        self.asked_row = Some(Instant::now());
        let row = baton_home::state::connect(loc).ok()?.task(&self.id).ok()??;
        let finished = row.finished_at.as_deref().and_then(baton_handoff::stamp::parse_rfc3339);
        let age_ms = finished.map(|f| (baton_handoff::stamp::now() - f).whole_milliseconds());
        if age_ms.is_some_and(|a| a < grace.as_millis() as i128) {
            return None;
        }
        row_answer(&row).map(|body| (PathBuf::new(), body))
    }

    /// Keeps `body` if it is a RETURN answering the TASK's current attempt, later than the best
    /// so far.
    fn offer(&mut self, path: PathBuf, body: Value) {
        let s = |k: &str| body.get(k).and_then(Value::as_str);
        let stale = s("id").is_some_and(|id| self.stale.contains(id));
        if s("kind") == Some("input_request")
            && s("in_reply_to") == Some(&self.id)
            && self.request.as_ref().is_none_or(|(_, b, _)| later(&body, b))
        {
            self.request = Some((path, body, false));
            return;
        }
        if s("kind") == Some("return")
            && s("in_reply_to") == Some(&self.id)
            && !stale
            && self.best.as_ref().is_none_or(|(_, b)| later(&body, b))
        {
            self.best = Some((path, body));
        }
    }

    /// Reads the files not read yet, keeping the latest RETURN answering the TASK: every file of
    /// its folders, or, with a watch and no listing due, the files its events named.
    fn scan(&mut self) {
        self.drain();
        let mut found = Vec::new();
        // A folder whose events never come (a network mount) is still listed every POLL.
        let fed = self.watch.is_some() || self.landings.is_some();
        if self.list_due || !fed || self.listed.elapsed() >= POLL {
            (self.list_due, self.listed) = (false, Instant::now());
            self.noted.clear();
            let dirs = self.dirs.clone();
            for dir in &dirs {
                let Ok(entries) = std::fs::read_dir(dir) else { continue };
                for e in entries.flatten() {
                    self.look_at(e.path(), e.file_name(), &mut found);
                }
            }
        } else {
            for path in std::mem::take(&mut self.noted) {
                let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { continue };
                if self.dirs.iter().any(|d| d == dir) {
                    let name = name.to_owned();
                    self.look_at(path, name, &mut found);
                }
            }
        }
        for (path, body) in found {
            self.offer(path, body);
        }
    }

    /// What the watch said since the last look: the files its events named, or a listing due
    /// (an event was lost, or the watch stopped: the waiter then lists at each look).
    fn drain(&mut self) {
        if let Some(wake) = self.landings.as_mut().and_then(|(landings, from)| landings.since(from)) {
            self.take(wake);
        }
        while let Some(watch) = &self.watch {
            match watch.events.next(Duration::ZERO) {
                Ok(Some(wake)) => self.take(wake),
                Ok(None) => break,
                Err(crate::events::Stopped) => (self.watch, self.list_due) = (None, true),
            }
        }
    }

    fn take(&mut self, wake: Wake) {
        match wake {
            Wake::Paths(paths) => self.noted.extend(paths),
            Wake::All => self.list_due = true,
        }
    }

    /// Reads `path` (named `name`) once if it may be a RETURN answering the TASK: not seen yet,
    /// a RETURN by its name, not older than the TASK; one that does not parse yet is read again
    /// when its size or time changes.
    fn look_at(&mut self, path: PathBuf, name: OsString, found: &mut Vec<(PathBuf, Value)>) {
        if self.seen.contains(&name) {
            return;
        }
        if names::classify(name.as_bytes()) != names::Entry::Candidate {
            self.seen.insert(name);
            return;
        }
        if let Some(parts) = name.to_str().and_then(names::parse_file_name) {
            let old = self.min_stamp.as_deref().is_some_and(|m| parts.stamp < m);
            let wanted = parts.kind == "RETURN" || (self.asking && parts.kind == "INPUT_REQUEST");
            if !wanted || old {
                self.seen.insert(name);
                return;
            }
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else { return };
        let stamp = (meta.len(), meta.modified().ok());
        if self.unparsed.get(&name) == Some(&stamp) {
            return;
        }
        match super::read_handoff(&path) {
            Some(body) => {
                self.unparsed.remove(&name);
                self.seen.insert(name);
                found.push((path, body));
            }
            None => {
                self.unparsed.insert(name, stamp);
            }
        }
    }
}

/// The pause before the ledger is asked again whether a request seen in the folders is open:
/// 2 ms doubling to 50 (it commits a moment after the file is named; a flat 50 ms made every
/// question reach `send --wait` 50 ms late).
fn request_backoff(tries: u32) -> Duration {
    Duration::from_millis((2u64 << tries.min(5)).min(50))
}

/// The RETURN of a TASK answered to a Claude Code team's agent: the message whose `text` is
/// the RETURN's JSON, in the agent's inbox file (read again each time the file changes), or,
/// once Claude Code has cleared the inbox, as the ledger kept it (the `return_delivered` event
/// under the TASK names the message; its `delivered` event holds the text).
struct ClaudeWatch {
    agent: String,
    /// `<teams>/<team>/inboxes/<agent>.json`; `None` when no claude-team mailbox has the agent.
    inbox: Option<PathBuf>,
    /// The inbox's (size, mtime) when last read: unchanged, it is not read again.
    stamp: Option<(u64, Option<std::time::SystemTime>)>,
    /// Whether the ledger has been asked at least once.
    asked: bool,
    /// Why the agent has no inbox.
    unknown: Option<String>,
}

impl ClaudeWatch {
    fn new(agent: String, inbox: Option<PathBuf>) -> Self {
        ClaudeWatch { agent, inbox, stamp: None, asked: false, unknown: None }
    }

    /// The RETURNs answering `id` found since the inbox last changed: each message whose text
    /// is a RETURN in reply to `id`, with the inbox's path. The ledger is asked the first time
    /// and whenever the inbox changed without holding one (it was cleared, or the message was
    /// recorded after the file was read). `ledger` is the waiter's own: one place says where
    /// the ledger is.
    fn look(&mut self, id: &str, ledger: Option<&baton_ledger::Location>) -> Vec<(PathBuf, Value)> {
        let mut out = Vec::new();
        let now = self
            .inbox
            .as_deref()
            .map(|p| std::fs::metadata(p).map(|m| (m.len(), m.modified().ok())).unwrap_or((u64::MAX, None)));
        let changed = now != self.stamp;
        if let Some(inbox) = self.inbox.as_deref()
            && changed
        {
            self.stamp = now;
            let items = std::fs::read(inbox).ok().and_then(|b| serde_json::from_slice::<Vec<Value>>(&b).ok());
            for m in items.unwrap_or_default() {
                if let Some(ret) = return_in(m.get("text").and_then(Value::as_str), id) {
                    out.push((inbox.to_path_buf(), ret));
                }
            }
        }
        if out.is_empty()
            && (changed || !self.asked)
            && let Some(loc) = ledger
        {
            self.asked = true;
            if let Ok(ledger) = baton_home::state::connect(loc) {
                out.extend(from_ledger(&ledger, id));
            }
        }
        out
    }
}

/// The RETURN answering `id` in a Claude message's `text`, if it is one.
fn return_in(text: Option<&str>, id: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text?).ok()?;
    (v.get("kind").and_then(Value::as_str) == Some("return")
        && v.get("in_reply_to").and_then(Value::as_str) == Some(id))
    .then_some(v)
}

/// The RETURNs of TASK `id` the ledger records as delivered into a Claude inbox, with that inbox.
fn from_ledger(ledger: &baton_ledger::Ledger, id: &str) -> Vec<(PathBuf, Value)> {
    let events = ledger.events(id).unwrap_or_default();
    let messages = events.iter().filter(|e| e.event == "return_delivered").filter_map(|e| e.detail["message"].as_str());
    let mut out = Vec::new();
    for m in messages {
        for d in ledger.events(m).unwrap_or_default().into_iter().filter(|e| e.event == "delivered") {
            if let Some(ret) = return_in(d.detail["text"].as_str(), id) {
                out.push((PathBuf::from(d.detail["inbox"].as_str().unwrap_or_default()), ret));
            }
        }
    }
    out
}

/// Whether RETURN `a` answers a later attempt than `b`: more `attempts`, else written later.
fn later(a: &Value, b: &Value) -> bool {
    let key = |v: &Value| {
        (
            v.get("attempts").and_then(Value::as_u64).unwrap_or(0),
            v.get("finished_at").or_else(|| v.get("created_at")).and_then(Value::as_str).unwrap_or("").to_string(),
        )
    };
    key(a) > key(b)
}

/// The RETURN ids that do not answer the TASK's current attempt: those of attempts a `baton
/// retry` superseded (every claim the ledger recorded for it but the current one, and the
/// current one too while a retry is requested), and the `duplicate_id` refusals of copies
/// dropped by hand.
pub fn stale_returns(ledger: &baton_ledger::Ledger, id: &str) -> HashSet<String> {
    let Ok(Some(row)) = ledger.task(id) else { return HashSet::new() };
    let pending = row.state == baton_ledger::TaskState::RetryRequested;
    ledger
        .events(id)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.event == "claimed" || e.event == "duplicate_id")
        .filter_map(|e| e.detail.get("claim").and_then(Value::as_str))
        .filter(|c| pending || *c != row.claim)
        .filter_map(|c| c.split_once('~').map(|(claim_id, _)| baton_pipeline::returns::return_id_of(claim_id)))
        .collect()
}

/// How long a wait sleeps before it looks again: at most [`POLL`], and no later than
/// `deadline`; `None` once the deadline has passed.
fn next_pause(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        Some(d) => d.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()).map(|left| left.min(POLL)),
        None => Some(POLL),
    }
}

/// Waits for the RETURN: `None` after `timeout`. Each look reads what the waiter's watch named
/// since the last ([`Waiter::with_watch`]); at the start without a watch set before the TASK,
/// after a lost event, and after a [`POLL`] without one, it lists the folders. A waiter without
/// a watch gets one here, before its first look, so a RETURN landing between the two still
/// wakes it; it keeps it for its next waits (MCP's slices, A2A's looks).
pub fn block(waiter: &mut Waiter, timeout: Option<Duration>) -> Result<Option<(PathBuf, Value)>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    if waiter.watch.is_none() && waiter.landings.is_none() {
        waiter.watch = Watch::new(&waiter.watched());
    }
    loop {
        if let Some(found) = waiter.check() {
            return Ok(Some(found));
        }
        let Some(mut pause) = next_pause(deadline) else { return Ok(None) };
        if waiter.request_pending() {
            pause = pause.min(waiter.request_pause());
        }
        if let Some((landings, from)) = &waiter.landings {
            landings.wait_past(*from, pause);
            continue;
        }
        let Some(watch) = waiter.watch.as_ref() else {
            std::thread::sleep(pause);
            continue;
        };
        match watch.events.next(pause) {
            Ok(Some(wake)) => waiter.take(wake),
            // A poll without events: list (a folder whose events never come).
            Ok(None) => waiter.list_due = true,
            // The watch stopped: list and poll for the time left.
            Err(crate::events::Stopped) => (waiter.watch, waiter.list_due) = (None, true),
        }
    }
}

/// [`block`] in slices of at most a second, with `between` called before each: it may act (run
/// the TASK when nobody else will) and answers `false` to stop waiting (a cancelled MCP task).
/// `None` after `limit` or a stop.
pub fn block_sliced(
    waiter: &mut Waiter,
    limit: Option<Duration>,
    mut between: impl FnMut() -> Result<bool>,
) -> Result<Option<(PathBuf, Value)>> {
    let deadline = limit.map(|l| Instant::now() + l);
    loop {
        if !between()? {
            return Ok(None);
        }
        let Some(slice) = next_pause(deadline) else { return Ok(None) };
        if let Some(found) = block(waiter, Some(slice))? {
            return Ok(Some(found));
        }
    }
}

/// Where the RETURN for TASK `id` will land, and the stamp before which no file can answer it.
/// The TASK is looked for in the agents' folders (and baton's claims in flight), then in the
/// ledger.
pub fn locate(ctx: &Ctx, tree: &Tree, id: &str) -> Result<Waiter> {
    locate_found(ctx, tree, id, find_task(tree, id).map(|(b, _)| b))
}

/// [`locate`] with the TASK already looked for ([`find_task`]'s body, `None`: not in the
/// folders), for a caller that needs the TASK too and should not search the tree twice.
pub fn locate_found(ctx: &Ctx, tree: &Tree, id: &str, task: Option<Value>) -> Result<Waiter> {
    let (reply_agent, created) = match &task {
        Some(t) => {
            let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            (s("reply_to").or_else(|| s("from")).unwrap_or_default(), s("created_at"))
        }
        None => match ctx.connect().ok().and_then(|l| l.task(id).ok().flatten()) {
            Some(row) => (row.reply_to, None),
            None => bail!(
                "no TASK with id {id:?} in {} (nor in the ledger); the id is what `baton send` printed, the `id` field of the TASK",
                tree.root.display()
            ),
        },
    };
    let mut waiter = Waiter::for_agent(ctx, tree, id, &reply_agent, created.as_deref());
    waiter.for_plugin = task.as_ref().is_some_and(|t| t.get("plugin").is_some());
    if let Ok(ledger) = ctx.connect() {
        waiter.stale = stale_returns(&ledger, id);
    }
    Ok(waiter)
}

/// The TASK with `id` wherever it is now: by name first (what `send` wrote carries its id),
/// then baton's claims in flight, and only then every handoff read. With its file, unless
/// baton's claim holds it (`None`).
/// The claims are looked at once more last: a file claimed while the folders were read is
/// in neither place the first time.
pub fn find_task(tree: &Tree, id: &str) -> Option<(Value, Option<PathBuf>)> {
    tree.find_named(id, Some("task"), &super::FOLDERS)
        .map(|f| (f.body, Some(f.path)))
        .or_else(|| in_claims(tree, id).map(|b| (b, None)))
        .or_else(|| tree.find(id, Some("task"), &super::FOLDERS).map(|f| (f.body, Some(f.path))))
        .or_else(|| in_claims(tree, id).map(|b| (b, None)))
}

/// The folders a RETURN for an agent can be in: its inbox, and its `02_processed/` if the agent
/// filed the RETURN after reading it.
pub fn dirs_of(inbox: &Path) -> Vec<PathBuf> {
    let processed = inbox.parent().map(|a| a.join("02_processed"));
    std::iter::once(inbox.to_path_buf()).chain(processed).collect()
}

/// The file-name stamp before which no file can answer a TASK created at `created_at`.
pub fn min_stamp(created_at: &str) -> Option<String> {
    baton_handoff::stamp::parse_rfc3339(created_at)
        .map(|t| baton_handoff::stamp::file_stamp(t - time::Duration::seconds(SKEW_SECS)))
}

/// A TASK baton has claimed and is running (`<baton>/.claims/<dir>/<claim>~<name>`): by name
/// first, then every claim read (claims in flight are few, and a file an agent dropped by hand
/// need not carry its id in its name).
fn in_claims(tree: &Tree, id: &str) -> Option<Value> {
    let claims = tree.root.join(&tree.baton).join(".claims");
    let files: Vec<PathBuf> = std::fs::read_dir(claims)
        .ok()?
        .flatten()
        .flat_map(|dir| std::fs::read_dir(dir.path()).into_iter().flatten().flatten().map(|e| e.path()))
        .collect();
    let named = |p: &PathBuf| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(id));
    let (by_name, others): (Vec<&PathBuf>, Vec<&PathBuf>) = files.iter().partition(|p| named(p));
    by_name
        .into_iter()
        .chain(others)
        .find_map(|p| super::read_handoff(p).filter(|body| body.get("id").and_then(Value::as_str) == Some(id)))
}

/// Prints what a wait found and returns the exit status: 0 completed, 1 any other status,
/// 124 timed out. `id_last`: the human form ends with the bare TASK id (`baton send`).
/// `expected`: where the RETURN was looked for ([`Waiter::expected`]), said on a timeout.
pub fn report(
    id: &str,
    found: Option<(PathBuf, Value)>,
    json: bool,
    timeout: Option<Duration>,
    id_last: bool,
    expected: &str,
) -> Result<i32> {
    let Some((file, ret)) = found else {
        eprintln!(
            "baton: no RETURN for TASK {id} within {:.0}s (expected: {expected}); it is still pending: `baton wait {id}` waits again",
            timeout.unwrap_or_default().as_secs_f64()
        );
        if !json && id_last {
            println!("{id}");
        }
        return Ok(124);
    };
    if ret.get("kind").and_then(Value::as_str) == Some("input_request") {
        return report_request(id, &file, &ret, json, id_last);
    }
    let status = ret.get("status").and_then(Value::as_str).unwrap_or("?");
    if json {
        println!("{}", serde_json::to_string_pretty(&ret)?);
    } else {
        if file.as_os_str().is_empty() {
            // Answered from the ledger's row: no RETURN reached the reply agent.
            println!("no RETURN: the ledger's record of TASK {id}");
        } else {
            println!("RETURN {}", file.display());
        }
        let summary = ret.get("summary").and_then(Value::as_str).unwrap_or("");
        println!("{status}: {summary}");
        // A failed run's result holds only its attempts' errors: said once, by `show`.
        let history_only =
            ret.get("result").and_then(Value::as_object).is_some_and(|o| o.keys().all(|k| k == "history"));
        if let Some(r) = ret.get("result").filter(|r| r.as_object().is_some_and(|o| !o.is_empty())) {
            if history_only && status != "completed" {
                let n = r["history"].as_array().map_or(0, Vec::len);
                println!("earlier attempts: {n} (`baton show {id}` lists them)");
            } else {
                println!("result: {r}");
            }
        }
        // The error's words are the summary's already (a guest's traceback with them): its
        // code only, not the same lines twice.
        if let Some(e) = ret.get("error").filter(|e| !e.is_null()) {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            if !message.is_empty() && summary.contains(message) {
                println!("error code: {}", e.get("code").and_then(Value::as_str).unwrap_or("?"));
            } else {
                println!("error: {e}");
            }
        }
        if status != "completed" && !id_last {
            println!("task {id}: `baton show {id}` has its history and plugin log");
        }
        if id_last {
            println!("{id}");
        }
    }
    Ok(if status == "completed" { 0 } else { 1 })
}

/// Prints an open input request a wait ended at (with `json`, the request object) and returns
/// [`ASKED`]: the TASK waits for `baton answer`, then goes on to its RETURN.
fn report_request(id: &str, file: &Path, req: &Value, json: bool, id_last: bool) -> Result<i32> {
    if json {
        println!("{}", serde_json::to_string_pretty(req)?);
        return Ok(ASKED);
    }
    let s = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("");
    println!("INPUT REQUEST {}", file.display());
    println!("input required: `{}`: {}", s("request_id"), s("message"));
    println!("schema: {}", req.get("input_schema").cloned().unwrap_or_default());
    println!("answer with `baton answer {id} --input JSON`; then `baton wait {id}` (expires {})", s("expires_at"));
    if id_last {
        println!("{id}");
    }
    Ok(ASKED)
}

/// The answer to an id that named a file baton refused before it was a TASK (not a valid
/// handoff, yet its `id` readable): the RETURN it wrote, else what the ledger kept of the
/// refusal. `None` for every other id.
pub fn rejected_unparsed(ctx: &Ctx, tree: &Tree, id: &str) -> Option<(PathBuf, Value)> {
    let ledger = ctx.connect().ok()?;
    if ledger.task(id).ok().flatten().is_some() {
        return None;
    }
    let events = ledger.events(id).ok()?;
    let detail = events.iter().rev().find(|e| e.event == "rejected_unparsed")?.detail.clone();
    if let (Some(name), Some(agent)) = (detail["return"].as_str(), detail["reply_to"].as_str()) {
        let agent = tree.existing_agent(agent).unwrap_or_else(|| agent.to_string());
        for dir in dirs_of(&tree.root.join(&agent).join(baton_home::config::INBOX)) {
            let path = dir.join(name);
            if let Some(body) = super::read_handoff(&path) {
                return Some((path, body));
            }
        }
    }
    let file = detail["file"].as_str().map(PathBuf::from).unwrap_or_default();
    Some((file, serde_json::json!({"status": "rejected", "summary": detail["summary"], "error": detail["error"]})))
}

pub fn run(ctx: &Ctx, a: WaitArgs) -> Result<i32> {
    let tree = Tree::open(ctx)?;
    let timeout = super::timeout_arg(a.timeout)?;
    // A message delivered into a mailbox has a receipt, not a RETURN.
    let until_final = a.until.as_deref() == Some("final");
    let delivered = a.id.starts_with("cm-") || (a.until.is_some() && !until_final);
    if delivered {
        if a.until.as_deref() == Some("read") {
            eprintln!(
                "baton: --until read is now --until noticed (Claude Code's read flag means it queued the message, not that the model saw it; --until seen waits for that)"
            );
        }
        return delivery(ctx, &a.id, a.until.as_deref().unwrap_or("noticed"), timeout, a.json);
    }
    if let Some(found) = rejected_unparsed(ctx, &tree, &a.id) {
        return report(&a.id, Some(found), a.json, timeout, false, "");
    }
    let mut waiter = locate(ctx, &tree, &a.id)?;
    waiter.asking = !until_final;
    super::waiting::interrupt_says(&a.id, &format!("baton wait {}", a.id));
    // A TASK to a plugin waits for `serve`: said within a second or two when none runs.
    let found = if waiter.for_plugin {
        let mut notice = super::waiting::NoServeNotice::default();
        block_sliced(&mut waiter, timeout, || {
            notice.check(ctx, &tree);
            Ok(true)
        })?
    } else {
        block(&mut waiter, timeout)?
    };
    let code = report(&a.id, found.clone(), a.json, timeout, false, &waiter.expected())?;
    if code == ASKED {
        // An input request, not a RETURN: nothing to mark read.
    } else if a.ack && found.is_some() && waiter.is_mailbox() {
        eprintln!("baton: --ack: this RETURN is a message in a Claude Code inbox, not a file: nothing to file");
    } else if a.ack
        && let Some((_, ret)) = &found
        && let Some(rid) = ret.get("id").and_then(Value::as_str)
    {
        super::ack::ack(ctx, &tree, &[rid.to_string()], super::ack::Who::default())?;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two tests share the process's watch count: one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn write_return(dir: &Path, stamp: &str, in_reply_to: &str) -> PathBuf {
        let body = serde_json::json!({"schema": "baton.handoff/v1", "id": format!("R-{in_reply_to}"), "kind": "return",
            "created_at": "2026-01-18T07:09:51Z", "from": "baton", "title": "Re", "in_reply_to": in_reply_to,
            "status": "completed", "summary": "done", "result": {}});
        let path = dir.join(format!("{stamp}__RETURN__echo-{in_reply_to}__baton.json"));
        std::fs::write(&path, body.to_string()).unwrap();
        path
    }

    /// A2A's looks come without `block`: a waiter whose watch was set before its TASK reads what
    /// the events named at each look, lists nothing before a POLL has passed, and after it
    /// lists, which finds a RETURN no event named (a folder whose events never come).
    #[test]
    fn a_request_seen_before_the_ledger_says_so_is_asked_about_again_within_milliseconds() {
        let ms: Vec<u64> = (0..8).map(|n| request_backoff(n).as_millis() as u64).collect();
        assert_eq!(ms, [2, 4, 8, 16, 32, 50, 50, 50]);
    }

    #[test]
    fn a_watched_waiter_reads_what_events_name_and_lists_once_a_poll_passed() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let inbox = tmp.path().join("01_inbox");
        std::fs::create_dir(&inbox).unwrap();
        // Present before the watch, so no event will name it.
        let unseen = write_return(&inbox, "20260118T070951Z", "T-OLD");
        let watch = Watch::new(std::slice::from_ref(&inbox)).expect("a watch on a local folder");
        let mut w = Waiter::new("T-OLD", vec![inbox.clone()], None, HashSet::new()).with_watch(Some(watch));
        assert!(w.look().is_none(), "no event named it and no POLL has passed: not listed yet");
        std::thread::sleep(POLL + Duration::from_millis(50));
        assert_eq!(w.look().map(|(p, _)| p), Some(unseen), "listed once a POLL passed");

        let watch = Watch::new(std::slice::from_ref(&inbox)).unwrap();
        let mut w = Waiter::new("T-NEW", vec![inbox.clone()], None, HashSet::new()).with_watch(Some(watch));
        let made = w.listed;
        assert!(w.look().is_none());
        let answer = write_return(&inbox, "20260118T070952Z", "T-NEW");
        let deadline = Instant::now() + Duration::from_secs(10);
        let found = loop {
            if let Some((p, _)) = w.look() {
                break p;
            }
            assert!(Instant::now() < deadline, "the event never named the new RETURN");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(found, answer);
        assert_eq!(w.listed, made, "found by its event, the folder never listed");
    }

    /// A2A's waiters read the server's one watch: what landed after their mark, by name; a
    /// missed event, or a waiter further behind than the log keeps, lists the folders.
    #[test]
    fn landings_give_each_waiter_what_landed_after_its_mark() {
        let tmp = tempfile::tempdir().unwrap();
        let inbox = tmp.path().join("01_inbox");
        std::fs::create_dir(&inbox).unwrap();
        let landings = std::sync::Arc::new(Landings::default());
        // Here before the mark, and recorded: never read by this waiter (not even listed).
        let earlier = write_return(&inbox, "20260118T070951Z", "T1");
        landings.record(Wake::Paths(vec![earlier.clone()]));
        let mut w = Waiter::new("T1", vec![inbox.clone()], None, HashSet::new())
            .with_landings(landings.clone(), landings.mark());
        assert!(w.look().is_none(), "what landed before the mark is not this waiter's to read");
        let answer = write_return(&inbox, "20260118T070952Z", "T1b");
        landings.record(Wake::Paths(vec![answer.clone()]));
        let mut w2 = Waiter::new("T1b", vec![inbox.clone()], None, HashSet::new())
            .with_landings(landings.clone(), landings.mark() - 1);
        let made = w2.listed;
        assert_eq!(w2.look().map(|(p, _)| p), Some(answer), "read by the name that landed");
        assert_eq!(w2.listed, made, "no listing");

        // A missed event: the next look lists.
        let mut w3 = Waiter::new("T1", vec![inbox.clone()], None, HashSet::new())
            .with_landings(landings.clone(), landings.mark());
        landings.record(Wake::All);
        assert_eq!(w3.look().map(|(p, _)| p), Some(earlier.clone()), "listed after a missed event");
        // Further behind than the log keeps: lists too.
        let mut w4 = Waiter::new("T1", vec![inbox.clone()], None, HashSet::new())
            .with_landings(landings.clone(), landings.mark());
        for _ in 0..=LANDINGS_KEPT {
            landings.record(Wake::Paths(vec![inbox.join("elsewhere.json")]));
        }
        assert_eq!(w4.look().map(|(p, _)| p), Some(earlier), "listed when the log no longer reaches its mark");
    }

    /// At most MAX_WATCHES live at once in a process; a dropped one gives its place back.
    #[test]
    fn watches_are_capped_and_a_dropped_one_frees_its_place() {
        let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut slots = Vec::new();
        while let Some(s) = Slot::take() {
            slots.push(s);
            assert!(slots.len() <= MAX_WATCHES, "more slots than the cap");
        }
        assert!(Slot::take().is_none(), "none past the cap");
        let tmp = tempfile::tempdir().unwrap();
        assert!(Watch::new(&[tmp.path().to_path_buf()]).is_none(), "no watch past the cap: the waiter lists instead");
        slots.pop();
        assert!(Slot::take().is_some(), "a dropped slot is free again");
    }
}
