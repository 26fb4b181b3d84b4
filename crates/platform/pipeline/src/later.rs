//! Folder syncs that no promise waits for, done a moment later on a thread of their own.
//!
//! Why: once a group's originals are filed, their folders (`02_processed/`, `03_failed/`, the
//! claims folder) were synced on the pipeline's thread: one more journal commit per TASK in a
//! warm daemon, after its RETURN was already out, beside the next TASK's own syncs. Nothing
//! waits on that sync. A filing that a power loss undoes leaves the original in its claims
//! folder; the next process takes it over, finds its task finished in the ledger (committed,
//! synced, before the filing) and files it again, answering nothing twice (the outbox keeps its
//! own marks, [`crate::outbox`]). So the pipeline hands those folders here: the first one named
//! starts a gathering of [`GATHER`], and each folder named by then is synced once. Dropping
//! [`LaterSyncs`] syncs what is left, so a `serve --once` ends with its filings on the disk.
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the folders named after a first one are gathered before they are synced.
const GATHER: Duration = Duration::from_millis(50);

type SyncFn = dyn Fn(&Path) -> io::Result<()> + Send + Sync;

/// The thread that syncs filed folders, and the way to it.
pub(crate) struct LaterSyncs {
    tx: Option<mpsc::Sender<PathBuf>>,
    thread: Option<JoinHandle<()>>,
    /// Used here when no thread could be made (or it ended): the sync is then done at once.
    sync: std::sync::Arc<SyncFn>,
}

impl Default for LaterSyncs {
    fn default() -> Self {
        Self::start(std::sync::Arc::new(|dir: &Path| baton_fs::sync_dir(dir)))
    }
}

impl LaterSyncs {
    fn start(sync: std::sync::Arc<SyncFn>) -> Self {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let on_thread = sync.clone();
        match std::thread::Builder::new().name("baton-filed-sync".into()).spawn(move || run(&rx, &*on_thread)) {
            Ok(thread) => LaterSyncs { tx: Some(tx), thread: Some(thread), sync },
            Err(e) => {
                tracing::warn!("no thread for the filed folders' syncs ({e}); they are synced at once");
                LaterSyncs { tx: None, thread: None, sync }
            }
        }
    }

    /// Syncs `dirs` within [`GATHER`] (at once if there is no thread).
    pub(crate) fn sync(&self, dirs: impl IntoIterator<Item = PathBuf>) {
        for dir in dirs {
            let unsent = match &self.tx {
                Some(tx) => tx.send(dir).err().map(|mpsc::SendError(dir)| dir),
                None => Some(dir),
            };
            if let Some(dir) = unsent {
                sync_one(&*self.sync, &dir);
            }
        }
    }
}

impl Drop for LaterSyncs {
    fn drop(&mut self) {
        // The thread syncs what it has gathered once the channel closes, then ends.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(rx: &mpsc::Receiver<PathBuf>, sync: &SyncFn) {
    while let Ok(first) = rx.recv() {
        let mut dirs = HashSet::from([first]);
        let until = Instant::now() + GATHER;
        // A timeout, or the channel closed: sync what is gathered.
        while let Ok(dir) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            dirs.insert(dir);
        }
        for dir in &dirs {
            sync_one(sync, dir);
        }
    }
}

/// A failed sync is logged: the filing itself was done, and a power loss before it is on the
/// disk only files the original again (see the module's comment).
fn sync_one(sync: &SyncFn, dir: &Path) {
    if let Err(e) = sync(dir) {
        baton_home::ratelimit::warn_every(
            "sync:filed",
            &format!("cannot sync folder {} after filing: {e}", dir.display()),
            "filing",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `LaterSyncs` whose syncs are recorded (only those made on its thread) and fail for
    /// a folder named `gone`.
    fn recording() -> (LaterSyncs, Arc<Mutex<Vec<PathBuf>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let later = LaterSyncs::start(Arc::new(move |dir: &Path| {
            if std::thread::current().name() == Some("baton-filed-sync") {
                log.lock().unwrap().push(dir.to_path_buf());
            }
            if dir.ends_with("gone") { Err(io::Error::from(io::ErrorKind::NotFound)) } else { Ok(()) }
        }));
        (later, seen)
    }

    #[test]
    fn folders_named_together_are_synced_once_each_and_dropping_syncs_what_is_left() {
        let (later, seen) = recording();
        later.sync([PathBuf::from("a"), PathBuf::from("b"), PathBuf::from("a")]);
        drop(later);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, [PathBuf::from("a"), PathBuf::from("b")]);
    }

    #[test]
    fn a_folder_is_synced_within_the_gathering_without_a_drop() {
        let (later, seen) = recording();
        later.sync([PathBuf::from("gone"), PathBuf::from("c")]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // A failed sync is logged, and the other folder is synced all the same.
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, [PathBuf::from("c"), PathBuf::from("gone")]);
        later.sync([PathBuf::from("d")]);
        drop(later);
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&PathBuf::from("d")),
            "the thread lives on after its first gathering, and syncs the next folder too"
        );
    }
}
