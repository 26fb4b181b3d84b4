//! What a wait tells the person waiting, so that no wait is silent: whether a `baton serve`
//! runs for the home (a TASK to a plugin waits for one), and, on Ctrl-C, which TASK was left
//! pending and the command that waits for it again.
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use baton_cli::Ctx;

use super::Tree;

/// Whether a `baton serve` holds this home's claims now: a live lock in `<baton>/.claims/`
/// (SQLite), or `serve.lock` beside the local state file (PostgreSQL).
pub fn serve_running(ctx: &Ctx, tree: &Tree) -> bool {
    let shared = matches!(ctx.location, baton_ledger::Location::Postgres(_));
    if shared {
        return ctx.state.parent().is_some_and(|d| locked(&d.join("serve.lock")));
    }
    let claims = tree.root.join(&tree.baton).join(".claims");
    std::fs::read_dir(claims)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "lock") && locked(&e.path()))
}

/// Whether another process holds an exclusive `flock` on `path` (a shared probe would block).
fn locked(path: &Path) -> bool {
    use rustix::fs::{FlockOperation, flock};
    let Ok(f) = std::fs::File::open(path) else { return false };
    flock(&f, FlockOperation::NonBlockingLockShared).is_err()
}

/// How long a wait gives a `serve` that is starting before it says none runs.
const GRACE: Duration = Duration::from_millis(800);

/// Says once, on stderr, that no `baton serve` runs for the home while a TASK to a plugin
/// waits for one. Call [`Self::check`] between slices of the wait (at least every second).
pub struct NoServeNotice {
    started: Instant,
    said: bool,
}

impl Default for NoServeNotice {
    fn default() -> Self {
        NoServeNotice { started: Instant::now(), said: false }
    }
}

impl NoServeNotice {
    /// Checks (once the grace is over) and says it the first time no serve is found.
    pub fn check(&mut self, ctx: &Ctx, tree: &Tree) {
        if self.said || self.started.elapsed() < GRACE {
            return;
        }
        if !serve_running(ctx, tree) {
            eprintln!("baton: {}", no_serve_message(&ctx.home));
        }
        // Checked once: a serve that stops later is not the waiter's to watch.
        self.said = true;
    }
}

/// The words for a TASK to a plugin that nobody runs (the CLI's wait and MCP's pending answer).
pub fn no_serve_message(home: &Path) -> String {
    format!(
        "no `baton serve` is running for {}: the TASK waits in the inbox; start it with `baton serve` or `baton \
         service install`",
        home.display()
    )
}

static INTERRUPTED: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();

/// From now on, Ctrl-C (SIGINT) prints that TASK `id` is still pending and the command that
/// waits for it again (on stderr), then the id alone (on stdout), and exits 130. The TASK was
/// written: only the wait stops. Set once per process (a second call keeps the first id).
pub fn interrupt_says(id: &str, how: &str) {
    let err = format!("\nbaton: interrupted; {id} is still pending: `{how}` waits again\n").into_bytes();
    let out = format!("{id}\n").into_bytes();
    if INTERRUPTED.set((err, out)).is_err() {
        return;
    }
    // SAFETY: the handler only calls `write` and `_exit`, both async-signal-safe, on bytes made
    // before it was registered (the `OnceLock` is set, never written again).
    let registered = unsafe {
        signal_hook_registry::register(libc::SIGINT, || {
            if let Some((err, out)) = INTERRUPTED.get() {
                libc::write(2, err.as_ptr().cast(), err.len());
                libc::write(1, out.as_ptr().cast(), out.len());
            }
            libc::_exit(130);
        })
    };
    if let Err(e) = registered {
        tracing::debug!("no Ctrl-C handler for the wait: {e}");
    }
}
