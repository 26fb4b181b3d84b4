//! What agents pass each other: TASKs and RETURNs in other agents' inboxes are recorded in
//! the ledger (never moved), so `baton status` can list the handoffs still open. Files in
//! the user's own dialects (loose JSON, Markdown triggers) are recorded too, read through
//! [`baton_handoff::dialect`]; one with no id is recorded under `file:<agent>/<name>`.
//! (`baton status` itself reads the whole tree each time, nested layouts included: see
//! [`baton_home::tree`]; this record is what the dashboard searches and the alerts count.)
//!
//! The stage is [`Observer`]: it remembers what it recorded and what did not parse, reads the
//! tree (`Seen::scan`, no ledger) and hands the ledger what is new. In the daemon the
//! reading runs on a thread beside the pass (see [`Observer::observe_due`]): other agents'
//! inboxes can hold thousands of files, and a pass waiting on them holds every TASK behind it.
use baton_sync::Locked;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::hash::BuildHasher;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use baton_handoff::{dialect, names, schema, stamp};
use baton_ledger::Observed;

use crate::PipelineError;
use crate::intake::observed;
use baton_home::config::Config;
use baton_ledger::SharedLedger;

/// Other agents' inboxes are read at most this often while passes come faster (a daemon
/// under load passes many times a second, and baton's own RETURNs pile up in those inboxes
/// until their agents take them: reading them all on every pass cost more than the handoffs).
/// A pass that skips the reading asks for another pass when it is due, so nothing is missed.
/// Only the daemon (`watch::serve`) spaces them; `serve --once` reads on every pass.
pub(crate) const OBSERVE_EVERY: Duration = Duration::from_secs(1);

/// The observe stage: what it has seen ([`Seen`]), and, in the daemon, the reading in flight.
#[derive(Default)]
pub(crate) struct Observer {
    seen: Seen,
    /// When other agents' inboxes were last read.
    last: Option<Instant>,
    /// The least time between two readings (zero: every pass; the daemon sets
    /// [`OBSERVE_EVERY`]).
    pub(crate) every: Duration,
    /// The daemon's reading, on a thread of its own: listing inboxes that hold thousands of
    /// unread RETURNs takes tens of milliseconds, and done inside the pass it held every TASK
    /// that arrived meanwhile (an A2A round trip of 4 ms took 30 once a second in a home with
    /// 40,000 such files). The thread owns [`Seen`] while it runs and hands it back.
    running: Option<std::thread::JoinHandle<Seen>>,
}

/// Other agents' inbox files already recorded, and those that did not parse with the
/// (size, mtime) they had then.
#[derive(Default)]
struct Seen {
    observed: HashSet<Key>,
    unparsed: HashMap<Key, (u64, Option<SystemTime>)>,
}

impl Observer {
    /// [`Self::observe`] if it is due; else when it will be. In the daemon (`every` set) the
    /// reading and its record run on a thread of their own (see [`Observer::running`]), so a
    /// pass never waits for them; an error there is logged and the files are read again.
    pub(crate) fn observe_due(
        &mut self,
        handoffs: &Path,
        cfg: &Config,
        ledger: &SharedLedger,
    ) -> Result<Option<Instant>, PipelineError> {
        if let Some(running) = self.running.take_if(|r| r.is_finished()) {
            // A panic in the reading loses only what it remembered: every file is recorded
            // again (the ledger keeps one row a file).
            self.seen = running.join().unwrap_or_else(|_| {
                tracing::warn!("reading other agents' inboxes stopped on a bug; they are read again from the start");
                Seen::default()
            });
        }
        if let Some(last) = self.last
            && (last.elapsed() < self.every || self.running.is_some())
        {
            // A reading that outlasts `every` is looked at again a little later, not in a spin.
            return Ok(Some((last + self.every).max(Instant::now() + Duration::from_millis(100))));
        }
        self.last = Some(Instant::now());
        if self.every.is_zero() {
            self.observe(handoffs, cfg, ledger)?;
            return Ok(None);
        }
        let mut seen = std::mem::take(&mut self.seen);
        let (dir, scan, shared) = (handoffs.to_path_buf(), Scan::of(cfg), ledger.clone());
        let spawned = std::thread::Builder::new().name("baton-observe".into()).spawn(move || {
            if let Err(e) = seen.observe(&dir, &scan, &shared) {
                baton_home::ratelimit::warn_every(
                    "observe:record",
                    &format!("cannot record other agents' handoffs, will read them again: {e}"),
                    "observe",
                );
            }
            seen
        });
        match spawned {
            Ok(handle) => self.running = Some(handle),
            // No thread to be had (the process is at its limit): this pass reads, from the
            // start (what the observer remembered went with the thread that never ran).
            Err(_) => self.observe(handoffs, cfg, ledger)?,
        }
        // As a pass that read: nothing of the observer's is due now (the daemon's idle work,
        // the search index, runs on such a pass).
        Ok(None)
    }

    /// Records TASKs and RETURNs that agents pass each other (never moving them).
    pub(crate) fn observe(
        &mut self,
        handoffs: &Path,
        cfg: &Config,
        ledger: &SharedLedger,
    ) -> Result<(), PipelineError> {
        self.seen.observe(handoffs, &Scan::of(cfg), ledger)
    }

    /// [`Seen::scan`] with this observer's memory (the tests' view of a reading).
    #[cfg(test)]
    pub(crate) fn scan(&mut self, handoffs: &Path, cfg: &Config) -> Vec<Observed> {
        self.seen.scan(handoffs, &Scan::of(cfg)).into_iter().map(|(_, o)| o).collect()
    }
}

/// A file in another agent's inbox: the agent and the file's name as the folder has it.
type Key = (String, OsString);

/// What a reading needs of the configuration: baton's own agent and the largest file read.
struct Scan {
    agent: String,
    max_file_bytes: u64,
}

impl Scan {
    fn of(cfg: &Config) -> Scan {
        Scan { agent: cfg.agent.clone(), max_file_bytes: cfg.max_file_bytes }
    }
}

impl Seen {
    /// A reading and one transaction for what it found (none when it found nothing). What the
    /// ledger did not take is forgotten, so the next reading finds it again.
    fn observe(&mut self, handoffs: &Path, cfg: &Scan, ledger: &SharedLedger) -> Result<(), PipelineError> {
        let found = self.scan(handoffs, cfg);
        if found.is_empty() {
            return Ok(());
        }
        let now = stamp::rfc3339(stamp::now());
        let recorded = ledger.locked().batch(|b| {
            for (_, o) in &found {
                b.observe(o, &now)?;
            }
            Ok(())
        });
        if recorded.is_err() {
            for (key, _) in &found {
                self.observed.remove(key);
            }
        }
        Ok(recorded?)
    }

    /// What is new in other agents' inboxes under `handoffs` since the last scan: each file
    /// once, and one that did not parse again only once it changed. `cfg` names baton's own
    /// agent (its folder and its RETURNs are skipped) and the largest file read.
    ///
    /// What it remembers is what is there: a file that left its inbox (its agent took it) is
    /// forgotten, so the memory of a long-running `serve` follows the inboxes' size, not every
    /// file they ever held. An inbox that cannot be listed keeps what was remembered of it.
    fn scan(&mut self, handoffs: &Path, cfg: &Scan) -> Vec<(Key, Observed)> {
        let Ok(agents) = std::fs::read_dir(handoffs) else { return Vec::new() };
        let mut found = Vec::new();
        let hashing = std::hash::RandomState::new();
        let (mut present, mut unlisted) = (HashSet::new(), Vec::new());
        for agent in agents.flatten() {
            let Some(agent_name) = agent.file_name().to_str().map(str::to_string) else { continue };
            if agent_name == cfg.agent || !names::is_valid_name(&agent_name) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(agent.path().join(baton_home::config::INBOX)) else {
                unlisted.push(agent_name);
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let markdown = name.as_bytes().ends_with(b".md") && !name.as_bytes().starts_with(b".");
                if !markdown && names::classify(name.as_bytes()) != names::Entry::Candidate {
                    continue;
                }
                // baton's own RETURNs: the tasks they answer are in the ledger already.
                let own_return = name
                    .to_str()
                    .and_then(names::parse_file_name)
                    .is_some_and(|p| p.kind == "RETURN" && p.agent == cfg.agent);
                if own_return {
                    continue;
                }
                let key = (agent_name.clone(), name);
                present.insert(hashing.hash_one(&key));
                if self.observed.contains(&key) {
                    continue;
                }
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() || meta.len() > cfg.max_file_bytes {
                    continue;
                }
                // A file that did not parse is read again only once it changes.
                let stamp = (meta.len(), meta.modified().ok());
                if self.unparsed.get(&key) == Some(&stamp) {
                    continue;
                }
                let file = key.1.to_string_lossy().into_owned();
                let bytes = baton_fs::read_capped(&e.path(), cfg.max_file_bytes).ok();
                // A parser's panic on a stranger's file leaves it unparsed, never stops `serve`.
                let record = bytes.and_then(|b| {
                    crate::faults::read_one(|| match schema::parse(&b) {
                        Ok((body, _)) => Some(observed(&agent_name, &file, &body)),
                        Err(_) => dialect::read(&file, &b).ok().map(|seen| loose_observed(&agent_name, &file, &seen)),
                    })
                    .unwrap_or_else(|bug| {
                        tracing::warn!(agent = %agent_name, file = %file, "{bug}");
                        None
                    })
                });
                let Some(record) = record else {
                    self.unparsed.insert(key, stamp);
                    continue;
                };
                self.unparsed.remove(&key);
                self.observed.insert(key.clone());
                found.push((key, record));
            }
        }
        let kept = |k: &Key| present.contains(&hashing.hash_one(k)) || unlisted.contains(&k.0);
        self.observed.retain(|k| kept(k));
        self.unparsed.retain(|k, _| kept(k));
        found
    }
}

/// A handoff in the user's dialect as the ledger records it: a missing id becomes
/// `file:<agent>/<name>`, a missing sender `?`, a missing time the moment it was seen.
fn loose_observed(agent: &str, file: &str, seen: &dialect::Seen) -> Observed {
    Observed {
        agent: agent.into(),
        file_name: file.into(),
        kind: seen.kind.as_str().into(),
        id: seen.id.clone().unwrap_or_else(|| format!("file:{agent}/{file}")),
        in_reply_to: seen.in_reply_to.clone(),
        sender: seen.from.clone().unwrap_or_else(|| "?".into()),
        recipient: seen.to.clone().or_else(|| Some(agent.into())),
        title: seen.title.clone(),
        created_at: seen.created_at.clone().unwrap_or_else(|| stamp::rfc3339(stamp::now())),
    }
}

#[cfg(test)]
mod tests {
    //! The scan on a temporary handoffs tree: no home, no ledger.
    use super::*;

    const TASK: &str = r#"{"schema": "baton.handoff/v1", "id": "01JHX3Q7Z8K2M4N6P8R0S2T4V6", "kind": "task",
        "created_at": "2026-01-18T07:09:51Z", "from": "cursor", "title": "Echo hello", "plugin": "echo",
        "action": "echo", "params": {}}"#;

    #[test]
    fn the_daemon_reads_beside_the_pass_records_what_it_found_and_remembers_it() {
        let d = tempfile::tempdir().unwrap();
        let cfg = Config { agent: "baton".into(), ..Config::default() };
        let inbox = d.path().join("claude").join(baton_home::config::INBOX);
        std::fs::create_dir_all(&inbox).unwrap();
        let name = "20260118T070951Z__TASK__Echo-Hello__cursor.json";
        std::fs::write(inbox.join(name), TASK).unwrap();
        let ledger: SharedLedger = std::sync::Arc::new(std::sync::Mutex::new(
            baton_ledger::Ledger::open(&d.path().join("state.sqlite")).unwrap(),
        ));
        let mut o = Observer { every: OBSERVE_EVERY, ..Observer::default() };

        // A pass that observes while something else holds the ledger returns at once: the
        // reading and its record wait for the ledger on their own thread, not in the pass.
        let held = ledger.locked();
        let (tx, rx) = std::sync::mpsc::channel();
        let (root, cfg2, shared) = (d.path().to_path_buf(), cfg.clone(), ledger.clone());
        let pass = std::thread::spawn(move || {
            let next = o.observe_due(&root, &cfg2, &shared).unwrap();
            tx.send(next).unwrap();
            o
        });
        let next = rx.recv_timeout(Duration::from_secs(10)).expect("the pass waited for the reading");
        assert_eq!(next, None, "a pass that started a reading has nothing of the observer's due");
        let mut o = pass.join().unwrap();
        let soon = o.observe_due(d.path(), &cfg, &ledger).unwrap();
        assert!(soon.is_some_and(|t| t > Instant::now()), "while it runs, the next reading is asked for later");
        assert!(o.running.is_some(), "the reading runs on its own thread");
        drop(held);
        let started = Instant::now();
        while !ledger.locked().is_observed("claude", name).unwrap() {
            assert!(started.elapsed() < Duration::from_secs(10), "the reading never recorded the TASK");
            std::thread::sleep(Duration::from_millis(10));
        }

        // The next reading starts with what the first one saw: the TASK is not new any more.
        while !o.running.as_ref().is_some_and(|r| r.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        o.last = None;
        o.observe_due(d.path(), &cfg, &ledger).unwrap();
        o.seen = o.running.take().expect("a second reading").join().unwrap();
        assert!(o.scan(d.path(), &cfg).is_empty(), "what the thread saw came back to the observer");
    }

    #[test]
    fn other_agents_handoffs_are_seen_once_and_a_broken_one_once_it_is_fixed() {
        let d = tempfile::tempdir().unwrap();
        let cfg = Config { agent: "baton".into(), ..Config::default() };
        let inbox = |agent: &str| {
            let dir = d.path().join(agent).join(baton_home::config::INBOX);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        std::fs::write(inbox("claude").join("20260118T070951Z__TASK__Echo-Hello__cursor.json"), TASK).unwrap();
        let md = "# HANDOFF: Review the sync\n\n**Source Agent:** cursor\n**Created:** 2026-01-19T21:32:47Z\n";
        std::fs::write(inbox("cursor").join("review-sync-20260119.md"), md).unwrap();
        // baton's own RETURNs and baton's own inbox are not observed; nor is a broken file.
        std::fs::write(inbox("claude").join("20260118T071000Z__RETURN__Echo-Hello__baton.json"), TASK).unwrap();
        std::fs::write(inbox("baton").join("20260118T070951Z__TASK__Echo-Hello__claude.json"), TASK).unwrap();
        let broken = inbox("claude").join("broken.json");
        std::fs::write(&broken, b"{\"title\": ").unwrap();

        let mut o = Observer::default();
        let mut seen: Vec<(String, String, String)> =
            o.scan(d.path(), &cfg).into_iter().map(|r| (r.agent, r.kind, r.title)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("claude".into(), "task".into(), "Echo hello".into()),
                ("cursor".into(), "task".into(), "HANDOFF: Review the sync".into())
            ]
        );
        assert!(o.scan(d.path(), &cfg).is_empty(), "each file is recorded once");
        std::fs::write(&broken, br#"{"title": "fixed", "from": "cursor"}"#).unwrap();
        let again = o.scan(d.path(), &cfg);
        assert_eq!(again.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(), ["fixed"], "read again once changed");
        assert_eq!(again[0].id, "file:claude/broken.json", "no id: named by its file");
    }

    /// A file its agent took out of its inbox is forgotten; one still there is remembered (not
    /// reported again), so what is kept follows the inboxes, not every file they ever held.
    #[test]
    fn a_file_that_left_its_inbox_is_forgotten_one_still_there_is_not_reported_again() {
        let d = tempfile::tempdir().unwrap();
        let cfg = Scan { agent: "baton".into(), max_file_bytes: 1 << 20 };
        let inbox = d.path().join("claude").join(baton_home::config::INBOX);
        std::fs::create_dir_all(&inbox).unwrap();
        let (a, b) = ("20260118T070951Z__TASK__One__cursor.json", "20260118T070952Z__TASK__Two__cursor.json");
        std::fs::write(inbox.join(a), TASK).unwrap();
        std::fs::write(inbox.join(b), TASK.replace("V6", "V7")).unwrap();
        let mut seen = Seen::default();
        assert_eq!(seen.scan(d.path(), &cfg).len(), 2);
        assert_eq!(seen.observed.len(), 2);
        std::fs::remove_file(inbox.join(a)).unwrap();
        assert!(seen.scan(d.path(), &cfg).is_empty(), "the one still there is not new");
        let kept: Vec<_> = seen.observed.iter().map(|(_, n)| n.to_string_lossy().into_owned()).collect();
        assert_eq!(kept, [b], "the one taken is forgotten");
    }
}
