//! Properties of the ledger, the claims and the outbox together (issue 55): random
//! interleavings of two `baton serve` processes on one home (TASKs arriving, passes that claim
//! and answer them, crashes at the pipeline's failpoints, processes dying between passes,
//! `baton retry`, the sender reading its RETURNs) keep what docs/concepts.md ("What baton
//! promises") says: every TASK gets exactly one RETURN, and its original ends in exactly one of
//! `02_processed/` or `03_failed/`.
//!
//! The layer: real [`Pipeline`]s (two SQLite [`Ledger`] handles on one state file, two
//! [`Claims`] each holding its own `.claims/<instance>.lock`, two outboxes on one folder), each
//! on a thread of its own and driven pass by pass from the test, with a runtime that has no
//! plugin, so no wasm ever runs. A TASK for a plugin is then answered `unknown_plugin`
//! (rejected, filed in `03_failed/`, retryable); a TASK with a `to` is routed to that agent
//! (completed, filed in `02_processed/`). Both go the whole way: claim, intake in the ledger,
//! the execute stage, the outbox's stage, link and mark, the group commit, filing.
//!
//! Two processes in one: an `flock` belongs to the open file description, so a second `open`
//! of a lock file in this same process is refused the lock just as another process would be
//! (flock(2)); [`a_live_handles_lock_keeps_its_claims_from_the_other`] checks that premise. A
//! pass can stop at one of the pipeline's failpoints ([`failpoint::arm`]) in two ways. It can
//! crash there: it unwinds with nothing after the point done, and its pipeline is dropped,
//! which closes its lock file as a killed process's exit would (a drop runs destructors a
//! SIGKILL does not; the only one that touches files, `Claims`', removes its folder and lock
//! when the folder is empty, which is what the takeover of a dead, empty folder does next
//! anyway). Or it can be held there, alive, while the other process, `baton retry` and the
//! sender go on, until a later step lets it finish its pass or kills it there: that is how two
//! processes' passes interleave.
//!
//! The property, precisely. A *run* of a TASK is its arrival, or a `baton retry` that moved it
//! back into the inbox (the design's "one RETURN per TASK" holds per run: a retry files the
//! earlier RETURN in the sender's `02_processed/`, and the new run answers once more).
//! After every step:
//! - a TASK's RETURNs (in the sender's inbox and `02_processed/`) are at most its runs, each
//!   from a different run (distinct RETURN ids), and at most one of them is in the inbox;
//! - its original is in exactly one place: baton's inbox, a claim, `02_processed/` or
//!   `03_failed/`;
//! - a routed TASK has reached the other agent at most once per run.
//!
//! Once both processes have finished what is left (the drain):
//! - a TASK's RETURNs are exactly its runs; the one in the sender's inbox, if it left one there,
//!   is the latest run's, and the ledger names that one;
//! - the original is in `02_processed/` when that RETURN says `completed` (and the ledger
//!   too), else in `03_failed/`; nothing is left in baton's inbox or in a claim.
//!
//! `PROPTEST_CASES` sets the number of cases (128 by default, 64 without a tmpfs; each is a
//! few passes on a fresh home), `PROPTEST_RNG_SEED` fixes the seed. No failure file is written: a failure prints its
//! smallest sequence, to be kept as a named test beside this one.
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestCaseError, TestCaseResult, TestRunner};
use serde_json::{Value, json};

use baton_ledger::{Ledger, TaskState};

use crate::claims::Claims;
use crate::{Pipeline, PipelineError};
use baton_home::config::{Config, Paths};
use baton_home::failpoint;

const ME: &str = "baton";
const SENDER: &str = "Claude-Code-Agent";
const PEER: &str = "Cursor-Agent";

/// The failpoints a pass can stop at, in the order a pass reaches them: claimed; answered,
/// nothing written; a RETURN staged in the outbox; the group synced; a RETURN linked into the
/// sender's inbox, not yet marked sent; every output delivered, not yet recorded; recorded in
/// the ledger, the original not yet filed.
const POINTS: [&str; 7] =
    ["after_claim", "after_run", "after_stage", "after_group_sync", "after_link", "after_return", "before_file"];

/// What a TASK is for, and so how it is answered without any plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// For a plugin that is not installed: rejected `unknown_plugin`, filed in `03_failed/`.
    Plugin,
    /// For another agent: routed to it, answered `completed`, filed in `02_processed/`.
    Route,
}

/// Where a pass stops: at the `nth` pass through `point`, if the pass gets that far.
#[derive(Debug, Clone, Copy)]
struct Stop {
    point: &'static str,
    nth: u32,
    how: How,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum How {
    /// The process dies there (SIGKILL).
    Crash,
    /// The process stays there, alive, until a later step lets it go on or kills it.
    Hold,
}

/// One step of a sequence. TASK numbers are taken modulo the number of TASKs.
#[derive(Debug, Clone)]
enum Op {
    /// The sender drops TASK n into baton's inbox (the first time; later, nothing).
    Arrive(usize),
    /// Process p makes a pass (started first when it is not running), or goes on with the pass
    /// it is held in; `stop` stops it again.
    Pass { p: usize, stop: Option<Stop> },
    /// Process p dies: between passes, or where it is held.
    Kill(usize),
    /// `baton retry` of TASK n: a third process, with a ledger handle of its own.
    Retry(usize),
    /// The sender reads its RETURNs: moves every file of its inbox into its `02_processed/`.
    Consume,
}

fn op() -> impl Strategy<Value = Op> {
    let how = prop_oneof![Just(How::Crash), Just(How::Hold)];
    let stop =
        (prop::sample::select(POINTS.to_vec()), 1..=2u32, how).prop_map(|(point, nth, how)| Stop { point, nth, how });
    prop_oneof![
        4 => (0..6usize).prop_map(Op::Arrive),
        6 => (0..2usize, prop::option::weighted(0.9, stop)).prop_map(|(p, stop)| Op::Pass { p, stop }),
        1 => (0..2usize).prop_map(Op::Kill),
        3 => (0..6usize).prop_map(Op::Retry),
        1 => Just(Op::Consume),
    ]
}

/// Up to 6 TASKs and 30 steps: enough for two processes to cross, small enough for 128 cases in
/// seconds.
fn scenario() -> impl Strategy<Value = (Vec<Kind>, Vec<Op>)> {
    let kinds = prop::collection::vec(prop_oneof![Just(Kind::Plugin), Just(Kind::Route)], 1..=6);
    (kinds, prop::collection::vec(op(), 1..=30))
}

fn cases() -> Cases {
    let mut cases = Cases { failure_persistence: None, ..Cases::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        // Half as many where the homes are on a disk (see `scratch`), to stay within seconds.
        cases.cases = if Path::new(SHM).is_dir() { 128 } else { 64 };
    }
    cases
}

/// What every case shares: the plugin runtime (none loaded: no task ever reaches wasm), and
/// what the cases did, to tell sequences that crashed, held and retried from idle ones.
struct Shared {
    _dir: tempfile::TempDir,
    runtime: Arc<baton_runtime::Runtime>,
    tally: std::cell::RefCell<Tally>,
}

/// Deaths by failpoint, passes held, and retries that moved a TASK back, over all cases.
#[derive(Debug, Default)]
struct Tally {
    crashes: std::collections::BTreeMap<String, usize>,
    holds: usize,
    retries: usize,
}

impl Shared {
    fn new() -> Shared {
        let dir = tempfile::tempdir().unwrap();
        let config = baton_runtime::RuntimeConfig { cache_dir: None, lock_dir: dir.path().join("locks") };
        let runtime = Arc::new(baton_runtime::Runtime::new(config, Arc::new(baton_runtime::NoKv)).unwrap());
        Shared { _dir: dir, runtime, tally: Default::default() }
    }
}

/// Where Linux keeps a tmpfs.
const SHM: &str = "/dev/shm";

/// A home for one case: in memory where there is a tmpfs ([`SHM`]), since the property is
/// about crashes of the process, not of the machine, and a disk's fsyncs made the run 8 times
/// slower; on the disk elsewhere.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("baton-props").tempdir_in(SHM).unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

fn task_id(n: usize) -> String {
    format!("T{n}")
}

fn task_file(n: usize) -> String {
    format!("20260118T0709{n:02}Z__TASK__Task-{n}__{SENDER}.json")
}

fn task_body(n: usize, kind: Kind) -> Value {
    let mut t = json!({"schema": "baton.handoff/v1", "id": task_id(n), "kind": "task",
                       "created_at": "2026-01-18T07:09:51Z", "from": SENDER, "title": format!("Task {n}")});
    match kind {
        Kind::Plugin => {
            t["plugin"] = json!("absent");
            t["action"] = json!("go");
            t["params"] = json!({});
        }
        Kind::Route => t["to"] = json!(PEER),
    }
    t
}

/// Where a TASK's original is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Inbox,
    Claimed,
    Processed,
    Failed,
}

/// A RETURN found in the sender's folders.
#[derive(Debug)]
struct Found {
    name: String,
    /// Its `id`: derived from the claim, so one per run, and later runs' sort later.
    id: String,
    status: String,
    in_inbox: bool,
}

/// The JSON handoffs directly in `dir`, with their names (dotfiles and `.error.json` records
/// left out).
fn handoffs(dir: &Path) -> Vec<(String, Value)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".error.json"))
        .filter_map(|n| Some((n.clone(), serde_json::from_slice(&std::fs::read(dir.join(&n)).ok()?).ok()?)))
        .collect()
}

/// What the test asks of a process.
enum Cmd {
    /// Make a pass (or go on with the one held), stopping where it says.
    Pass(Option<Stop>),
    /// Die: between passes, or where the pass is held.
    Kill,
}

/// What a process answers.
enum Reply {
    /// The pass finished.
    Done,
    /// The pass is held at this failpoint.
    Held(&'static str),
    /// It died (at a crash point, or killed).
    Died,
    /// A start or a pass failed, or it panicked: never expected here.
    Failed(String),
}

/// How a pass unwinds at a crash: a panic payload no code but the process loop catches.
struct Crashed;

/// One `baton serve`: a thread of its own that owns its pipeline (started at its first pass,
/// dropped when it dies) and runs its passes on its own executor, so that a failpoint armed
/// for it is reached by its passes alone.
struct Process {
    cmds: Option<Sender<Cmd>>,
    replies: Receiver<Reply>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Where its pass is held, if it is.
    held: Option<&'static str>,
}

/// Longer than any pass takes; a process that does not answer in it is stuck.
const PATIENCE: Duration = Duration::from_secs(60);

impl Process {
    fn spawn(start: impl Fn() -> Result<Pipeline, String> + Send + 'static) -> Process {
        let (cmds, commands) = std::sync::mpsc::channel();
        let (answers, replies) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || serve(start, commands, answers));
        Process { cmds: Some(cmds), replies, thread: Some(thread), held: None }
    }

    fn ask(&mut self, cmd: Cmd) -> Result<Reply, String> {
        let sent = self.cmds.as_ref().is_some_and(|c| c.send(cmd).is_ok());
        let reply = if sent { self.replies.recv_timeout(PATIENCE).ok() } else { None };
        let reply = reply.ok_or("the process is stuck or gone")?;
        self.held = match reply {
            Reply::Held(point) => Some(point),
            _ => None,
        };
        Ok(reply)
    }
}

impl Drop for Process {
    /// Ends the thread: without commands, a held pass dies where it is and the loop returns.
    fn drop(&mut self) {
        self.cmds = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A process's loop: one command at a time, until the test drops its end.
fn serve(start: impl Fn() -> Result<Pipeline, String>, commands: Receiver<Cmd>, answers: Sender<Reply>) {
    let commands = Rc::new(commands);
    let executor = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(e) => e,
        Err(e) => return drop(answers.send(Reply::Failed(e.to_string()))),
    };
    let mut pipeline: Option<Pipeline> = None;
    while let Ok(cmd) = commands.recv() {
        let stop = match cmd {
            Cmd::Kill => {
                pipeline = None;
                let _ = answers.send(Reply::Died);
                continue;
            }
            Cmd::Pass(stop) => stop,
        };
        let started = match pipeline.take() {
            Some(p) => Ok(p),
            None => start(),
        };
        let mut running = match started {
            Ok(p) => p,
            Err(e) => {
                let _ = answers.send(Reply::Failed(e));
                continue;
            }
        };
        arm(stop, &commands, &answers);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| executor.block_on(running.tick())));
        failpoint::disarm();
        let (reply, lives) = match outcome {
            Ok(Ok(_)) => (Reply::Done, true),
            Ok(Err(e)) => (Reply::Failed(format!("the pass failed: {e}")), true),
            // Died at the failpoint: gone, with its lock; its claims wait for a takeover.
            Err(payload) if payload.is::<Crashed>() => (Reply::Died, false),
            Err(payload) => {
                let what = payload.downcast_ref::<String>().cloned();
                let what = what.or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
                (Reply::Failed(format!("the pass panicked: {}", what.unwrap_or_default())), false)
            }
        };
        if lives {
            pipeline = Some(running);
        }
        let _ = answers.send(reply);
    }
}

/// Arms `stop` for this thread's next pass: a crash unwinds there; a hold answers `Held` and
/// waits there for the next command, which lets the pass go on (arming its own stop) or kills
/// it there.
fn arm(stop: Option<Stop>, commands: &Rc<Receiver<Cmd>>, answers: &Sender<Reply>) {
    let Some(stop) = stop else { return };
    let (commands, answers) = (commands.clone(), answers.clone());
    failpoint::arm(stop.point, stop.nth, move |_| {
        if stop.how == How::Hold {
            let _ = answers.send(Reply::Held(stop.point));
            if let Ok(Cmd::Pass(next)) = commands.recv() {
                return arm(next, &commands, &answers);
            }
        }
        std::panic::resume_unwind(Box::new(Crashed));
    });
}

/// One home, two processes on it, and what the sequence did so far.
struct World<'s> {
    shared: &'s Shared,
    /// The two `baton serve` processes (dropped before the home is).
    procs: [Process; 2],
    paths: Paths,
    kinds: Vec<Kind>,
    /// Each TASK's runs so far: 0 before it arrives, then one more for each retry that moved it.
    runs: Vec<usize>,
    _home: tempfile::TempDir,
}

impl<'s> World<'s> {
    fn new(shared: &'s Shared, kinds: Vec<Kind>) -> World<'s> {
        let home = scratch();
        let cfg = Config { agent: ME.into(), ..Config::default() };
        let paths = Paths::new(home.path(), &home.path().join("state.sqlite"), &cfg);
        // What `baton init` leaves: baton's inbox, where TASKs arrive before any serve runs.
        std::fs::create_dir_all(paths.inbox(ME)).unwrap();
        let process = || {
            let (cfg, paths, runtime) = (cfg.clone(), paths.clone(), shared.runtime.clone());
            // A `baton serve` starting: its own ledger handle, claims folder and lock, outbox.
            Process::spawn(move || {
                let ledger = Ledger::open(&paths.state).map_err(|e| e.to_string())?;
                Pipeline::new(cfg.clone(), paths.clone(), Arc::new(Mutex::new(ledger)), runtime.clone())
                    .map_err(|e| format!("start: {e}"))
            })
        };
        let runs = vec![0; kinds.len()];
        World { shared, procs: [process(), process()], paths, kinds, runs, _home: home }
    }

    fn play(mut self, ops: &[Op]) -> TestCaseResult {
        for (i, op) in ops.iter().enumerate() {
            let step = |e: String| TestCaseError::fail(format!("step {i} ({op:?}): {e}"));
            self.apply(op).map_err(step)?;
            self.check(false).map_err(step)?;
        }
        self.drain().map_err(|e| TestCaseError::fail(format!("drain: {e}")))?;
        self.check(true).map_err(|e| TestCaseError::fail(format!("after the drain: {e}")))
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        let n = |n: &usize| n % self.kinds.len();
        match op {
            Op::Arrive(t) => self.arrive(n(t)),
            Op::Pass { p, stop } => self.pass(*p, *stop),
            Op::Kill(p) => {
                let held = self.procs[*p].held;
                match self.procs[*p].ask(Cmd::Kill)? {
                    Reply::Died => {
                        if let Some(point) = held {
                            *self.shared.tally.borrow_mut().crashes.entry(point.into()).or_default() += 1;
                        }
                        Ok(())
                    }
                    _ => Err(format!("process {p} did not die")),
                }
            }
            Op::Retry(t) => self.retry(n(t)),
            Op::Consume => self.consume(),
        }
    }

    fn arrive(&mut self, n: usize) -> Result<(), String> {
        if self.runs[n] > 0 {
            return Ok(());
        }
        let bytes = task_body(n, self.kinds[n]).to_string();
        std::fs::write(self.paths.inbox(ME).join(task_file(n)), bytes).map_err(|e| e.to_string())?;
        self.runs[n] = 1;
        Ok(())
    }

    fn pass(&mut self, p: usize, stop: Option<Stop>) -> Result<(), String> {
        let mut tally = self.shared.tally.borrow_mut();
        match self.procs[p].ask(Cmd::Pass(stop))? {
            Reply::Done => Ok(()),
            Reply::Held(_) => {
                tally.holds += 1;
                Ok(())
            }
            Reply::Died => {
                let point = stop.map_or("", |s| s.point);
                *tally.crashes.entry(point.into()).or_default() += 1;
                Ok(())
            }
            Reply::Failed(e) => Err(format!("process {p}: {e}")),
        }
    }

    fn retry(&mut self, n: usize) -> Result<(), String> {
        let mut ledger = Ledger::open(&self.paths.state).map_err(|e| e.to_string())?;
        match crate::retry_failed(&self.paths, ME, &mut ledger, &task_id(n)) {
            Ok(Some(_)) => {
                self.shared.tally.borrow_mut().retries += 1;
                self.runs[n] += 1;
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(PipelineError::RetryRefused(why)) => Err(format!("retry refused: {why}")),
            Err(e) => Err(format!("retry failed: {e}")),
        }
    }

    fn consume(&self) -> Result<(), String> {
        let (inbox, read) = (self.paths.inbox(SENDER), self.paths.processed(SENDER));
        baton_fs::ensure_dir(&read).map_err(|e| e.to_string())?;
        for (name, _) in handoffs(&inbox) {
            // Never over a file of the same name: a RETURN delivered twice must stay countable.
            baton_fs::move_into(&inbox.join(&name), &read, name.as_ref()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Every TASK arrives, the held passes go on to their end, then both processes pass until
    /// nothing is left (each pass takes over what a dead process held first).
    fn drain(&mut self) -> Result<(), String> {
        for n in 0..self.kinds.len() {
            self.arrive(n)?;
        }
        for p in 0..2 {
            if self.procs[p].held.is_some() {
                self.pass(p, None)?;
            }
        }
        for _ in 0..2 {
            for p in 0..2 {
                self.pass(p, None)?;
            }
        }
        Ok(())
    }

    /// The RETURNs in the sender's inbox and `02_processed/`, by the TASK they answer.
    fn returns(&self) -> HashMap<String, Vec<Found>> {
        let mut out: HashMap<String, Vec<Found>> = HashMap::new();
        for (dir, in_inbox) in [(self.paths.inbox(SENDER), true), (self.paths.processed(SENDER), false)] {
            for (name, v) in handoffs(&dir).into_iter().filter(|(_, v)| v["kind"] == "return") {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                let found = Found { name, id: s("id"), status: s("status"), in_inbox };
                out.entry(s("in_reply_to")).or_default().push(found);
            }
        }
        out
    }

    /// Where each TASK's original is, in baton's folders (claims are in the processes'
    /// folders under `.claims/`, dead or alive).
    fn originals(&self) -> HashMap<String, Vec<Place>> {
        let mut dirs = vec![
            (self.paths.inbox(ME), Place::Inbox),
            (self.paths.processed(ME), Place::Processed),
            (self.paths.failed(ME), Place::Failed),
        ];
        let claims = self.paths.agent(ME).join(".claims");
        for e in std::fs::read_dir(claims).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push((e.path(), Place::Claimed));
            }
        }
        let mut out: HashMap<String, Vec<Place>> = HashMap::new();
        for (dir, place) in dirs {
            for (_, v) in handoffs(&dir).into_iter().filter(|(_, v)| v["kind"] == "task") {
                out.entry(v["id"].as_str().unwrap_or_default().to_string()).or_default().push(place);
            }
        }
        out
    }

    fn check(&self, drained: bool) -> Result<(), String> {
        let returns = self.returns();
        let originals = self.originals();
        let mut routed: HashMap<String, usize> = HashMap::new();
        for (_, v) in handoffs(&self.paths.inbox(PEER)) {
            *routed.entry(v["id"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
        let ids: Vec<String> = (0..self.kinds.len()).map(task_id).collect();
        if let Some(stray) = returns.keys().chain(originals.keys()).find(|id| !ids.contains(id)) {
            return Err(format!("a RETURN or a TASK {stray:?} that no sender wrote"));
        }
        let (no_returns, nowhere) = (Vec::new(), Vec::new());
        for (n, id) in ids.iter().enumerate() {
            let runs = self.runs[n];
            let found = returns.get(id).unwrap_or(&no_returns);
            let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
            if found.len() > runs {
                return Err(format!("{id}: {} RETURNs for {runs} run(s): {names:?}", found.len()));
            }
            let mut answer_ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
            answer_ids.sort_unstable();
            answer_ids.dedup();
            if answer_ids.len() != found.len() {
                return Err(format!("{id}: one run answered twice: {names:?}"));
            }
            if found.iter().filter(|f| f.in_inbox).count() > 1 {
                return Err(format!("{id}: more than one RETURN in the sender's inbox: {names:?}"));
            }
            let places = originals.get(id).unwrap_or(&nowhere);
            if places.len() != usize::from(runs > 0) {
                return Err(format!("{id} (arrived: {}): its original is in {places:?}", runs > 0));
            }
            let copies = routed.get(id).copied().unwrap_or(0);
            if copies > runs || (copies > 0 && self.kinds[n] != Kind::Route) {
                return Err(format!("{id}: routed to {PEER} {copies} times in {runs} run(s)"));
            }
            if drained {
                self.settled(id, runs, found, places[0])?;
            }
        }
        Ok(())
    }

    /// After the drain: each run answered once, the latest answer is the one that counts, and
    /// the original is filed where that answer says.
    fn settled(&self, id: &str, runs: usize, found: &[Found], place: Place) -> Result<(), String> {
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        if found.len() != runs {
            return Err(format!("{id}: {} RETURNs for {runs} run(s): {names:?}", found.len()));
        }
        let Some(latest) = found.iter().max_by(|a, b| a.id.cmp(&b.id)) else {
            return Err(format!("{id}: no RETURN"));
        };
        if found.iter().any(|f| f.in_inbox && f.id != latest.id) {
            return Err(format!("{id}: the sender's inbox holds an earlier run's RETURN: {names:?}"));
        }
        let completed = latest.status == "completed";
        let expected = if completed { Place::Processed } else { Place::Failed };
        if place != expected {
            return Err(format!("{id}: filed in {place:?}, its RETURN says {}", latest.status));
        }
        let ledger = Ledger::open(&self.paths.state).map_err(|e| e.to_string())?;
        let Some(row) = ledger.task(id).map_err(|e| e.to_string())? else {
            return Err(format!("{id}: not in the ledger"));
        };
        if row.return_name.as_deref() != Some(latest.name.as_str()) || (row.state == TaskState::Completed) != completed
        {
            return Err(format!(
                "{id}: the ledger says {} with {:?}, the latest RETURN is {} ({})",
                row.state, row.return_name, latest.name, latest.status
            ));
        }
        Ok(())
    }
}

/// The premise of running two "processes" in one: while one handle lives, its lock keeps its
/// claims from the other handle, exactly as another process's would; once it is dropped (its
/// lock file closed, as at a process's death), the other takes them over.
#[test]
fn a_live_handles_lock_keeps_its_claims_from_the_other() {
    let d = tempfile::tempdir().unwrap();
    let inbox = d.path().join(baton_home::config::INBOX);
    std::fs::create_dir(&inbox).unwrap();
    std::fs::write(inbox.join("t.json"), "{}").unwrap();
    let a = Claims::open(d.path()).unwrap();
    let b = Claims::open(d.path()).unwrap();
    let claim = a.claim(&inbox.join("t.json")).unwrap().unwrap();
    assert!(b.take_over_dead().unwrap().is_empty(), "a's flock, taken through another open, holds");
    drop(a);
    assert_eq!(b.take_over_dead().unwrap().len(), 1, "a's lock went with it");
    assert_eq!(b.list().unwrap()[0].key(), claim.key());
}

#[test]
fn two_processes_crashes_and_retries_keep_one_return_per_run() {
    let shared = Shared::new();
    let cases = cases();
    let full = cases.cases >= 64;
    let mut runner = TestRunner::new(cases);
    if let Err(e) = runner.run(&scenario(), |(kinds, ops)| World::new(&shared, kinds).play(&ops)) {
        panic!("{e}");
    }
    // 64 cases kill, hold and retry scores of times at every failpoint: far fewer means the
    // sequences stopped reaching the failpoints, and proved little.
    let tally = shared.tally.borrow();
    let crashes: usize = tally.crashes.values().sum();
    eprintln!("what the cases did: {tally:?}");
    if full {
        let enough = crashes >= 20 && tally.crashes.len() >= 4 && tally.holds >= 10 && tally.retries >= 5;
        assert!(enough, "too little crashed, was held or retried: {tally:?}");
    }
}
