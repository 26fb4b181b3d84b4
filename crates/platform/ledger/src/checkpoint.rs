//! The SQLite ledger's WAL checkpoints, moved off the writer's thread for a long-lived writer
//! (`serve`).
//!
//! SQLite checkpoints after the commit that takes the WAL past 1,000 pages, on the thread
//! that committed: it copies the pages into the database file and syncs it. In `serve` that
//! thread is the pipeline's, and the commit is a TASK's intake, before its plugin runs: under a
//! steady stream of `send --wait`, one TASK in about forty waited for a checkpoint (a commit
//! writes ~26 pages to the WAL; `bench/runs/2026-11-27/agents-night.md`). A `PASSIVE`
//! checkpoint from a connection of its own blocks no writer and no reader, so here a thread
//! runs one every [`EVERY`], and the writer's own are turned off only once that thread's
//! connection is open. Durability does not change: a commit is durable in the WAL
//! (synchronous = FULL) whoever copies it into the file later.
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// How often the thread checkpoints: a busy `serve` writes ~1,000 WAL pages in about this long,
/// the size at which SQLite would have checkpointed on its own.
pub(crate) const EVERY: Duration = Duration::from_millis(500);

/// The thread, stopped and joined when dropped (with the ledger that started it); the writer's
/// connection, closed after it, checkpoints what is left as SQLite always does at close.
pub(crate) struct Checkpointer {
    /// Dropped to stop the thread: its wait then ends at once.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`, then turns `writer`'s automatic checkpoints
    /// off. `None` (and `writer` as it was) when the thread or its connection cannot be had.
    pub(crate) fn start(path: &Path, writer: &Connection) -> Option<Checkpointer> {
        let conn = match baton_store::sqlite::open_wal(path, "FULL") {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(file = %path.display(), "checkpoints stay on the writer's thread: {e}");
                return None;
            }
        };
        let (stop, stopped) = mpsc::channel();
        let file: PathBuf = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("baton-checkpoint".into())
            .spawn(move || run(&conn, &file, &stopped))
            .inspect_err(|e| tracing::debug!("checkpoints stay on the writer's thread: {e}"))
            .ok()?;
        if let Err(e) = writer.pragma_update(None, "wal_autocheckpoint", 0) {
            tracing::debug!("checkpoints stay on the writer's thread: {e}");
        }
        Some(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

/// One `PASSIVE` checkpoint each [`EVERY`] until the [`Checkpointer`] is dropped.
fn run(conn: &Connection, file: &Path, stopped: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        if let Err(e) = done {
            tracing::debug!(file = %file.display(), "a background checkpoint failed, the next one tries again: {e}");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Ledger;
    use crate::tests::row;

    /// With the checkpoints on their thread, the writer's commits never copy the WAL into the
    /// file (its automatic checkpoints are off), and the file still gets every page: the
    /// thread copies them. The rows are all there after a reopen.
    #[test]
    fn the_thread_checkpoints_what_the_writer_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baton.sqlite");
        let mut l = Ledger::open(&path).unwrap();
        l.checkpoint_in_background();
        let crate::Backend::Sqlite(s) = &l.backend else { unreachable!() };
        let auto: i64 = s.conn().query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(auto, 0, "the writer's own checkpoints are off");
        let before = std::fs::metadata(&path).unwrap().len();
        // Far past the 1,000 pages at which the writer would have checkpointed itself.
        for i in 0..400 {
            l.batch(|b| b.insert_task(&row(&format!("t{i:04}-{}", "x".repeat(2000))))).unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= before {
            assert!(std::time::Instant::now() < deadline, "no checkpoint reached the file in 10 s");
            std::thread::sleep(super::EVERY / 5);
        }
        drop(l);
        let l = Ledger::open(&path).unwrap();
        assert!(l.task(&format!("t0399-{}", "x".repeat(2000))).unwrap().is_some(), "every commit kept");
    }
}
