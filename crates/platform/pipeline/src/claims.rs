//! Claims: how one process takes exclusive ownership of an inbox file.
//!
//! A claim is an atomic `rename` of the inbox file into this process's work folder
//! `<inbox agent>/.claims/<instance>/`, under the name `<claim-id>~<original name>`. Only one
//! process can win the rename. The claim id (`<UTC stamp>-<random>`) names everything the task
//! produces, so a re-run after a crash recreates the same names and `create_new` refuses to
//! write them twice. An original name too long to fit beside the id (over `NAME_MAX` in all)
//! is claimed as `<claim-id>~~long`, its name kept in `<claim-id>.name` beside it, written
//! before the rename and moved before the claim on takeover.
//!
//! Each process holds an exclusive `flock` on `.claims/<instance>.lock` for its lifetime. A
//! process that can take that lock knows the owner is dead and moves its claims over. The
//! lock file is created as `<instance>.locking`, locked, and only then renamed to its final
//! name, so no other process can ever take (and delete) a live process's lock.
use baton_sync::Locked;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

pub struct Claims {
    root: PathBuf,
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

/// A claimed file: where it is now, its claim id, and its original name.
#[derive(Debug, Clone)]
pub struct Claim {
    pub path: PathBuf,
    pub id: String,
    pub original: OsString,
    /// `<id>~<original>`, made once: it is looked up several times per handoff.
    key: String,
}

/// The longest file name the file systems baton supports allow (Linux and macOS: 255 bytes).
const NAME_MAX: usize = 255;
/// The claim-file suffix that says "the original name is in `<claim-id>.name`".
const LONG: &str = "~long";

impl Claim {
    pub fn new(path: PathBuf, id: String, original: OsString) -> Self {
        let key = format!("{}~{}", id, original.to_string_lossy());
        Claim { path, id, original, key }
    }
    /// The claim's file name (`<id>~<original>`): unique, and stable across takeovers.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The UTC stamp part of the claim id.
    pub fn stamp(&self) -> &str {
        self.id.split('-').next().unwrap_or(&self.id)
    }
    /// The tail of the claim's ULID: unique enough to tell two RETURN names apart.
    pub fn nonce(&self) -> &str {
        let ulid = self.id.split_once('-').map(|(_, r)| r).unwrap_or("");
        &ulid[ulid.len().saturating_sub(crate::outbox::NONCE_LEN)..]
    }
    /// Where a long original name is kept, beside the claim.
    fn name_file(&self) -> PathBuf {
        self.path.with_file_name(format!("{}.name", self.id))
    }
}

impl Claims {
    /// Creates this process's work folder under `<inbox agent dir>/.claims/` and locks it.
    pub fn open(agent_dir: &Path) -> io::Result<Self> {
        let root = agent_dir.join(".claims");
        baton_fs::ensure_dir(&root)?;
        let instance = format!("{}-{}", std::process::id(), ulid::Ulid::new());
        let (mut lock, pending) = lock_unpublished(&root, &instance)?;
        // Who holds it, for `baton status` (whether a `serve` runs; whose claims these are).
        let about = serde_json::json!({
            "pid": std::process::id(),
            "started_at": baton_handoff::stamp::rfc3339(baton_handoff::stamp::now()),
            "args": std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
        });
        std::io::Write::write_all(&mut lock, about.to_string().as_bytes())?;
        let dir = root.join(&instance);
        fs::create_dir(&dir)?;
        // Published only now, already locked: a takeover can never see it unlocked.
        let lock_path = root.join(format!("{instance}.lock"));
        fs::rename(&pending, &lock_path)?;
        baton_fs::sync_dir(&root)?;
        Ok(Claims { root, dir, lock_path, _lock: lock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Claims an inbox file. `Ok(None)` if another process got it first.
    pub fn claim(&self, inbox_file: &Path) -> io::Result<Option<Claim>> {
        let original = inbox_file.file_name().unwrap_or_default().to_owned();
        let id = new_claim_id();
        let mut name = OsString::from(&id);
        name.push("~");
        let long = id.len() + 1 + original.len() > NAME_MAX;
        if long {
            name.push(LONG);
        } else {
            name.push(&original);
        }
        let claim = Claim::new(self.dir.join(name), id, original);
        if long {
            baton_fs::create_new(&claim.name_file(), claim.original.as_bytes(), true)?;
        }
        match baton_fs::rename_noreplace(inbox_file, &claim.path) {
            Ok(()) => Ok(Some(claim)),
            Err(e) => {
                if long {
                    let _ = fs::remove_file(claim.name_file());
                }
                if e.kind() == io::ErrorKind::NotFound { Ok(None) } else { Err(e) }
            }
        }
    }

    /// Drops what the claim kept beside it, once the claimed file has been filed.
    pub fn release(&self, claim: &Claim) {
        if claim.path.file_name().is_some_and(|n| n.as_bytes().ends_with(LONG.as_bytes())) {
            let _ = fs::remove_file(claim.name_file());
        }
    }

    /// Every claim currently in this process's work folder.
    pub fn list(&self) -> io::Result<Vec<Claim>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(c) = parse_claim(entry.path()) {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The nonces of every claim under `.claims/`: this process's, live processes' and dead
    /// ones' not yet taken over (what the outbox's sweep keeps marks for).
    pub fn all_nonces(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        let Ok(dirs) = fs::read_dir(&self.root) else { return out };
        for dir in dirs.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            for entry in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                if let Some(c) = parse_claim(entry.path()) {
                    out.insert(c.nonce().to_string());
                }
            }
        }
        out
    }

    /// Where renames are `link` then `unlink` (macOS fallbacks, `portable`), a process killed
    /// between the two while claiming leaves the TASK both claimed and in the inbox, as two
    /// links to one file. The claim is the one that counts: the inbox link goes, or the TASK
    /// would be claimed again and filed twice.
    fn drop_stale_inbox_link(&self, claim_path: &Path) {
        let Some(claim) = parse_claim(claim_path.to_path_buf()) else { return };
        let Some(agent_dir) = self.root.parent() else { return };
        let inbox = agent_dir.join(baton_home::config::INBOX).join(&claim.original);
        if baton_fs::same_file(&inbox, claim_path) {
            let _ = fs::remove_file(&inbox);
        }
    }

    /// Moves the claims of dead processes into this one's work folder. Returns the claim file
    /// names moved.
    pub fn take_over_dead(&self) -> io::Result<Vec<OsString>> {
        let mut moved = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let path = entry?.path();
            let ext = path.extension();
            if ext == Some(OsStr::new("opening")) {
                // A process died between creating and publishing its lock: nothing is in it.
                let stale = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > OPENING_STALE));
                if stale
                    && let Ok(file) = File::options().write(true).open(&path)
                    && flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok()
                {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            if path == self.lock_path || !(ext == Some(OsStr::new("lock")) || ext == Some(OsStr::new("locking"))) {
                continue;
            }
            let Ok(file) = File::options().write(true).open(&path) else { continue };
            if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue; // its owner is alive
            }
            let dead_dir = path.with_extension("");
            if let Ok(entries) = fs::read_dir(&dead_dir) {
                // Kept names first, so a claim is never visible without its `.name`.
                let mut entries: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
                entries.sort_by_key(|n| !n.as_bytes().ends_with(b".name"));
                for name in entries {
                    let (from, to) = (dead_dir.join(&name), self.dir.join(&name));
                    match baton_fs::rename_noreplace(&from, &to) {
                        Ok(()) if !name.as_bytes().ends_with(b".name") => {
                            self.drop_stale_inbox_link(&to);
                            moved.push(name)
                        }
                        Ok(()) => {}
                        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                        // Where renames are `link` then `unlink` (macOS fallbacks, `portable`), a
                        // taker killed between the two leaves one claim as two links, in two dead
                        // folders. The first folder taken over moved it here; the other link is
                        // stale. Claim names are unique, so any other clash is left where it is.
                        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                            if baton_fs::same_file(&from, &to) {
                                fs::remove_file(&from)?;
                            } else {
                                tracing::warn!(file = %from.display(), "a claim of that name is already here; left in place");
                            }
                        }
                        Err(err) => return Err(err),
                    }
                }
                // Empty now; a leftover entry (not ours to judge) keeps the folder.
                let _ = fs::remove_dir(&dead_dir);
            }
            if fs::read_dir(&dead_dir).is_err() {
                let _ = fs::remove_file(&path);
            }
            tracing::info!(from = %dead_dir.display(), moved = moved.len(), "took over the claims of a dead process");
        }
        if !moved.is_empty() {
            baton_fs::sync_dir(&self.dir)?;
        }
        Ok(moved)
    }
}

/// One process's claims folder under `.claims/`, as `baton status` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Owner {
    /// `<pid>-<ULID>`: the folder's name.
    pub instance: String,
    pub pid: Option<u32>,
    /// Whether the process still holds its lock (it runs); `false`: it stopped, and the next
    /// process on this inbox takes its claims over.
    pub alive: bool,
    /// Its command line after the program name, as it recorded it (older lock files: empty).
    pub args: Vec<String>,
    pub started_at: Option<String>,
    /// Claimed files in its folder.
    pub claims: usize,
}

impl Owner {
    /// Whether this is a `baton serve` (the daemon, or a `--once` drain).
    pub fn is_serve(&self) -> bool {
        self.args.iter().any(|a| a == "serve")
    }
}

/// Every process folder under `<agent_dir>/.claims/`, live or stopped, by instance. Reads
/// only: a lock is tested with a shared, non-blocking lock released at once.
pub fn owners(agent_dir: &Path) -> Vec<Owner> {
    let root = agent_dir.join(".claims");
    let mut out = std::collections::BTreeMap::<String, Owner>::new();
    let Ok(entries) = fs::read_dir(&root) else { return Vec::new() };
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        let (instance, is_dir) = if e.file_type().is_ok_and(|t| t.is_dir()) {
            (name, true)
        } else if let Some(i) = name.strip_suffix(".lock").or_else(|| name.strip_suffix(".locking")) {
            (i.to_string(), false)
        } else {
            continue;
        };
        let owner = out.entry(instance.clone()).or_insert_with(|| Owner {
            pid: instance.split('-').next().and_then(|p| p.parse().ok()),
            instance,
            alive: false,
            args: Vec::new(),
            started_at: None,
            claims: 0,
        });
        if is_dir {
            owner.claims = fs::read_dir(&path)
                .map(|d| d.flatten().filter(|c| c.file_name().as_bytes().contains(&b'~')).count())
                .unwrap_or(0);
            continue;
        }
        let Ok(file) = File::open(&path) else { continue };
        owner.alive = match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = flock(&file, FlockOperation::Unlock);
                false
            }
            Err(_) => true,
        };
        if let Ok(v) = fs::read(&path).map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default()) {
            owner.args =
                v["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect();
            owner.started_at = v["started_at"].as_str().map(str::to_string);
        }
    }
    out.into_values().collect()
}

impl Drop for Claims {
    fn drop(&mut self) {
        // Leave nothing behind when clean; a non-empty folder stays for the next process.
        if fs::remove_dir(&self.dir).is_ok() {
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

/// `<UTC stamp>-<ULID>`: sorts in claim order (the ULID is monotonic within a process).
pub fn new_claim_id() -> String {
    static GEN: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut g = GEN.locked();
    let ulid = g.get_or_insert_with(ulid::Generator::new).generate().unwrap_or_else(|_| ulid::Ulid::new());
    format!("{}-{ulid}", baton_handoff::stamp::file_stamp(baton_handoff::stamp::now()))
}

/// Creates `<instance>.locking`, locked, without a moment where it is visible unlocked: the
/// file is created as `<instance>.opening` (a name takeovers leave alone while it is young),
/// locked, and only then renamed. Created and locked under one name, a takeover running in
/// between could lock it first, take this live process for a dead one, and remove its lock
/// file; this process's own lock then failed with EAGAIN.
fn lock_unpublished(root: &Path, instance: &str) -> io::Result<(File, PathBuf)> {
    let opening = root.join(format!("{instance}.opening"));
    let lock = File::options().write(true).create_new(true).open(&opening)?;
    flock(&lock, FlockOperation::NonBlockingLockExclusive)?;
    let pending = root.join(format!("{instance}.locking"));
    fs::rename(&opening, &pending)?;
    Ok((lock, pending))
}

/// A `.opening` file older than this was left by a process that died while starting.
const OPENING_STALE: std::time::Duration = std::time::Duration::from_secs(60);

fn parse_claim(path: PathBuf) -> Option<Claim> {
    let name = path.file_name()?.as_bytes();
    let tilde = name.iter().position(|&b| b == b'~')?;
    let id = std::str::from_utf8(&name[..tilde]).ok()?.to_string();
    let rest = &name[tilde + 1..];
    let original = if rest == LONG.as_bytes() {
        // Written before the claim and moved before it: present unless removed by hand.
        let kept = fs::read(path.with_file_name(format!("{id}.name"))).unwrap_or_else(|_| rest.to_vec());
        OsString::from_vec(kept)
    } else {
        OsStr::from_bytes(rest).to_owned()
    };
    Some(Claim::new(path, id, original))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_claim_wins_and_dead_claims_are_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join(baton_home::config::INBOX);
        fs::create_dir(&inbox).unwrap();
        fs::write(inbox.join("t.json"), "{}").unwrap();
        let a = Claims::open(d.path()).unwrap();
        let b = Claims::open(d.path()).unwrap();
        let c = a.claim(&inbox.join("t.json")).unwrap().unwrap();
        assert!(b.claim(&inbox.join("t.json")).unwrap().is_none());
        assert_eq!(c.original, OsString::from("t.json"));
        // a is alive: b cannot take its claims
        assert!(b.take_over_dead().unwrap().is_empty());
        // simulate a's death: drop its lock without cleaning up its folder
        let a_dir = a.dir.clone();
        std::mem::forget(a); // keeps the folder; the File is leaked, so release the lock by hand
        let lock = a_dir.with_extension("lock");
        let f = File::open(&lock).unwrap();
        drop(f);
        // The leaked fd still holds the flock in this process; reopen-and-lock from b fails.
        // So emulate a separate dead process by unlocking via a fresh lock file swap.
        fs::remove_file(&lock).unwrap();
        File::create(&lock).unwrap();
        assert_eq!(b.take_over_dead().unwrap().len(), 1);
        let claims = b.list().unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].key(), c.key());
        assert!(!a_dir.exists());
    }

    #[test]
    fn a_takeover_never_sees_a_lock_before_it_is_held() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join(".claims");
        fs::create_dir_all(&root).unwrap();
        // A process half-way through `open`: its lock file exists, locked, not yet published.
        let (held, pending) = lock_unpublished(&root, "1-opening").unwrap();
        fs::create_dir(root.join("1-opening")).unwrap();
        let other = Claims::open(d.path()).unwrap();
        assert!(other.take_over_dead().unwrap().is_empty());
        assert!(pending.exists() && root.join("1-opening").exists(), "a lock held by a live process is never removed");
        fs::rename(&pending, root.join("1-opening.lock")).unwrap();
        assert!(other.take_over_dead().unwrap().is_empty());
        assert!(root.join("1-opening.lock").exists());
        // Once its owner is gone, the leftover is taken over and cleaned.
        drop(held);
        other.take_over_dead().unwrap();
        assert!(!root.join("1-opening.lock").exists() && !root.join("1-opening").exists());
        // A crash between creating and publishing leaves a `.locking` file: cleaned up too.
        let (held, pending) = lock_unpublished(&root, "2-crashed").unwrap();
        drop(held);
        other.take_over_dead().unwrap();
        assert!(!pending.exists());
    }

    #[test]
    fn a_claim_left_as_two_links_by_a_cut_off_portable_rename_is_taken_over_once() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join(".claims");
        fs::create_dir_all(&root).unwrap();
        // Taker "2" was killed between `link` and `unlink` while taking over dead "1": the
        // claim is in both dead folders, as two links to one file.
        for dead in ["1-dead", "2-dead"] {
            fs::create_dir(root.join(dead)).unwrap();
            File::create(root.join(format!("{dead}.lock"))).unwrap();
        }
        let claim = "20260118T070951Z-01ABC~20260118T070951Z__TASK__T1__A.json";
        fs::write(root.join("1-dead").join(claim), "{}").unwrap();
        fs::hard_link(root.join("1-dead").join(claim), root.join("2-dead").join(claim)).unwrap();
        let me = Claims::open(d.path()).unwrap();
        let moved = me.take_over_dead().unwrap();
        assert_eq!(moved, vec![OsString::from(claim)], "taken over once");
        assert_eq!(me.list().unwrap().len(), 1);
        assert!(!root.join("1-dead").exists() && !root.join("2-dead").exists(), "both stale links are gone");
    }

    #[test]
    fn a_name_too_long_to_sit_beside_the_claim_id_is_claimed_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join(baton_home::config::INBOX);
        fs::create_dir(&inbox).unwrap();
        let long = format!("{}.json", "x".repeat(245));
        fs::write(inbox.join(&long), "{}").unwrap();
        let a = Claims::open(d.path()).unwrap();
        let c = a.claim(&inbox.join(&long)).unwrap().unwrap();
        assert_eq!(c.original, OsString::from(&long));
        let listed = a.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].original.clone(), listed[0].key()), (OsString::from(&long), c.key()));
        fs::rename(&c.path, d.path().join(&long)).unwrap();
        a.release(&c);
        assert_eq!(fs::read_dir(a.dir()).unwrap().count(), 0);
    }
}
