//! The clock behind every task's time budget: a thread that advances the engine's epoch every
//! [`TICK`] while some store exists, and sleeps otherwise.
//!
//! Each store's deadline is "the epoch now, plus the budget in ticks" (wasmtime's epoch
//! interruption), so running wasm traps only if the epoch moves. It has to move only while a
//! store exists (a task or a `describe()` in flight); an idle `serve` used to wake 200 times a
//! second to advance it for nobody. Now the ticker parks when no store is left, and the first
//! new store wakes it ([`Ticker::hold`]).
//!
//! Deadlines stay what they were: a deadline of N ticks fires within a tick of N × [`TICK`] of
//! real time. Ticks are counted from when the ticker wakes (just after the store that woke it
//! was made) and follow the wall clock, so a sleep that overslept on a loaded machine is made
//! up for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

use wasmtime::{Engine, EngineWeak};

/// Epoch ticks happen every this often while a store exists; time budgets are rounded up to it.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// How often a parked ticker looks whether its engine is gone (the only reason it ends). In the
/// unit tests, never: a ticker that ticks there was woken by its store.
const IDLE_LOOK: Duration = if cfg!(test) { Duration::from_secs(3600) } else { Duration::from_secs(1) };

/// The ticking thread of one engine.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

#[derive(Default)]
struct Shared {
    /// Stores alive now: tasks and `describe()` calls. An abandoned task's store counts until
    /// its thread ends, since its wasm must still trap at the deadline.
    stores: AtomicUsize,
    /// Ticks made so far (what the tests watch).
    ticks: AtomicU64,
}

/// Held by every store: while one exists, the epoch advances.
pub(crate) struct Ticking(Arc<Shared>);

impl Ticker {
    /// Starts the thread; it ends within [`IDLE_LOOK`] (or a tick) of `engine` being dropped.
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Ticker> {
        let weak = engine.weak();
        let shared = Arc::new(Shared::default());
        let seen = shared.clone();
        let handle = std::thread::Builder::new().name("baton-epoch".into()).spawn(move || run(&weak, &seen))?;
        Ok(Ticker { shared, thread: handle.thread().clone() })
    }

    /// Keeps the epoch advancing until the returned guard is dropped; wakes the ticker if it
    /// was parked. (An `unpark` that comes before the ticker parks is kept, so the ticker
    /// cannot miss it.)
    pub(crate) fn hold(&self) -> Ticking {
        if self.shared.stores.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Ticking(self.shared.clone())
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.stores.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The thread: ticks while a store exists, parks while none does, ends with the engine.
fn run(weak: &EngineWeak, shared: &Shared) {
    // Since when this run of ticks counts, and how many it has made.
    let mut since: Option<(Instant, u128)> = None;
    while let Some(engine) = weak.upgrade() {
        if shared.stores.load(Ordering::Acquire) == 0 {
            drop(engine);
            since = None;
            std::thread::park_timeout(IDLE_LOOK);
            continue;
        }
        let (start, made) = since.get_or_insert_with(|| (Instant::now(), 0));
        let due = start.elapsed().as_nanos() / TICK.as_nanos();
        while *made < due {
            engine.increment_epoch();
            shared.ticks.fetch_add(1, Ordering::Relaxed);
            *made += 1;
        }
        drop(engine);
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(t: &Ticker) -> u64 {
        t.shared.ticks.load(Ordering::Relaxed)
    }

    /// Whether the ticks pass `n` within 10 s (a loaded test machine may starve the thread
    /// for a while; what matters is that it ticks at all).
    fn passes(t: &Ticker, n: u64) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if ticks(t) > n {
                return true;
            }
            std::thread::sleep(TICK);
        }
        false
    }

    #[test]
    fn the_epoch_advances_only_while_a_store_holds_the_ticker() {
        let engine = Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap();
        let ticker = Ticker::start(&engine).unwrap();
        std::thread::sleep(TICK * 6);
        assert_eq!(ticks(&ticker), 0, "no store yet: the ticker is parked");

        let held = ticker.hold();
        assert!(passes(&ticker, 2), "a store exists, and the epoch does not advance");
        let second = ticker.hold();
        drop(held);
        let during = ticks(&ticker);
        assert!(passes(&ticker, during + 1), "one store is still held, and the epoch stopped");

        drop(second);
        // A round of ticks in flight may still land (a late thread catches up): wait until
        // the count holds still for three ticks' time.
        let mut after = ticks(&ticker);
        for _ in 0..100 {
            std::thread::sleep(TICK * 3);
            let now = ticks(&ticker);
            if now == after {
                break;
            }
            after = now;
        }
        std::thread::sleep(TICK * 8);
        assert_eq!(ticks(&ticker), after, "every store dropped, and the epoch still advances");

        let _again = ticker.hold();
        assert!(passes(&ticker, after), "a new store did not wake the ticker");
    }
}
