//! Step 1 of the pipeline: which files in baton's inbox are ready to claim. A file that
//! parses is ready at once; one refused on sight (symlink, too large, bad name, conflict copy)
//! too; one that never parses is ready once its size and mtime stopped changing (settle).
//!
//! The stage is [`Inbox`]: it owns what it learns between scans (which files are still
//! settling, which names it still has to look at) and borrows the rest for one scan as an
//! [`Env`]. Its output is the claims it made, with what it read of each kept for intake.
//!
//! A scan does not always list the inbox. An inbox can hold 100,000 names baton ignores (notes,
//! temp and swap files, dotfiles) beside a trickle of TASKs, and listing and sorting all of
//! them on every pass cost `serve` 10.2 s of CPU in 11 s (issue 55, fault 8). Driven by events
//! ([`Inbox::drive_by_events`], `serve` with a file watch), a scan looks only at the names it
//! knows: those the last listing saw that are still waiting (settling, held for a paused
//! plugin, left for other hosts, lost to another host for now) and those the watch's events
//! named since ([`Inbox::note`]). The inbox is listed in full when the watch asks for it (an
//! event it may have lost or coalesced: a rescan request, a watcher error, a folder-level
//! change), when a listing failed or never ran, and at least every `reconcile_secs`, so a
//! file that appears without any event is still found by the periodic reconcile.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use tracing::warn;

use baton_handoff::names;

use crate::PipelineError;
use crate::folding::FoldedDirs;
use crate::leases::Claimer;
use crate::preread::{Preread, Prereads};
use baton_home::config::{Config, Paths};
use baton_home::health::Healths;
use baton_ledger::SharedLedger;

/// What the inbox stage borrows from the pipeline for one scan.
pub(crate) struct Env<'p> {
    pub(crate) cfg: &'p Config,
    pub(crate) paths: &'p Paths,
    pub(crate) claims: &'p mut Claimer,
    /// Claims taken over from dead processes (shared claims report them as they claim).
    pub(crate) suspects: &'p mut HashSet<OsString>,
    pub(crate) preread: &'p mut Prereads,
    pub(crate) folded: &'p FoldedDirs,
    /// For plugins paused by hand, whose TASKs wait unclaimed.
    pub(crate) health: &'p mut Healths,
    pub(crate) ledger: &'p SharedLedger,
}

/// At most this many names wait for a scan that looks only at them; past that (a burst of
/// events), the next scan lists the inbox instead, which then costs about as much.
const MAX_NOTED: usize = 10_000;

/// The inbox stage's own state: inbox files that do not parse yet, with the (size, mtime)
/// they had and since when they were stable; and, for scans driven by events, the names still
/// to look at and when the inbox was last listed.
pub(crate) struct Inbox {
    unsettled: HashMap<OsString, (u64, SystemTime, Instant)>,
    /// `Some(reconcile_secs)` when scans are driven by events; `None`: every scan lists.
    events: Option<Duration>,
    /// The next scan lists the inbox (set at start, by the watch, and after a failed listing).
    list_due: bool,
    /// When the inbox was last listed in full.
    listed_at: Option<Instant>,
    /// Names a scan driven by events looks at (sorted: names start with their UTC stamp): those
    /// the last listing saw and that have not left since, and those events named. Never an
    /// ignored name, so it stays as small as the work waiting.
    known: BTreeSet<OsString>,
    /// Full listings since start (the serve loop reports them in `/readyz`).
    listings: u64,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            unsettled: HashMap::new(),
            events: None,
            list_due: true,
            listed_at: None,
            known: BTreeSet::new(),
            listings: 0,
        }
    }
}

impl Inbox {
    /// Whether a file is still settling (a scan is due again within the settle time).
    pub(crate) fn settling(&self) -> bool {
        !self.unsettled.is_empty()
    }

    /// Lets the file watch drive the scans: from now on a scan lists the inbox only when
    /// [`Self::list_next`] asked for it, when no listing succeeded yet, or when the last one is
    /// `reconcile` old (the periodic reconcile: a file that came without an event is found
    /// then); otherwise it looks at the names it knows and those [`Self::note`] gave it.
    pub(crate) fn drive_by_events(&mut self, reconcile: Duration) {
        self.events = Some(reconcile);
    }

    /// The next scan lists the whole inbox (an event may have been lost or coalesced).
    pub(crate) fn list_next(&mut self) {
        self.list_due = true;
    }

    /// Names the watch's events named in baton's inbox since the last scan: the next scan
    /// looks at them (a name gone by then is forgotten). Ignored names are left out.
    pub(crate) fn note(&mut self, noted: impl IntoIterator<Item = OsString>) {
        self.known.extend(noted.into_iter().filter(|n| names::classify(n.as_bytes()) != names::Entry::Ignored));
        if self.known.len() > MAX_NOTED {
            self.list_due = true;
        }
    }

    /// How many times the inbox was listed in full since start.
    pub(crate) fn listings(&self) -> u64 {
        self.listings
    }

    /// Whether this scan lists the inbox rather than look at the names it knows.
    fn lists(&self) -> bool {
        match self.events {
            None => true,
            Some(reconcile) => self.list_due || self.listed_at.is_none_or(|t| t.elapsed() >= reconcile),
        }
    }

    /// Claims every inbox file that is ready. Returns how many were claimed, and whether ready
    /// files were left unclaimed (shared claims take a few batches at a time, so that other
    /// hosts get the rest): then scan again after running these.
    pub(crate) fn claim_ready(&mut self, env: Env<'_>) -> Result<(usize, bool), PipelineError> {
        let inbox = env.paths.inbox(&env.cfg.agent);
        let names: Vec<OsString> = if self.lists() {
            match self.list(&inbox)? {
                Some(listed) => listed,
                None => return Ok((0, false)),
            }
        } else {
            self.known.iter().cloned().collect()
        };
        self.claim_among(env, &inbox, names)
    }

    /// Lists the inbox: its names but the ignored ones, sorted, which also become the names
    /// a scan driven by events knows. `None` when the inbox is not there.
    fn list(&mut self, inbox: &Path) -> Result<Option<Vec<OsString>>, PipelineError> {
        let started = Instant::now();
        self.list_due = true; // until this listing succeeds
        let mut listed: Vec<OsString> =
            match baton_home::failpoint::fault("inbox_list", "").and_then(|()| std::fs::read_dir(inbox)) {
                // Ignored names (notes, temp and swap files, dotfiles) are dropped as they are
                // listed: they are never sorted, kept or looked at again.
                Ok(dir) => dir
                    .flatten()
                    .map(|e| e.file_name())
                    .filter(|n| names::classify(n.as_bytes()) != names::Entry::Ignored)
                    .collect(),
                // Moved away or deleted (a sync client replacing the folder, a user tidying up):
                // nothing to claim until it is back, and the watch notices when it is. Not an error
                // that stops the daemon; baton does not make it again behind the user's back.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    baton_home::ratelimit::warn_every(
                        "inbox:missing",
                        &format!("the inbox {} is not there; waiting for it to come back", inbox.display()),
                        "inbox",
                    );
                    return Ok(None);
                }
                Err(e) => return Err(PipelineError::io(inbox, e)),
            };
        // Names start with their UTC stamp: claim oldest first.
        listed.sort_unstable();
        self.known = listed.iter().cloned().collect();
        self.unsettled.retain(|n, _| self.known.contains(n));
        (self.list_due, self.listed_at) = (false, Some(started));
        self.listings += 1;
        Ok(Some(listed))
    }

    /// Claims what is ready among `names` (sorted, none ignored), in order. A name whose file
    /// is gone, or that was claimed out of the inbox, is forgotten; any other stays known.
    fn claim_among(
        &mut self,
        env: Env<'_>,
        inbox: &Path,
        names: Vec<OsString>,
    ) -> Result<(usize, bool), PipelineError> {
        let mut claimed = 0;
        // Shared claims are asked for together after the scan: one statement, one commit. At
        // most two batches are held at a time, so that the other hosts on the same tree get
        // the rest instead of this host taking a whole backlog it runs alone.
        let mut shared_batch: Vec<(std::path::PathBuf, Ready)> = Vec::new();
        let room = match &env.claims {
            crate::leases::Claimer::Shared(shared) => (2 * env.cfg.batch).saturating_sub(shared.held()),
            crate::leases::Claimer::Local(_) => usize::MAX,
        };
        let mut more_ready = false;
        for name in names {
            let path = inbox.join(&name);
            // Shared claims leave claimed files in the inbox: skip those (ours, or another
            // host's) before reading them, or every scan would read the whole inbox again.
            if let crate::leases::Claimer::Shared(shared) = &env.claims
                && shared.skip(&name)
            {
                continue;
            }
            if shared_batch.len() >= room {
                more_ready = true;
                continue;
            }
            let ready = match names::classify(name.as_bytes()) {
                // Refused on sight, unread; a name known from before may have left since.
                names::Entry::SyncConflict(_) => present_or_gone(&path),
                _ => self.is_ready(&path, &name, env.cfg),
            };
            if matches!(ready, Ready::Gone) {
                self.unsettled.remove(&name);
                self.known.remove(&name);
                continue;
            }
            // A TASK for a plugin paused by hand waits here, unclaimed, until it is resumed
            // (`baton status` counts it as held), instead of failing `plugin_paused`; so does
            // one for a plugin whose start-up compile is still running.
            if let Ready::Parsed(pre) = &ready
                && let Some(plugin) = pre.value.get("plugin").and_then(serde_json::Value::as_str)
                && (env.health.held_by_hand(env.ledger, plugin) || baton_home::plugins::waiting_for_compile(plugin))
            {
                self.unsettled.remove(&name);
                continue;
            }
            if !matches!(ready, Ready::No) {
                self.unsettled.remove(&name);
                if matches!(env.claims, crate::leases::Claimer::Shared(_)) {
                    // Claimed or not, the file stays in the inbox: the name stays known, and
                    // `shared.skip` passes over it while it is held.
                    shared_batch.push((path, ready));
                    continue;
                }
                let crate::leases::Claimer::Local(claims) = &env.claims else { continue };
                match claims.claim(&path) {
                    Ok(Some(claim)) => {
                        claimed += 1;
                        self.known.remove(&name);
                        if let Ready::Parsed(pre) = ready {
                            env.preread.keep(claim.key().to_owned(), pre);
                        }
                    }
                    // Another process won it: it left the inbox.
                    Ok(None) => {
                        self.known.remove(&name);
                    }
                    Err(e) => baton_home::ratelimit::warn_every(
                        &format!("claim:{}", e.kind()),
                        &format!("claim failed: {}: {e}", path.display()),
                        "inbox",
                    ),
                }
            }
        }
        claimed += claim_shared(env, shared_batch)?;
        Ok((claimed, more_ready))
    }

    fn is_ready(&mut self, path: &Path, name: &OsString, cfg: &Config) -> Ready {
        if name.to_str().is_none() {
            return present_or_gone(path); // refused on sight
        }
        // Read first, without a stat before: O_NOFOLLOW | O_NONBLOCK and fstat refuse a
        // symlink, a FIFO or anything not a regular file, and the cap a file too large (the
        // claim then refuses it); a file that reads and parses is ready with what was read.
        let (len, mtime) = match baton_fs::read_capped_with_stat(path, cfg.max_file_bytes) {
            Ok((b, st)) => {
                match baton_handoff::strict::parse(&b) {
                    Ok(value) => return Ready::Parsed(Preread::new(value, &st)),
                    // Whole (it is valid JSON), and refused as `invalid` when claimed.
                    Err(baton_handoff::strict::StrictError::DuplicateKey(_)) => return Ready::Yes,
                    Err(_) => {}
                }
                (st.st_size as u64, stat_mtime(&st))
            }
            Err(baton_fs::ReadError::Io { .. }) => {
                let meta = match std::fs::symlink_metadata(path) {
                    Ok(meta) => meta,
                    // Claimed by another process, filed, or removed: nothing to wait for.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ready::Gone,
                    Err(_) => return Ready::No,
                };
                if !meta.is_file() || meta.len() > cfg.max_file_bytes {
                    return Ready::Yes; // refused on sight
                }
                (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH))
            }
            Err(_) => return Ready::Yes, // refused on sight
        };
        let now = Instant::now();
        let entry = self.unsettled.entry(name.clone()).or_insert((len, mtime, now));
        if (entry.0, entry.1) != (len, mtime) {
            *entry = (len, mtime, now);
            return Ready::No;
        }
        if entry.2.elapsed() >= Duration::from_millis(cfg.settle_ms) { Ready::Yes } else { Ready::No }
    }
}

/// Claims ready inbox files as rows of the shared ledger (PostgreSQL), all in one
/// statement. Returns how many are ours now. A copy of a handoff already filed is filed
/// again, with a suffix, unrun.
fn claim_shared(env: Env<'_>, batch: Vec<(std::path::PathBuf, Ready)>) -> Result<usize, PipelineError> {
    let crate::leases::Claimer::Shared(shared) = env.claims else { return Ok(0) };
    if batch.is_empty() {
        return Ok(0);
    }
    let (paths, pres): (Vec<std::path::PathBuf>, Vec<Option<Preread>>) = batch
        .into_iter()
        .map(|(path, ready)| (path, if let Ready::Parsed(pre) = ready { Some(pre) } else { None }))
        .unzip();
    let asked: Vec<(std::path::PathBuf, Option<&serde_json::Value>)> =
        paths.iter().zip(&pres).map(|(p, pre)| (p.clone(), pre.as_ref().map(|p| &p.value))).collect();
    let taken = shared.claim_many(&asked)?;
    drop(asked);
    let mut claimed = 0;
    for ((path, pre), taken) in paths.into_iter().zip(pres).zip(taken) {
        match taken {
            crate::leases::Taken::Claimed { claim, suspect } => {
                if suspect && let Some(name) = claim.path.file_name() {
                    env.suspects.insert(name.to_owned());
                }
                if let Some(pre) = pre {
                    env.preread.keep(claim.key().to_owned(), pre);
                }
                claimed += 1;
            }
            crate::leases::Taken::Not => {}
            crate::leases::Taken::Filed => file_resurrected(env.cfg, env.paths, env.folded, &path),
        }
    }
    Ok(claimed)
}

/// Files a copy of a handoff whose original was filed (brought back by the sync) into
/// `02_processed/` under a suffixed name, without running it.
fn file_resurrected(cfg: &Config, paths: &Paths, folded: &FoldedDirs, path: &Path) {
    let dir = paths.processed(&cfg.agent);
    let name = path.file_name().unwrap_or_default();
    let placed = folded.place(&dir, name, |candidate| match baton_fs::rename_noreplace(path, &dir.join(candidate)) {
        Ok(()) => Ok(Some(())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    });
    match placed {
        Ok((placed, ())) => {
            tracing::info!(file = %path.display(), filed = %dir.join(placed).display(), "a copy of a handoff already filed (brought back by the sync) was filed, not run");
            let _ = baton_fs::sync_dir(&dir);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!(file = %path.display(), "cannot file a copy of a handoff already filed: {e}"),
    }
}

/// Ready if `path` is there (a name refused on sight, which is never read), gone if not. Any
/// other error than "not found" counts as there: the claim then says what is wrong.
fn present_or_gone(path: &Path) -> Ready {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ready::Gone,
        _ => Ready::Yes,
    }
}

/// A file's mtime from its `fstat`, as `Metadata::modified` gives it.
// The casts look redundant on Linux; `stat`'s field types differ on macOS (`st_dev` is `i32`).
#[allow(clippy::unnecessary_cast)]
fn stat_mtime(st: &rustix::fs::Stat) -> SystemTime {
    let (secs, nanos) = (st.st_mtime as i64, st.st_mtime_nsec as u32);
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos as u64)
    }
}

/// What the readiness check found.
enum Ready {
    No,
    /// Not there (any more): the name is forgotten.
    Gone,
    /// Ready, and to be read by the claim (refused on sight, settled, a conflict copy).
    Yes,
    /// Ready: read and parsed; what it read travels with the claim.
    Parsed(Preread),
}

#[cfg(test)]
mod tests {
    //! The readiness check on files in a temporary folder: no home, no ledger.
    use std::os::unix::ffi::OsStringExt;
    use std::time::Duration;

    use super::*;

    fn cfg(settle_ms: u64) -> Config {
        Config { settle_ms, max_file_bytes: 1024, ..Config::default() }
    }

    #[test]
    fn a_file_that_parses_is_ready_at_once_with_what_was_read() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.json");
        std::fs::write(&path, br#"{"plugin": "echo"}"#).unwrap();
        let mut inbox = Inbox::default();
        match inbox.is_ready(&path, &"t.json".into(), &cfg(60_000)) {
            Ready::Parsed(pre) => assert_eq!(pre.value["plugin"], "echo"),
            _ => panic!("a whole JSON file is ready with its parse"),
        }
        assert!(!inbox.settling());
    }

    #[test]
    fn a_file_that_does_not_parse_is_ready_once_it_stops_changing() {
        // Each "not yet" is asked right after a change, well inside the settle time, and each
        // "ready" after sleeping past it: sleeps only ever overrun, so this cannot flake.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("t.json");
        let name: OsString = "t.json".into();
        std::fs::write(&path, b"{\"plugin\": ").unwrap();
        let mut inbox = Inbox::default();
        let cfg = cfg(1000);
        assert!(matches!(inbox.is_ready(&path, &name, &cfg), Ready::No), "just seen: not settled");
        assert!(inbox.settling());
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&path, b"{\"plugin\": \"ec").unwrap();
        assert!(matches!(inbox.is_ready(&path, &name, &cfg), Ready::No), "it grew: the wait starts again");
        std::thread::sleep(Duration::from_millis(1050));
        assert!(matches!(inbox.is_ready(&path, &name, &cfg), Ready::Yes), "settled: claimed, then refused");
    }

    /// Driven by events, a scan lists the inbox only when one is due: never listed yet, asked
    /// for, or `reconcile` old. A listing drops the ignored names and knows the others, sorted;
    /// names events give are known too, ignored ones left out. `serve --once` lists each scan.
    #[test]
    fn driven_by_events_a_scan_lists_the_inbox_only_when_one_is_due() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..1000 {
            std::fs::write(d.path().join(format!("note-{i}.txt")), b"").unwrap();
            std::fs::write(d.path().join(format!(".x-{i}.json")), b"").unwrap();
        }
        let (b, a) = ("20260118T070952Z__TASK__b__A.json", "20260118T070951Z__TASK__a__A.json");
        for name in [b, a] {
            std::fs::write(d.path().join(name), b"{}").unwrap();
        }
        let mut inbox = Inbox::default();
        assert!(inbox.lists(), "not driven by events: every scan lists");
        inbox.drive_by_events(Duration::from_secs(600));
        assert!(inbox.lists(), "never listed yet");
        let listed = inbox.list(d.path()).unwrap().expect("the inbox is there");
        assert_eq!(listed, [OsString::from(a), OsString::from(b)], "oldest first, no ignored name");
        assert_eq!((inbox.listings(), inbox.lists()), (1, false));
        inbox.note([OsString::from("more.txt"), OsString::from("20260118T070953Z__TASK__c__A.json")]);
        assert_eq!(inbox.known.len(), 3, "{:?}", inbox.known);
        assert!(!inbox.lists(), "an event names what to look at");
        inbox.list_next();
        assert!(inbox.lists(), "an event may have been lost");
        assert!(inbox.list(&d.path().join("gone")).unwrap().is_none());
        assert!(inbox.lists(), "a listing that found no inbox is due again");

        let mut periodic = Inbox::default();
        periodic.drive_by_events(Duration::ZERO);
        periodic.list(d.path()).unwrap();
        assert!(periodic.lists(), "the periodic reconcile is due");
    }

    #[test]
    fn what_is_refused_on_sight_is_ready_at_once() {
        let d = tempfile::tempdir().unwrap();
        let big = d.path().join("big.json");
        std::fs::write(&big, vec![b' '; 2048]).unwrap();
        let dir = d.path().join("dir.json");
        std::fs::create_dir(&dir).unwrap();
        let dup = d.path().join("dup.json");
        std::fs::write(&dup, br#"{"a": 1, "a": 2}"#).unwrap();
        let mut inbox = Inbox::default();
        let cfg = cfg(60_000);
        for (path, why) in [(&big, "over max_file_bytes"), (&dir, "not a file"), (&dup, "a duplicate key")] {
            let name = path.file_name().unwrap().to_owned();
            assert!(matches!(inbox.is_ready(path, &name, &cfg), Ready::Yes), "{why}");
        }
        let not_utf8 = OsString::from_vec(b"t\xff.json".to_vec());
        std::fs::write(d.path().join(&not_utf8), b"{}").unwrap();
        assert!(matches!(inbox.is_ready(&d.path().join(&not_utf8), &not_utf8, &cfg), Ready::Yes));
        assert!(!inbox.settling());
    }

    /// A name known from an earlier scan whose file left since (claimed by another process,
    /// filed, removed) is gone, whatever its name: the scan forgets it rather than wait for it.
    #[test]
    fn a_name_whose_file_left_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let mut inbox = Inbox::default();
        let cfg = cfg(60_000);
        let not_utf8 = OsString::from_vec(b"t\xff.json".to_vec());
        for name in [OsString::from("20260118T070951Z__TASK__a__A.json"), not_utf8] {
            assert!(matches!(inbox.is_ready(&d.path().join(&name), &name, &cfg), Ready::Gone), "{name:?}");
        }
        let conflict = d.path().join("20260118T070951Z__TASK__a__A (conflicted copy).json");
        assert!(matches!(present_or_gone(&conflict), Ready::Gone));
        assert!(!inbox.settling());
    }
}
