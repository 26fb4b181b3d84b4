//! A group's per-item file work on both halves of the group at once, one half on a second
//! thread.
//!
//! Why: in `serve --once` over a backlog, the pipeline's own thread did nearly all the work
//! (88 % of the samples), and most of it was the kernel's directory operations for each item:
//! the RETURN's unnamed file, its links, the `.sent` mark, the original's filing (profile in
//! `bench/runs/2026-11-27/once-ext4.md`, the last section). Each item's steps are independent of every other
//! item's, and each item keeps its own order of steps, so splitting a group in two changes no
//! promise: a RETURN is still durable before it is visible, recorded before its original is
//! filed. Only the order *between* items of one group changes, which nothing relies on.
//!
//! What stays one at a time: placing a name in a folder (`FoldedDirs::place`, one lock, so
//! the halves never pick two names that are one name on a Mac), a Claude Code inbox's append
//! (its lock directory: the other half waits its turn), and, in the kernel, renames across
//! folders. That is why the split measured 1.15x on ext4, not 2x.
//!
//! Small groups (a warm daemon answering one TASK) stay on the calling thread: a thread costs
//! more than it saves there.
use std::sync::OnceLock;

/// Below this many items a group is not split.
const SPLIT_FROM: usize = 32;

/// The cores this process may use (`None`: not known), read once a process: on Linux it
/// reads /proc/self/cgroup and the CFS quota files. The split asks whether there is a second
/// one; the execute stage bounds its concurrent tasks by them.
pub(crate) fn cores() -> Option<usize> {
    static CORES: OnceLock<Option<usize>> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).ok())
}

/// Where `items` is split: its middle for a group worth splitting on a machine with a second
/// core, else its end (everything on the calling thread).
pub(crate) fn split_point(len: usize) -> usize {
    if len >= SPLIT_FROM && cores().unwrap_or(1) >= 2 { len / 2 } else { len }
}

/// Runs `work` on both halves of `items` (split at [`split_point`]), the first half on a
/// scoped thread and the second here, and returns both results in order. A half that is
/// empty costs no thread.
pub(crate) fn on_halves<T, R>(items: &mut [T], work: impl Fn(&mut [T]) -> R + Sync) -> (R, R)
where
    T: Send,
    R: Send,
{
    let mid = split_point(items.len());
    let (first, second) = items.split_at_mut(mid);
    both(first, second, &work)
}

/// Runs `work` on two disjoint slices, at once when both have items.
pub(crate) fn both<T, R>(first: &mut [T], second: &mut [T], work: &(impl Fn(&mut [T]) -> R + Sync)) -> (R, R)
where
    T: Send,
    R: Send,
{
    if first.is_empty() || second.is_empty() {
        return (work(first), work(second));
    }
    std::thread::scope(|s| {
        let other = s.spawn(|| work(first));
        let here = work(second);
        // A panic in the other half is the same bug as one here: raised again on this thread.
        let there = other.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (there, here)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_worked_once_and_in_order_within_its_half() {
        let mut items: Vec<(usize, Option<std::thread::ThreadId>)> = (0..100).map(|i| (i, None)).collect();
        let (a, b) = on_halves(&mut items, |part| {
            for it in part.iter_mut() {
                assert!(it.1.is_none(), "item {} worked twice", it.0);
                it.1 = Some(std::thread::current().id());
            }
            part.iter().map(|it| it.0).collect::<Vec<_>>()
        });
        let mid = split_point(100);
        assert_eq!(a, (0..mid).collect::<Vec<_>>());
        assert_eq!(b, (mid..100).collect::<Vec<_>>());
        if cores().unwrap_or(1) >= 2 {
            assert_eq!(mid, 50);
            assert_ne!(items[0].1, items[99].1, "the halves ran on one thread");
        }
    }

    #[test]
    fn a_small_group_stays_on_the_calling_thread() {
        let mut items = vec![0u8; SPLIT_FROM - 1];
        let here = std::thread::current().id();
        let (a, b) = on_halves(&mut items, |part| (part.len(), std::thread::current().id()));
        assert_eq!((a.0 + b.0, a.1, b.1), (SPLIT_FROM - 1, here, here));
    }
}
