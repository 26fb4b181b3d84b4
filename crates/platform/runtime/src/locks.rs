//! The plugins' named locks (`lock-acquire`/`lock-release`): the [`NamedLocks`] contract, and
//! [`FileLocks`], the default, which holds across every baton process on the machine: one lock
//! file per (plugin, name), held with `flock`, released when the task ends (or its process dies).
//! Another implementation (advisory locks on a shared PostgreSQL ledger, in `baton-pipeline`)
//! makes them hold across machines; the runtime takes it with [`crate::Runtime::set_locks`].
//!
//! A lock belongs to the task that took it: another task of the same plugin can neither
//! release it nor take it over. Lock files are removed when released, by their holder, and
//! only if the path still names the file it locked (same inode); a process that locked a file
//! that was unlinked meanwhile sees that its path now names another file, and tries again.
//!
//! A lock that can be lost while held (its database session ended) raises the task's
//! [`LockAlarm`]: the runtime then ends the task as `transient` at once.
use baton_sync::Locked;
use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

/// What `acquire` returns: a boxed future, so the contract can be used as `dyn NamedLocks`.
pub type Acquiring<'a> = Pin<Box<dyn Future<Output = Result<(), LockError>> + Send + 'a>>;

/// Why a lock was not taken; the plugin gets the message (`lock-acquire`'s error).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock folder {}: {source}", dir.display())]
    Folder { dir: PathBuf, source: std::io::Error },
    #[error("lock file {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    /// Another task holds it, still at the deadline.
    #[error("lock `{name}` is held elsewhere; gave up after {timeout:?}")]
    Busy { name: String, timeout: Duration },
    /// Another implementation's own failure (the shared advisory locks' server), as it says it.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Named locks for plugins. Owner = the task id: only the owner releases; everything an owner
/// holds is released when its task ends ([`NamedLocks::release_owner`]).
pub trait NamedLocks: Send + Sync + 'static {
    /// Waits up to `timeout` for the lock, for the task `owner`. If the lock can be lost
    /// while held, losing it raises `alarm`.
    fn acquire<'a>(
        &'a self,
        plugin: &'a str,
        owner: &'a str,
        name: &'a str,
        timeout: Duration,
        alarm: &'a Arc<LockAlarm>,
    ) -> Acquiring<'a>;
    /// Releases the lock if `owner` holds it; a lock held by another task is left alone.
    /// Returns whether it was released.
    fn release(&self, plugin: &str, owner: &str, name: &str) -> bool;
    /// Releases every lock of `plugin` that `owner` holds.
    fn release_owner(&self, plugin: &str, owner: &str);
    /// Releases every lock of `names` that `owner` holds (the task ended).
    fn release_all(&self, plugin: &str, owner: &str, names: &[String]) {
        for n in names {
            self.release(plugin, owner, n);
        }
    }
}

/// Raised when a task loses a lock it holds (the session that held it ended): the task must
/// stop, since another host may be inside the lock now. One per task.
#[derive(Default)]
pub struct LockAlarm {
    reason: Mutex<Option<String>>,
    raised: tokio::sync::Notify,
}

impl LockAlarm {
    /// Raises the alarm (the first reason is kept).
    pub fn raise(&self, reason: String) {
        let mut r = self.reason.locked();
        if r.is_none() {
            *r = Some(reason);
        }
        drop(r);
        self.raised.notify_waiters();
    }

    /// Why the alarm was raised, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason.locked().clone()
    }

    /// Resolves with the reason once the alarm is raised.
    pub async fn wait(&self) -> String {
        loop {
            let notified = self.raised.notified();
            if let Some(r) = self.reason() {
                return r;
            }
            notified.await;
        }
    }
}

/// The lock file for (plugin, name) under `dir`. Public so other tools (and tests) can take
/// part in the same locking with a plain `flock` on this file.
pub fn lock_path(dir: &std::path::Path, plugin: &str, name: &str) -> PathBuf {
    // Lock names are free text from the plugin: hash them into a safe file name.
    let digest = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(name.as_bytes())[..16]);
    dir.join(plugin).join(format!("{digest}.lock"))
}

/// A lock this process holds: the task that took it and the locked file.
struct Held {
    owner: String,
    file: File,
    path: PathBuf,
}

/// Per-machine locks: `flock` on a file per (plugin, name) under a folder.
pub struct FileLocks {
    dir: PathBuf,
    /// Open lock files of this process, by (plugin, name). The flock lives as long as the file.
    held: Mutex<HashMap<(String, String), Held>>,
}

/// Whether `path` still names the open `file` (same device and inode).
fn same_file(file: &File, path: &std::path::Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl FileLocks {
    pub fn new(dir: PathBuf) -> Self {
        FileLocks { dir, held: Mutex::default() }
    }

    fn path(&self, plugin: &str, name: &str) -> PathBuf {
        lock_path(&self.dir, plugin, name)
    }

    /// Waits up to `timeout` for the lock, for the task `owner`. Polls, so a waiting plugin
    /// can still be timed out.
    async fn acquire_file(&self, plugin: &str, owner: &str, name: &str, timeout: Duration) -> Result<(), LockError> {
        let key = (plugin.to_string(), name.to_string());
        let deadline = Instant::now() + timeout;
        let path = self.path(plugin, name);
        if let Some(dir) = path.parent() {
            baton_fs::ensure_dir(dir).map_err(|source| LockError::Folder { dir: dir.to_path_buf(), source })?;
        }
        loop {
            {
                let mut held = self.held.locked();
                if let std::collections::hash_map::Entry::Vacant(slot) = held.entry(key.clone()) {
                    let file = File::options()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)
                        .map_err(|source| LockError::File { path: path.clone(), source })?;
                    // Locked, and the path still names this file (its holder did not remove it
                    // between our open and our flock): ours.
                    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() && same_file(&file, &path) {
                        slot.insert(Held { owner: owner.to_string(), file, path: path.clone() });
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(LockError::Busy { name: name.to_string(), timeout });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl NamedLocks for FileLocks {
    fn acquire<'a>(
        &'a self,
        plugin: &'a str,
        owner: &'a str,
        name: &'a str,
        timeout: Duration,
        _: &'a Arc<LockAlarm>,
    ) -> Acquiring<'a> {
        // A file lock is never lost while its process lives: no alarm to raise.
        Box::pin(self.acquire_file(plugin, owner, name, timeout))
    }

    fn release(&self, plugin: &str, owner: &str, name: &str) -> bool {
        let mut held = self.held.locked();
        let key = (plugin.to_string(), name.to_string());
        if held.get(&key).is_some_and(|h| h.owner == owner) {
            if let Some(h) = held.remove(&key) {
                unlock(h);
            }
            return true;
        }
        false
    }

    /// Also for a task abandoned while blocked (its store, which knows the names, is out of
    /// reach on its thread).
    fn release_owner(&self, plugin: &str, owner: &str) {
        let mut held = self.held.locked();
        let mine: Vec<(String, String)> =
            held.iter().filter(|(k, h)| k.0 == plugin && h.owner == owner).map(|(k, _)| k.clone()).collect();
        for k in mine {
            if let Some(h) = held.remove(&k) {
                unlock(h);
            }
        }
    }
}

/// Removes the lock file while still holding it (only if the path still names it), then
/// unlocks by closing it.
fn unlock(h: Held) {
    if same_file(&h.file, &h.path) {
        let _ = std::fs::remove_file(&h.path);
    }
    drop(h.file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_holder_releases_and_the_file_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let locks = FileLocks::new(dir.path().to_path_buf());
        let alarm = Arc::new(LockAlarm::default());
        locks.acquire("p", "task-a", "db", Duration::from_millis(10), &alarm).await.unwrap();
        let path = lock_path(dir.path(), "p", "db");
        assert!(path.exists());
        assert!(!locks.release("p", "task-b", "db"), "another task cannot release it");
        let stolen = locks.acquire("p", "task-b", "db", Duration::from_millis(30), &alarm).await;
        assert!(stolen.is_err(), "nor take it while task-a holds it");
        assert!(path.exists());
        assert!(locks.release("p", "task-a", "db"));
        assert!(!path.exists(), "the lock file is cleaned up on release");
        locks.acquire("p", "task-b", "db", Duration::from_millis(10), &alarm).await.unwrap();
        locks.release_all("p", "task-b", &["db".into()]);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_lock_file_replaced_under_its_holder_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let locks = FileLocks::new(dir.path().to_path_buf());
        locks.acquire("p", "a", "x", Duration::from_millis(10), &Arc::default()).await.unwrap();
        let path = lock_path(dir.path(), "p", "x");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        assert!(locks.release("p", "a", "x"));
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's", "another inode: left alone");
    }
}
