//! Several machines, one handoffs tree, one PostgreSQL ledger: two homes ("hosts"), each with
//! its own copy of the handoffs tree, kept in step by a test sync service that behaves like
//! Dropbox (random delays, conflicted copies, deleted files brought back), and one private
//! PostgreSQL server. Each TASK must get exactly one RETURN, and each original must be filed
//! exactly once, on both trees, after the sync settles; also while one host is `kill -9`ed and
//! while PostgreSQL restarts.
use crate::support;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Home;
use support::pg::Pg;

const SENDER: &str = "Claude-Code-Agent";

fn task(id: &str) -> Value {
    json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
           "from": SENDER, "title": format!("Echo {id}"), "plugin": "echo", "action": "echo", "params": {"n": id}})
}

fn task_name(i: usize) -> String {
    format!("20260118T070951Z__TASK__S{i:05}__{SENDER}.json")
}

/// A home whose ledger is the shared database (`state = …` in its baton.toml).
fn host(url: &str, lease_secs: u64) -> Home {
    let h = Home::init(&[("reconcile_secs", "1")], "");
    let toml = h.root.join("baton.toml");
    let mut s = std::fs::read_to_string(&toml).unwrap();
    s = s.replacen("agent = \"baton\"", &format!("agent = \"baton\"\nstate = \"{url}\""), 1);
    s = s.replacen("lease_secs = 30", &format!("lease_secs = {lease_secs}"), 1);
    std::fs::write(&toml, s).unwrap();
    h
}

/// A private PostgreSQL server with the database `db`, and two homes sharing it as their ledger
/// (`params` appended to its URL) with a lease of `lease_secs`. `None` when the machine has no
/// PostgreSQL (the test then passes over it, as every PostgreSQL test does).
fn two_hosts(db: &str, params: &str, lease_secs: u64) -> Option<(Pg, Home, Home)> {
    let pg = Pg::start()?;
    pg.create_db(db);
    let url = format!("{}{params}", pg.url(db));
    let (a, b) = (host(&url, lease_secs), host(&url, lease_secs));
    Some((pg, a, b))
}

fn serve(h: &Home) -> Child {
    h.cmd(&["serve"]).env("BATON_LOG", "info").stdout(Stdio::null()).stderr(Stdio::from(log_file(h))).spawn().unwrap()
}

fn log_file(h: &Home) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(h.root.join("serve.log")).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---- the test sync service ----

/// One change seen on one side, to be applied on the other.
#[derive(Clone, Debug)]
enum Change {
    Create {
        rel: PathBuf,
        bytes: Vec<u8>,
    },
    Delete {
        rel: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        bytes: Vec<u8>,
    },
    /// Dropbox bringing back a file deleted on this side (applied as a local creation).
    Resurrect {
        rel: PathBuf,
        bytes: Vec<u8>,
    },
}

#[derive(Clone)]
struct Known {
    ino: u64,
    bytes: Vec<u8>,
}

struct Side {
    root: PathBuf,
    known: HashMap<PathBuf, Known>,
}

/// Mirrors file creations, renames and deletions between two handoff trees (non-hidden files in
/// `<agent>/0*_*/`), each change after a random 0–500 ms delay, in order per direction. When a
/// change reaches a side that changed the same file differently, a conflicted copy is made; a
/// small share of deleted or moved inbox files is brought back later, as Dropbox does.
struct Sync {
    stop: Arc<AtomicBool>,
    busy: Arc<AtomicUsize>,
    journal: Arc<Mutex<Journal>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the sync did: counts for the report, and each file name's history, so that a file
/// left behind when a test fails can be explained.
struct Journal {
    start: Instant,
    counts: HashMap<&'static str, usize>,
    history: HashMap<String, Vec<String>>,
}

impl Journal {
    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// `side` (0 or 1) saw or did `what` to `rel`.
    fn note(&mut self, side: usize, rel: &Path, what: impl std::fmt::Display) {
        let name = rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let line = format!("{:8.3}s tree {side}: {what} {}", self.start.elapsed().as_secs_f64(), rel.display());
        self.history.entry(name).or_default().push(line);
    }
}

impl Sync {
    fn start(a: PathBuf, b: PathBuf, resurrect_pct: u32, conflict_pct: u32) -> Sync {
        let stop = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicUsize::new(0));
        let journal =
            Arc::new(Mutex::new(Journal { start: Instant::now(), counts: HashMap::new(), history: HashMap::new() }));
        let (s, bz, st) = (stop.clone(), busy.clone(), journal.clone());
        let thread = std::thread::spawn(move || {
            let mut sides = [Side { root: a, known: HashMap::new() }, Side { root: b, known: HashMap::new() }];
            // Per direction (0 → 1, 1 → 0): changes waiting, with when they apply.
            let mut queues: [VecDeque<(Instant, Change)>; 2] = [VecDeque::new(), VecDeque::new()];
            // Resurrections, per side.
            let mut later: [VecDeque<(Instant, Change)>; 2] = [VecDeque::new(), VecDeque::new()];
            while !s.load(Ordering::SeqCst) {
                for i in 0..2 {
                    for change in scan(&mut sides[i], i, &st) {
                        let last = queues[i].back().map(|(t, _)| *t).unwrap_or_else(Instant::now);
                        let due = (Instant::now() + Duration::from_millis(rand::random_range(0..=500))).max(last);
                        queues[i].push_back((due, change));
                    }
                }
                for i in 0..2 {
                    let other = 1 - i;
                    while queues[i].front().is_some_and(|(t, _)| *t <= Instant::now()) {
                        let (_, change) = queues[i].pop_front().unwrap();
                        let applied = apply(&mut sides[other], other, &change, conflict_pct, &st);
                        if let Some(rel) = applied.filter(|_| rand::random_range(0..100) < resurrect_pct) {
                            later[other]
                                .push_back((Instant::now() + Duration::from_millis(rand::random_range(200..800)), rel));
                        }
                    }
                    while later[i].front().is_some_and(|(t, _)| *t <= Instant::now()) {
                        let (_, change) = later[i].pop_front().unwrap();
                        apply(&mut sides[i], i, &change, 0, &st);
                    }
                }
                bz.store(queues.iter().chain(later.iter()).map(VecDeque::len).sum(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(15));
            }
        });
        Sync { stop, busy, journal, thread: Some(thread) }
    }

    fn pending(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }

    fn stats(&self) -> HashMap<&'static str, usize> {
        self.journal.lock().unwrap().counts.clone()
    }

    /// What the sync saw and did to files named `name`, in order.
    fn history(&self, name: &str) -> Vec<String> {
        self.journal.lock().unwrap().history.get(name).cloned().unwrap_or_default()
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn synced_files(root: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for agent in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for sub in ["01_inbox", "02_processed", "03_failed"] {
            let dir = agent.path().join(sub);
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = e.file_name();
                if name.to_string_lossy().starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let rel = Path::new(&agent.file_name()).join(sub).join(&name);
                out.push((rel, e.path()));
            }
        }
    }
    out
}

/// This side's changes since the last scan (renames matched by inode).
fn scan(side: &mut Side, who: usize, journal: &Mutex<Journal>) -> Vec<Change> {
    use std::os::unix::fs::MetadataExt;
    let mut now: HashMap<PathBuf, u64> = HashMap::new();
    for (rel, path) in synced_files(&side.root) {
        if let Ok(m) = std::fs::symlink_metadata(&path) {
            now.insert(rel, m.ino());
        }
    }
    let gone: Vec<PathBuf> = side.known.keys().filter(|k| !now.contains_key(*k)).cloned().collect();
    let mut new: Vec<PathBuf> = now.keys().filter(|k| !side.known.contains_key(*k)).cloned().collect();
    new.sort();
    let mut changes = Vec::new();
    let mut by_ino: HashMap<u64, PathBuf> =
        gone.iter().filter_map(|g| side.known.get(g).map(|k| (k.ino, g.clone()))).collect();
    for rel in new {
        let Ok(bytes) = std::fs::read(side.root.join(&rel)) else { continue };
        let ino = now[&rel];
        if let Some(from) = by_ino.remove(&ino) {
            side.known.remove(&from);
            changes.push(Change::Rename { from, to: rel.clone(), bytes: bytes.clone() });
        } else {
            changes.push(Change::Create { rel: rel.clone(), bytes: bytes.clone() });
        }
        side.known.insert(rel, Known { ino, bytes });
    }
    for (_, from) in by_ino {
        side.known.remove(&from);
        changes.push(Change::Delete { rel: from });
    }
    let mut j = journal.lock().unwrap();
    for c in &changes {
        match c {
            Change::Create { rel, .. } => j.note(who, rel, "saw created"),
            Change::Delete { rel } => j.note(who, rel, "saw deleted"),
            Change::Rename { from, to, .. } => {
                j.note(who, from, format_args!("saw renamed to {}:", to.display()));
                if to.file_name() != from.file_name() {
                    j.note(who, to, format_args!("saw renamed from {}:", from.display()));
                }
            }
            Change::Resurrect { .. } => {}
        }
    }
    changes
}

/// Writes `rel` unless a file is there already (then `false`: nothing written or recorded).
fn write_file(side: &mut Side, rel: &Path, bytes: &[u8], record: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    let path = side.root.join(rel);
    let _ = std::fs::create_dir_all(path.parent().unwrap());
    let tmp = path.with_file_name(format!(".sync-tmp-{}", rand::random::<u64>()));
    std::fs::write(&tmp, bytes).unwrap();
    let linked = std::fs::hard_link(&tmp, &path).is_ok();
    if linked && record {
        let ino = std::fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
        side.known.insert(rel.to_path_buf(), Known { ino, bytes: bytes.to_vec() });
    }
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// Applies a change on `side` (tree `who`); returns a resurrection to schedule when an inbox
/// file left.
fn apply(side: &mut Side, who: usize, change: &Change, conflict_pct: u32, journal: &Mutex<Journal>) -> Option<Change> {
    use std::os::unix::fs::MetadataExt;
    let in_inbox = |rel: &Path| rel.components().nth(1).is_some_and(|c| c.as_os_str() == "01_inbox");
    let note = |rel: &Path, what: &str| journal.lock().unwrap().note(who, rel, what);
    match change {
        Change::Create { rel, bytes } => {
            match side.known.get(rel) {
                Some(k) if &k.bytes == bytes => note(rel, "create: the same file is here"),
                Some(_) => {
                    // Changed differently on both sides: the incoming version becomes a copy.
                    let copy = conflicted(rel);
                    write_file(side, &copy, bytes, true);
                    note(rel, &format!("create: different here, conflicted copy {}", copy.display()));
                    journal.lock().unwrap().count("conflicted copies");
                }
                None => {
                    let placed = place(side, rel, bytes);
                    note(rel, &format!("create: {placed}"));
                    // Only for handoffs to baton: a conflicted copy of a RETURN in the sender's
                    // inbox would be the sync's second RETURN, not baton's.
                    if in_inbox(rel) && rel.starts_with("baton") && rand::random_range(0..100) < conflict_pct {
                        // Dropbox sometimes keeps both versions of one upload.
                        write_file(side, &conflicted(rel), bytes, false);
                        note(rel, "create: and a conflicted copy");
                        journal.lock().unwrap().count("conflicted copies");
                    }
                }
            }
            None
        }
        Change::Delete { rel } => {
            if side.known.remove(rel).is_some() {
                let _ = std::fs::remove_file(side.root.join(rel));
                note(rel, "delete: removed");
            } else {
                note(rel, "delete: not known here, left");
            }
            None
        }
        Change::Rename { from, to, bytes } => {
            let had = side.known.remove(from);
            let moved = had.is_some()
                && !side.root.join(to).exists()
                && std::fs::rename(side.root.join(from), side.root.join(to)).is_ok();
            if moved {
                let ino = std::fs::metadata(side.root.join(to)).map(|m| m.ino()).unwrap_or(0);
                side.known.insert(to.clone(), Known { ino, bytes: bytes.clone() });
                note(from, &format!("rename: moved to {}:", to.display()));
            } else {
                if had.is_some() {
                    let _ = std::fs::remove_file(side.root.join(from));
                }
                let target = if side.known.contains_key(to) { "known here" } else { place(side, to, bytes) };
                note(
                    from,
                    &format!(
                        "rename to {}: not moved ({}; target {target}):",
                        to.display(),
                        if had.is_some() { "removed here" } else { "not known here, left" },
                    ),
                );
            }
            in_inbox(from).then(|| Change::Resurrect { rel: from.clone(), bytes: bytes.clone() })
        }
        Change::Resurrect { rel, bytes } => {
            if !side.root.join(rel).exists() {
                // A local creation: the next scan sees it and mirrors it.
                write_file(side, rel, bytes, false);
                note(rel, "brought back");
                journal.lock().unwrap().count("resurrected files");
            }
            None
        }
    }
}

/// Puts the other side's `rel` here, where this side's scan has not seen one. A file already
/// there (made here too since this side's last scan: two uploads of one file) with the same
/// bytes is the same file, in sync from now on, as a sync service holds it, so that its later
/// move or deletion here is mirrored like any other. One with other bytes stays, unrecorded:
/// this side's next scan mirrors it to the other.
fn place(side: &mut Side, rel: &Path, bytes: &[u8]) -> &'static str {
    use std::os::unix::fs::MetadataExt;
    if write_file(side, rel, bytes, true) {
        return "written";
    }
    let path = side.root.join(rel);
    match (std::fs::read(&path), std::fs::metadata(&path)) {
        (Ok(here), Ok(m)) if here == bytes => {
            side.known.insert(rel.to_path_buf(), Known { ino: m.ino(), bytes: here });
            "the same file is here already, now in sync"
        }
        (Ok(_), _) => "another file is here already, left",
        // Gone since: the next change or scan says what became of it.
        _ => "gone since",
    }
}

fn conflicted(rel: &Path) -> PathBuf {
    let name = rel.file_name().unwrap().to_string_lossy();
    let stem = name.trim_end_matches(".json");
    rel.with_file_name(format!("{stem} (conflicted copy {}).json", rand::random::<u32>()))
}

// ---- checks ----

/// Waits until both trees are in the final state (every RETURN present, inboxes empty, the
/// sync idle) or the limit passes.
fn settle(trees: &[&Home; 2], sync: &Sync, n: usize, limit: Duration) {
    let start = Instant::now();
    let mut quiet_since = None;
    loop {
        let done =
            trees.iter().all(|h| h.returns(SENDER).len() >= n && names(&h.inbox()).is_empty()) && sync.pending() == 0;
        if done {
            let q = *quiet_since.get_or_insert_with(Instant::now);
            if q.elapsed() > Duration::from_secs(2) {
                return;
            }
        } else {
            quiet_since = None;
        }
        if start.elapsed() > limit {
            let status: Vec<String> = trees
                .iter()
                .map(|h| {
                    format!(
                        "{} RETURNs, inbox {:?}",
                        h.returns(SENDER).len(),
                        names(&h.inbox()).into_iter().take(5).collect::<Vec<_>>()
                    )
                })
                .collect();
            panic!(
                "not settled after {limit:?}: {status:?}, sync pending {}\nlogs:\n{}\nleft in an inbox:\n{}",
                sync.pending(),
                tail_logs(trees),
                left_behind(trees, sync)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// For the first few files still in an inbox: what the sync did to them and what each host's
/// log says of their handoff.
fn left_behind(trees: &[&Home; 2], sync: &Sync) -> String {
    let mut left: Vec<String> = trees.iter().flat_map(|h| names(&h.inbox())).collect();
    left.sort();
    left.dedup();
    let logs: Vec<String> =
        trees.iter().map(|h| std::fs::read_to_string(h.root.join("serve.log")).unwrap_or_default()).collect();
    let mut out = String::new();
    for name in left.iter().take(3) {
        out += &format!("{name}\n  sync:\n");
        for line in sync.history(name) {
            out += &format!("    {line}\n");
        }
        // The handoff id (`S01030`) is in every log line about it, whatever the file is called.
        let id = name.split("__").nth(2).unwrap_or(name);
        for (t, log) in logs.iter().enumerate() {
            out += &format!("  tree {t}'s log:\n");
            for line in log.lines().filter(|l| l.contains(id)).take(20) {
                out += &format!("    {line}\n");
            }
        }
    }
    out
}

fn tail_logs(trees: &[&Home; 2]) -> String {
    trees
        .iter()
        .map(|h| {
            let s = std::fs::read_to_string(h.root.join("serve.log")).unwrap_or_default();
            let lines: Vec<&str> = s.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// Exactly one RETURN per TASK, every original filed once in 02_processed (copies brought back
/// filed beside it under suffixed names, never run), nothing else answered, on both trees.
fn assert_once_on_both(trees: &[&Home; 2], n: usize) {
    for (t, h) in trees.iter().enumerate() {
        let returns = h.returns(SENDER);
        for i in 0..n {
            let id = format!("S{i:05}");
            let r = returns.get(&id).map(Vec::len).unwrap_or(0);
            assert_eq!(r, 1, "tree {t}: task {id} has {r} RETURNs");
            assert_eq!(returns[&id][0]["status"], "completed", "tree {t}: {}", returns[&id][0]);
        }
        assert_eq!(returns.len(), n, "tree {t}: RETURNs for nothing else");
        let processed: HashSet<String> = names(&h.dir("baton", "02_processed")).into_iter().collect();
        for i in 0..n {
            assert!(processed.contains(&task_name(i)), "tree {t}: {} not filed", task_name(i));
        }
        let failed = names(&h.dir("baton", "03_failed"));
        assert!(
            failed.iter().all(|f| f.contains("conflicted copy")),
            "tree {t}: only conflicted copies fail: {failed:?}"
        );
        assert!(names(&h.inbox()).is_empty(), "tree {t}: inbox {:?}", names(&h.inbox()));
    }
    // Every original filed once: the same names on both trees, each original once.
    let a: Vec<String> = names(&trees[0].dir("baton", "02_processed"));
    let b: Vec<String> = names(&trees[1].dir("baton", "02_processed"));
    assert_eq!(a, b, "both trees hold the same filed originals");
}

fn drop_tasks(trees: &[&Home; 2], range: std::ops::Range<usize>) {
    for i in range {
        let body = task(&format!("S{i:05}")).to_string();
        // Each TASK lands on one side; every 10th on both at once (two uploads of one file).
        if i % 10 == 0 {
            trees[0].drop_file(task_name(i), &body);
            trees[1].drop_file(task_name(i), &body);
        } else {
            trees[i % 2].drop_file(task_name(i), &body);
        }
    }
}

fn tasks() -> usize {
    std::env::var("BATON_SHARED_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn two_hosts_two_trees_one_database_answer_each_task_once() {
    let Some((_pg, a, b)) = two_hosts("two", "", 5) else { return };
    let trees = [&a, &b];
    let sync = Sync::start(a.root.join("handoffs"), b.root.join("handoffs"), 2, 1);
    let (sa, sb) = (serve(&a), serve(&b));
    let n = tasks();
    let started = Instant::now();
    drop_tasks(&trees, 0..n);
    settle(&trees, &sync, n, Duration::from_secs(240));
    eprintln!("{n} TASKs on two hosts, settled in {:?}; sync: {:?}", started.elapsed(), sync.stats());
    kill(sa);
    kill(sb);
    assert_once_on_both(&trees, n);
    assert!(
        !a.dir("baton", ".claims").exists() && !b.dir("baton", ".claims").exists(),
        "nothing is renamed into .claims/ in a synced tree"
    );
}

#[test]
fn one_host_killed_three_times_and_postgres_restarted_once() {
    let Some((pg, a, b)) = two_hosts("chaos", "", 3) else { return };
    let trees = [&a, &b];
    let sync = Sync::start(a.root.join("handoffs"), b.root.join("handoffs"), 2, 1);
    let mut sa = serve(&a);
    let sb = serve(&b);
    // 100 TASKs by default (the size run before the deadline); scales with BATON_SHARED_TASKS.
    let n = (tasks() / 20).max(10);
    let rounds = 5;
    let share = |round: usize| round * n / rounds..(round + 1) * n / rounds;
    for round in 0..rounds {
        // Round 3's TASKs land during the outage (round 2), so both hosts try to claim then.
        if round != 3 {
            drop_tasks(&trees, share(round));
        }
        std::thread::sleep(Duration::from_millis(rand::random_range(100..600)));
        if (1..=3).contains(&round) {
            kill(sa); // SIGKILL
            sa = serve(&a);
        }
        if round == 2 {
            // Let the restarted host open the ledger before the server goes away.
            std::thread::sleep(Duration::from_secs(1));
            pg.stop();
            drop_tasks(&trees, share(3));
            std::thread::sleep(Duration::from_secs(2));
            let status = a.cmd(&["status", "--json"]).output().unwrap();
            let v: Value = serde_json::from_slice(&status.stdout).unwrap();
            assert_eq!(v["ledger"]["reachable"], false, "status says the ledger is unavailable: {v}");
            assert!(!status.status.success());
            pg.start_again();
        }
    }
    settle(&trees, &sync, n, Duration::from_secs(300));
    let v = a.json(&["status", "--json"]);
    assert_eq!(v["ledger"]["reachable"], true, "{v}");
    kill(sa);
    kill(sb);
    assert_once_on_both(&trees, n);
    let log = std::fs::read_to_string(a.root.join("serve.log")).unwrap()
        + &std::fs::read_to_string(b.root.join("serve.log")).unwrap();
    let outage: Vec<&str> = log.lines().filter(|l| l.contains("state database") || l.contains("serving")).collect();
    assert!(log.contains("claiming paused"), "the outage is logged plainly: {outage:#?}");
    assert!(log.contains("claiming resumed"), "and its end: {outage:#?}");
}

/// The server stalls (every process SIGSTOPped: it keeps its connections and answers
/// nothing) for longer than a call's bound while both hosts claim and answer, with more TASKs
/// landing meanwhile, then answers again. A stall is a pause: once the server answers,
/// claiming resumes and every TASK is answered exactly once, within a bound.
///
/// A call's bound is 16 s here (`statement_timeout=15`, `connect_timeout=1`): a pass that
/// waited about 13 s in ledger calls used to spend its tokio task's cooperative budget, after
/// which each call spun for good, its time limit and the server's answer unheard, and both
/// hosts stopped answering while alive (see `baton_store::link`). With a bound of a few
/// seconds, each pass ends at its first failed call before that.
#[test]
fn a_stalled_server_that_answers_again_loses_no_task_on_two_hosts() {
    let Some((pg, a, b)) = two_hosts("stall", "&connect_timeout=1&statement_timeout=15", 30) else { return };
    let trees = [&a, &b];
    let sync = Sync::start(a.root.join("handoffs"), b.root.join("handoffs"), 2, 1);
    let serving = Serving(vec![serve(&a), serve(&b)]);
    let n = 300;
    drop_tasks(&trees, 0..200);
    // Into the hosts' work on those: claims, runs and records in flight when it stalls.
    std::thread::sleep(Duration::from_millis(700));
    let stalled = pg.stall();
    drop_tasks(&trees, 200..n);
    std::thread::sleep(Duration::from_secs(17));
    drop(stalled);
    let resumed = Instant::now();
    settle(&trees, &sync, n, Duration::from_secs(30));
    eprintln!("{n} TASKs settled {:?} after the server answered again; sync: {:?}", resumed.elapsed(), sync.stats());
    drop(serving);
    assert_once_on_both(&trees, n);
}

/// A sync service that never brings the winner's move to the other tree (here, none at all:
/// a TASK dropped on both trees): the losing host leaves its copy alone while the sync may still
/// bring that move, then files it beside the original, never run, 10 leases after the winner
/// filed its own (`STRAY_LEASES`), and says so in its log.
#[test]
fn a_copy_the_sync_never_moves_is_filed_unrun_by_the_host_that_lost_it() {
    let Some((_pg, a, b)) = two_hosts("stray", "", 1) else { return };
    let trees = [&a, &b];
    let serving = Serving(vec![serve(&a), serve(&b)]);
    let body = task("S00007").to_string();
    a.drop_file(task_name(7), &body);
    b.drop_file(task_name(7), &body);
    let answered = |h: &Home| h.returns(SENDER).contains_key("S00007") && names(&h.inbox()).is_empty();
    let start = Instant::now();
    let winner = loop {
        if let Some(i) = trees.iter().position(|h| answered(h)) {
            break i;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no host answered the TASK");
        std::thread::sleep(Duration::from_millis(20));
    };
    let filed = Instant::now();
    let loser = trees[1 - winner];
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(names(&loser.inbox()), vec![task_name(7)], "left alone while the sync may still move it");
    // `status` on the losing host says whose it is and why it is still there.
    let v = loser.json(&["status", "--json"]);
    let left = &v["queue"]["left_for_other_hosts"];
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(left[0]["file"], task_name(7).as_str(), "{v}");
    assert!(left[0]["filed_secs_ago"].is_u64(), "filed by the winner: {v}");
    let text = loser.cmd(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("1 of them filed by another host already"), "{text}");
    while !names(&loser.inbox()).is_empty() {
        assert!(filed.elapsed() < Duration::from_secs(40), "the copy is still in the loser's inbox");
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = filed.elapsed();
    let v = loser.json(&["status", "--json"]);
    assert_eq!(v["queue"]["left_for_other_hosts"], json!([]), "{v}");
    drop(serving);
    assert!(waited >= Duration::from_secs(9), "filed {waited:?} after the winner filed it, before 10 leases");
    assert_eq!(names(&loser.dir("baton", "02_processed")), vec![task_name(7)], "filed in 02_processed");
    assert!(loser.returns(SENDER).is_empty(), "never run by the loser");
    assert_eq!(trees[winner].returns(SENDER)["S00007"].len(), 1);
    let log = std::fs::read_to_string(loser.root.join("serve.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("S00007") && l.contains("has not brought that move here") && l.contains("not run")),
        "the loser's log says why: {log}"
    );
}

/// The hosts' `serve`s, killed however the test ends (a host that hangs is not left running).
struct Serving(Vec<Child>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.drain(..).for_each(kill);
    }
}

/// Hosts started at once on a new database all open it: one applies the migrations, the others
/// wait for it, and none fails (creating the schema table before taking the migration lock let
/// two create it at once, and one failed on a duplicate in `pg_type`).
#[test]
fn hosts_starting_at_once_on_a_new_database_all_open_it() {
    let Some(pg) = Pg::start() else { return };
    for round in 0..3 {
        let db = format!("fresh{round}");
        pg.create_db(&db);
        let url = pg.url(&db);
        let homes: Vec<Home> = (0..6).map(|_| host(&url, 30)).collect();
        let runs: Vec<Child> = homes
            .iter()
            .map(|h| h.cmd(&["serve", "--once"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap())
            .collect();
        for run in runs {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

// ---- plugins' locks across hosts (advisory locks) ----

/// testkit with folders, a long time budget, and `extra` settings; on the shared database.
fn lock_host(url: &str, settings: &[(&str, &str)]) -> Home {
    let mut all = vec![("reconcile_secs", "1")];
    all.extend_from_slice(settings);
    let h = Home::init(
        &all,
        "\n[plugins.testkit]\ngrants = { data = \"data\", out = { path = \"out\", writable = true } }\ntime_ms = 60000\n",
    );
    let toml = h.root.join("baton.toml");
    let s = std::fs::read_to_string(&toml).unwrap().replacen(
        "agent = \"baton\"",
        &format!("agent = \"baton\"\nstate = \"{url}\""),
        1,
    );
    std::fs::write(&toml, s).unwrap();
    for d in ["data", "out"] {
        std::fs::create_dir_all(h.root.join(d)).unwrap();
    }
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
    h
}

fn drop_lock_task(h: &Home, id: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": SENDER, "title": format!("lock {id}"), "plugin": "testkit", "action": "lock-hold", "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__{SENDER}.json"), body.to_string());
}

/// Each RETURN in `h`'s copy of the sender's inbox, by the TASK it answers.
fn answers(h: &Home) -> HashMap<String, Value> {
    h.returns(SENDER).into_iter().map(|(k, mut v)| (k, v.remove(0))).collect()
}

fn wait_ok(mut c: Child, h: &Home, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            let log = std::fs::read_to_string(h.root.join("serve.log")).unwrap_or_default();
            assert!(st.success(), "serve --once failed: {log}");
            return started.elapsed();
        }
        if started.elapsed() > limit {
            kill(c);
            panic!("serve --once still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve_once(h: &Home) -> Child {
    h.cmd(&["serve", "--once"])
        .env("BATON_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file(h)))
        .spawn()
        .unwrap()
}

/// Two hosts with their own homes (and so their own per-machine lock folders) on one database:
/// tasks of both take the same plugin lock, and no two are ever inside it at once; at least one
/// task waited while a task of the other host was inside (so the test saw contention). Both
/// hosts' answers add up in the shared summary tables.
#[test]
fn a_plugin_lock_holds_across_two_hosts_on_one_database() {
    let Some(pg) = Pg::start() else { return };
    pg.create_db("locks");
    let url = pg.url("locks");
    let hosts = [lock_host(&url, &[]), lock_host(&url, &[])];
    for (i, h) in hosts.iter().enumerate() {
        for j in 0..2 {
            drop_lock_task(h, &format!("LOCK-{i}-{j}"), json!({"name": "shared", "ms": 600, "timeout_ms": 30000}));
        }
    }
    let children: Vec<Child> = hosts.iter().map(serve_once).collect();
    for (c, h) in children.into_iter().zip(&hosts) {
        wait_ok(c, h, Duration::from_secs(120));
    }
    // (host, asked, entered, left)
    let mut spans: Vec<(usize, u64, u64, u64)> = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let got = answers(h);
        assert_eq!(got.len(), 2, "host {i}: one RETURN per TASK: {got:#?}");
        for r in got.values() {
            assert_eq!(r["status"], "completed", "{r:#}");
            let ms = |k: &str| r["result"][k].as_u64().unwrap_or_else(|| panic!("no {k}: {r:#}"));
            spans.push((i, ms("asked_ms"), ms("entered_ms"), ms("left_ms")));
        }
    }
    spans.sort_by_key(|s| s.2);
    for w in spans.windows(2) {
        assert!(w[0].3 <= w[1].2, "two holders inside the lock at once: {:?} and {:?} (all: {spans:?})", w[0], w[1]);
    }
    // Both hosts added their answers to the shared summary tables (the dashboard's counters).
    let sum = |sql: &str| String::from_utf8_lossy(&pg.psql("locks", sql).stdout).trim().to_string();
    assert_eq!(sum("SELECT sum(n) FROM stat_counts WHERE status = 'completed' AND plugin = 'testkit'"), "4");
    assert_eq!(sum("SELECT sum(completed) FROM stat_hours WHERE plugin = 'testkit'"), "4");
    assert_eq!(sum("SELECT sum(completed) FROM stat_minutes WHERE plugin = 'testkit'"), "4");
    let waited_on_other =
        |i: usize| spans.iter().any(|b| b.0 == i && spans.iter().any(|a| a.0 != i && b.1 < a.3 && b.2 >= a.3));
    assert!(waited_on_other(0) || waited_on_other(1), "no task ever waited for the other host's holder: {spans:?}");
}

/// The database session holding a plugin's lock is terminated (as a server restart or a lost
/// network would end it): the task holding it fails as transient at once, long before its
/// hold would have ended, with a message saying the lock was lost. Meanwhile `baton status`
/// counts the held claim in progress.
#[test]
fn a_lock_lost_with_its_session_fails_the_task_as_transient() {
    let Some(pg) = Pg::start() else { return };
    pg.create_db("lost");
    let url = pg.url("lost");
    let h = lock_host(&url, &[("max_attempts", "1")]);
    drop_lock_task(&h, "HOLD", json!({"name": "shared", "ms": 40000, "timeout_ms": 5000}));
    let child = serve_once(&h);
    let holder = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                  AND classid::bigint = (hashtextextended('baton.lock:testkit/shared', 0) >> 32) & 4294967295 \
                  AND objid::bigint = hashtextextended('baton.lock:testkit/shared', 0) & 4294967295";
    let started = Instant::now();
    let pid = loop {
        let out = pg.psql("lost", holder);
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !pid.is_empty() {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the task never took the lock: {}",
            std::fs::read_to_string(h.root.join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Its claim is a row, not a file in `.claims/`: `baton status` counts it in progress.
    let v = h.json(&["status", "--json"]);
    assert_eq!(v["queue"]["in_progress"], 1, "the held claim is in progress: {v:#}");
    assert_eq!(v["ledger"]["hosts"][0]["in_progress"], 1, "{v:#}");
    let out = pg.psql("lost", &format!("SELECT pg_terminate_backend({pid})"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t", "{}", String::from_utf8_lossy(&out.stderr));
    let took = wait_ok(child, &h, Duration::from_secs(60));
    assert!(took < Duration::from_secs(30), "the holder ran on after losing its lock ({took:?}; its hold is 40 s)");
    let got = answers(&h);
    let r = &got["HOLD"];
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(r["error"]["code"], "retries_exhausted", "a lost lock is a transient failure: {r:#}");
    assert!(r["error"]["message"].as_str().unwrap_or("").contains("lock `shared` lost"), "{r:#}");
}
