//! The spares a running `serve` keeps in its agent folder's `.baton-tmp/`, on a thread of its
//! own: the TASKs agents send it and the RETURNs it stages are written over them, so the sync
//! each needs before its name is a data write, not a journal commit (`baton_fs::spares` says
//! why and how).
//!
//! Only the daemon keeps them: a round trip waits on those syncs there. A drain (`serve
//! --once`) syncs its groups together and has no one waiting on one file; spares made for it
//! would only double its writes. The supply is topped up to [`KEEP`] when it falls to [`LOW`],
//! at most once per [`PAUSE`]: a burst of work uses what is there and then writes new files as
//! before, and never pays for twice its own writes.
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Spares kept: a few seconds of agents' round trips.
const KEEP: usize = 32;
/// Topped up when this few are left.
const LOW: usize = 16;
/// At most one top-up in this long.
const PAUSE: Duration = Duration::from_millis(100);

/// The thread that keeps the spares, and the way to wake it.
pub(crate) struct Keeper {
    wake: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    /// Starts keeping spares in `dir` (the first top-up at once). `None` where spares are off
    /// (`baton_fs::spares`) or no thread can be made: every write is then a new file.
    pub(crate) fn start(dir: PathBuf) -> Option<Self> {
        if !baton_fs::spares::enabled() {
            return None;
        }
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let _ = wake.try_send(());
        let thread = std::thread::Builder::new().name("baton-spares".into()).spawn(move || run(&dir, &woken));
        match thread {
            Ok(thread) => Some(Keeper { wake: Some(wake), thread: Some(thread) }),
            Err(e) => {
                tracing::debug!("no thread to keep spares ({e}); new handoffs are new files");
                None
            }
        }
    }

    /// Some spares were used: the keeper looks (never blocks; wakes pending are one).
    pub(crate) fn used(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(dir: &std::path::Path, woken: &mpsc::Receiver<()>) {
    while woken.recv().is_ok() {
        if let Err(e) = baton_fs::spares::top_up(dir, LOW, KEEP) {
            // Only speed is lost: a write without a spare is a new file, as it always was.
            baton_home::ratelimit::warn_every(
                "spares",
                &format!("cannot make spare files in {}: {e}", dir.display()),
                "serve",
            );
        }
        std::thread::sleep(PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keeper fills an empty folder at start, and again once writers took most spares.
    #[test]
    fn keeps_the_supply_between_low_and_keep() {
        if !baton_fs::spares::enabled() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join(".baton-tmp");
        let keeper = Keeper::start(dir.clone()).unwrap();
        let count = || baton_fs::spares::count(&dir);
        let until = |want: usize| {
            let t = std::time::Instant::now();
            while count() != want && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            count()
        };
        assert_eq!(until(KEEP), KEEP);
        // Writers take spares down to LOW + 1: nothing is made.
        let written = std::cell::Cell::new(0);
        let take = |n: usize| {
            for _ in 0..n {
                let u = baton_fs::Unwritten::write_handoff(d.path(), &dir, b"{}\n").unwrap();
                written.set(written.get() + 1);
                assert!(u.publish(&d.path().join(format!("h{}", written.get()))).unwrap());
                assert_eq!(std::fs::read(d.path().join(format!("h{}", written.get()))).unwrap(), b"{}\n");
            }
        };
        take(KEEP - LOW - 1);
        keeper.used();
        std::thread::sleep(PAUSE * 3);
        assert_eq!(count(), LOW + 1);
        // One more, and the keeper tops up.
        take(1);
        keeper.used();
        assert_eq!(until(KEEP), KEEP);
        drop(keeper);
    }
}
