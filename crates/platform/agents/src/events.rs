//! A waiter's file events, read in the waiter's own thread.
//!
//! `send --wait` is one short process whose RETURN usually lands within a millisecond or two of
//! the TASK. A `notify` watcher costs it a thread, and every event then crosses two threads
//! (the watcher's `epoll`, a channel, the waiter's wake-up): on a loaded 2-core machine each
//! crossing waits for a core, which is where the round trip's tail went. On Linux the waiter
//! reads an inotify descriptor itself ([`Events::next`] polls it): no thread, one wake-up. Other
//! systems keep `notify` (FSEvents, kqueue) behind the same two calls.
use std::path::PathBuf;
use std::time::Duration;

/// The watch stopped (its descriptor or thread failed): the waiter lists its folders instead.
pub struct Stopped;

/// What a watch's events tell a waiter: these files changed, or look at everything (an event
/// may have been lost).
pub(crate) enum Wake {
    Paths(Vec<PathBuf>),
    All,
}

/// Whether an event may mean a new file: opening or reading one does not (the waiter's own
/// reads would otherwise wake it forever); a file closed after writing does.
pub(crate) fn wakes(event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// What a watch's event tells a waiter, `None` for one that wakes nobody ([`wakes`]): a
/// rescan request or a watcher error means an event may have been lost.
pub(crate) fn wake_of(ev: notify::Result<notify::Event>) -> Option<Wake> {
    match ev {
        Ok(e) if e.need_rescan() => Some(Wake::All),
        Ok(e) if wakes(&e) => Some(Wake::Paths(e.paths)),
        Ok(_) => None,
        Err(_) => Some(Wake::All),
    }
}

#[cfg(target_os = "linux")]
pub use linux::Events;
#[cfg(not(target_os = "linux"))]
pub use portable::Events;

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::OsStr;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStrExt;

    use rustix::event::{PollFd, PollFlags, Timespec};
    use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
    use rustix::io::Errno;

    use super::*;

    /// What can mean a new or changed file, as `notify` reported it: created, moved in,
    /// written (closed after writing, or modified in place), moved or deleted away; and the
    /// folder itself going. Opening and reading are left out: the waiter's own reads would
    /// wake it forever.
    const MASK: WatchFlags = WatchFlags::CREATE
        .union(WatchFlags::MOVED_TO)
        .union(WatchFlags::CLOSE_WRITE)
        .union(WatchFlags::MODIFY)
        .union(WatchFlags::ATTRIB)
        .union(WatchFlags::MOVED_FROM)
        .union(WatchFlags::DELETE)
        .union(WatchFlags::DELETE_SELF)
        .union(WatchFlags::MOVE_SELF);

    /// One inotify descriptor with a watch on each folder it could watch.
    pub struct Events {
        fd: OwnedFd,
        /// The watch descriptors and their folders; the first is the inbox.
        dirs: Vec<(i32, PathBuf)>,
    }

    impl Events {
        /// Watches `dirs` (see `crate::wait::Watch::new`); `None` when the first cannot be.
        pub fn new(dirs: &[PathBuf]) -> Option<Events> {
            let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
                .inspect_err(|e| tracing::debug!("no file watcher ({e}); polling every second"))
                .ok()?;
            let mut watched = Vec::with_capacity(dirs.len());
            for (i, d) in dirs.iter().enumerate() {
                match inotify::add_watch(&fd, d, MASK) {
                    Ok(wd) => watched.push((wd, d.clone())),
                    Err(e) => {
                        tracing::debug!(dir = %d.display(), "no file events ({e}); polling every second");
                        if i == 0 {
                            return None;
                        }
                    }
                }
            }
            Some(Events { fd, dirs: watched })
        }

        /// What the folders' events say, waiting at most `wait` for one (zero: only what is
        /// queued): `Ok(None)` when nothing came.
        pub fn next(&self, wait: Duration) -> Result<Option<Wake>, Stopped> {
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            let timeout = Timespec::try_from(wait).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(Errno::INTR) => return Ok(None),
                Ok(_) => {}
                Err(_) => return Err(Stopped),
            }
            self.read_queued()
        }

        /// Every event queued now: the files they name, or a listing when one was lost (the
        /// queue overflowed) or a watch went with its folder.
        fn read_queued(&self) -> Result<Option<Wake>, Stopped> {
            let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
            let mut reader = inotify::Reader::new(&self.fd, &mut buf);
            let (mut paths, mut all) = (Vec::new(), false);
            loop {
                let event = match reader.next() {
                    Ok(event) => event,
                    Err(Errno::AGAIN) => break,
                    Err(Errno::INTR) => continue,
                    Err(_) => return Err(Stopped),
                };
                let flags = event.events();
                if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                    all = true;
                    continue;
                }
                if flags.intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
                    let inbox = self.dirs.first().is_some_and(|(wd, _)| *wd == event.wd());
                    if inbox && flags.contains(ReadFlags::IGNORED) {
                        return Err(Stopped); // the inbox's own watch is gone
                    }
                    all = true;
                    continue;
                }
                let (Some(dir), Some(name)) =
                    (self.dirs.iter().find(|(wd, _)| *wd == event.wd()).map(|(_, d)| d), event.file_name())
                else {
                    continue;
                };
                paths.push(dir.join(OsStr::from_bytes(name.to_bytes())));
            }
            Ok(if all {
                Some(Wake::All)
            } else if paths.is_empty() {
                None
            } else {
                Some(Wake::Paths(paths))
            })
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod portable {
    use super::*;

    /// A `notify` watcher and the channel its thread sends on.
    pub struct Events {
        _watcher: notify::RecommendedWatcher,
        rx: std::sync::mpsc::Receiver<Wake>,
    }

    impl Events {
        /// Watches `dirs` (see `crate::wait::Watch::new`); `None` when the first cannot be.
        pub fn new(dirs: &[PathBuf]) -> Option<Events> {
            use notify::Watcher;
            let (tx, rx) = std::sync::mpsc::channel::<Wake>();
            let mut watcher = notify::recommended_watcher(move |ev| {
                if let Some(wake) = wake_of(ev) {
                    let _ = tx.send(wake);
                }
            })
            .inspect_err(|e| tracing::debug!("no file watcher ({e}); polling every second"))
            .ok()?;
            for (i, d) in dirs.iter().enumerate() {
                if let Err(e) = watcher.watch(d, notify::RecursiveMode::NonRecursive) {
                    tracing::debug!(dir = %d.display(), "no file events ({e}); polling every second");
                    if i == 0 {
                        return None;
                    }
                }
            }
            Some(Events { _watcher: watcher, rx })
        }

        /// What the folders' events say, waiting at most `wait` for one (zero: only what is
        /// queued): `Ok(None)` when nothing came.
        pub fn next(&self, wait: Duration) -> Result<Option<Wake>, Stopped> {
            use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
            if wait.is_zero() {
                return match self.rx.try_recv() {
                    Ok(wake) => Ok(Some(wake)),
                    Err(TryRecvError::Empty) => Ok(None),
                    Err(TryRecvError::Disconnected) => Err(Stopped),
                };
            }
            match self.rx.recv_timeout(wait) {
                Ok(wake) => Ok(Some(wake)),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err(Stopped),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp folder with an `01_inbox/` in it, watched.
    fn watched_inbox() -> (tempfile::TempDir, PathBuf, Events) {
        let tmp = tempfile::tempdir().unwrap();
        let inbox = tmp.path().join("01_inbox");
        std::fs::create_dir(&inbox).unwrap();
        let events = Events::new(std::slice::from_ref(&inbox)).expect("a watch on a local folder");
        (tmp, inbox, events)
    }

    fn heard(events: &Events) -> Option<Wake> {
        events.next(Duration::from_secs(5)).ok().flatten()
    }

    /// A file linked or moved in is named by its event; the waiter's own reads wake nobody.
    #[test]
    fn landings_are_named_and_reads_are_not_events() {
        let (tmp, inbox, events) = watched_inbox();
        assert!(events.next(Duration::ZERO).is_ok_and(|w| w.is_none()), "nothing yet");

        let outside = tmp.path().join("r.json");
        std::fs::write(&outside, b"{}").unwrap();
        let landed = inbox.join("20260118T070951Z__RETURN__x__baton.json");
        std::fs::rename(&outside, &landed).unwrap();
        match heard(&events) {
            Some(Wake::Paths(p)) => assert_eq!(p, vec![landed.clone()]),
            Some(Wake::All) => panic!("a rename in was read as a lost event"),
            None => panic!("no event for a file moved in"),
        }

        std::fs::read(&landed).unwrap();
        assert!(events.next(Duration::from_millis(100)).is_ok_and(|w| w.is_none()), "a read is not a landing");
    }

    /// The inbox itself removed: the watch says it stopped (the waiter then lists and polls).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_inbox_going_stops_the_watch() {
        let (_tmp, inbox, events) = watched_inbox();
        std::fs::remove_dir(&inbox).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match events.next(Duration::from_millis(200)) {
                Err(Stopped) => break,
                Ok(_) => assert!(std::time::Instant::now() < deadline, "the watch never said it stopped"),
            }
        }
    }

    /// No watch on a folder that is not there: `None`, so the waiter lists instead.
    #[test]
    fn no_watch_on_a_missing_inbox() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(Events::new(&[tmp.path().join("absent")]).is_none());
    }
}
