//! A memory budget per task for SQLite snapshots, apart from everything else SQLite does in
//! this process (the ledger, kv stores, the catalog).
//!
//! Why not `sqlite3_hard_heap_limit64`: that limit is process-wide. A plugin whose snapshot
//! queries reached it made the ledger's, kv's and the catalog's allocations fail too (kv writes
//! lost, upserts refused, the ledger late). SQLite has no per-connection memory limit, so this
//! module installs SQLite's allocator (`SQLITE_CONFIG_MALLOC`) once, before SQLite starts: every
//! allocation carries a small header naming the [`Budget`] it was charged to, or none.
//! Allocations made on a thread while a [`Charging`] guard is alive (only around a snapshot's
//! own calls: open, prepare, step, reading values) are charged to that snapshot's task budget
//! and refused past its limit, so SQLite fails the statement `out of memory` and frees what it
//! built. Everything else is charged to nothing and limited by nothing here. A free or a resize
//! goes to the budget the block was charged to, whatever thread runs it.
//!
//! Snapshot connections run with `temp_store = MEMORY`: a sort or temporary b-tree too large for
//! the cache stays in memory, charged here, instead of spilling to temporary files that no quota
//! counts.
use std::cell::Cell;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Memory SQLite may hold for one task's snapshots together.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
    /// Set when an allocation was refused: the error the plugin gets names the budget.
    refused: AtomicBool,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { used: AtomicUsize::new(0), limit, refused: AtomicBool::new(false) })
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether an allocation was refused since the last call (and clears it).
    pub fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::Relaxed)
    }

    fn charge(&self, n: usize) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(n);
            if next > self.limit {
                self.refused.store(true, Ordering::Relaxed);
                return false;
            }
            match self.used.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn refund(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

thread_local! {
    /// The budget this thread's SQLite allocations are charged to now (null: none).
    static CURRENT: Cell<*const Budget> = const { Cell::new(std::ptr::null()) };
}

/// While alive, SQLite allocations on this thread are charged to the budget. Not `Send`: it
/// is the thread's state.
pub struct Charging<'a> {
    previous: *const Budget,
    _budget: &'a Arc<Budget>,
}

impl<'a> Charging<'a> {
    pub fn start(budget: &'a Arc<Budget>) -> Charging<'a> {
        let previous = CURRENT.with(|c| c.replace(Arc::as_ptr(budget)));
        Charging { previous, _budget: budget }
    }
}

impl Drop for Charging<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Each block starts with this header; SQLite sees the bytes after it.
#[repr(C)]
struct Header {
    size: usize,
    /// The budget charged (one strong count of its `Arc` per block), or null.
    budget: *const Budget,
}

const HEADER: usize = 16;
const ALIGN: usize = 16;

fn layout(n: usize) -> Option<std::alloc::Layout> {
    std::alloc::Layout::from_size_align(n.checked_add(HEADER)?, ALIGN).ok()
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let n = n.max(0) as usize;
    let budget = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    let Some(l) = layout(n) else { return std::ptr::null_mut() };
    // SAFETY: `budget` is alive while its `Charging` guard is (it borrows the `Arc`).
    if !budget.is_null() && !unsafe { &*budget }.charge(n) {
        return std::ptr::null_mut();
    }
    // SAFETY: the layout has a non-zero size (the header).
    let p = unsafe { std::alloc::alloc(l) };
    if p.is_null() {
        if !budget.is_null() {
            unsafe { &*budget }.refund(n);
        }
        return std::ptr::null_mut();
    }
    if !budget.is_null() {
        // SAFETY: the pointer came from `Arc::as_ptr` of a live `Arc`; this count is given
        // back when the block is freed.
        unsafe { Arc::increment_strong_count(budget) };
    }
    // SAFETY: `p` is a fresh block of at least HEADER bytes, aligned for `Header`.
    unsafe {
        (p as *mut Header).write(Header { size: n, budget });
        p.add(HEADER) as *mut c_void
    }
}

/// The header of a block SQLite holds.
///
/// # Safety
/// `p` came from [`x_malloc`] or [`x_realloc`] and was not freed.
unsafe fn header(p: *mut c_void) -> *mut Header {
    unsafe { (p as *mut u8).sub(HEADER) as *mut Header }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its allocator gave it.
    unsafe {
        let h = header(p);
        let Header { size, budget } = h.read();
        if !budget.is_null() {
            (*budget).refund(size);
            Arc::decrement_strong_count(budget);
        }
        if let Some(l) = layout(size) {
            std::alloc::dealloc(h as *mut u8, l);
        }
    }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        return unsafe { x_malloc(n) };
    }
    let n = n.max(0) as usize;
    // SAFETY: as in `x_free`; the block stays charged to the budget it was charged to.
    unsafe {
        let h = header(p);
        let Header { size, budget } = h.read();
        let (Some(old), Some(new)) = (layout(size), layout(n)) else { return std::ptr::null_mut() };
        if n > size && !budget.is_null() && !(*budget).charge(n - size) {
            return std::ptr::null_mut();
        }
        let q = std::alloc::realloc(h as *mut u8, old, new.size());
        if q.is_null() {
            if n > size && !budget.is_null() {
                (*budget).refund(n - size);
            }
            return std::ptr::null_mut();
        }
        if n < size && !budget.is_null() {
            (*budget).refund(size - n);
        }
        (q as *mut Header).write(Header { size: n, budget });
        q.add(HEADER) as *mut c_void
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: as in `x_free`.
    unsafe { (*header(p)).size as c_int }
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    (n.max(0) + 7) & !7
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    0
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the allocator if SQLite has not started yet in this process (it runs before
/// `main`, see below); whether budgets are enforced.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let methods = rusqlite::ffi::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLite copies the methods; it refuses (SQLITE_MISUSE) once it has started.
        let rc = unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MALLOC, &methods as *const _) };
        rc == rusqlite::ffi::SQLITE_OK
    })
}

/// Whether budgets are enforced in this process.
pub fn installed() -> bool {
    install()
}

/// Runs [`install`] before `main` (and before any test), so the allocator is in place before
/// the ledger or anything else opens a database. `#[used]` keeps it linked.
extern "C" fn install_early() {
    install();
}

#[used]
#[cfg_attr(
    any(target_os = "linux", target_os = "android", target_os = "freebsd"),
    unsafe(link_section = ".init_array")
)]
#[cfg_attr(target_os = "macos", unsafe(link_section = "__DATA,__mod_init_func"))]
static INSTALL_EARLY: extern "C" fn() = install_early;
