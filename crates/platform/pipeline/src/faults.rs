//! Which failures pass by themselves and what a failed run is called: the two judgements every
//! stage makes about an error, kept apart from the stages so each can ask without the others.
use baton_handoff::ErrorCode;
use baton_runtime::RunError;

use crate::PipelineError;

/// Whether an error may pass by itself (disk full, I/O error, a busy database): back off and
/// try again rather than give up on the handoff or stop the daemon.
pub fn is_passing(e: &PipelineError) -> bool {
    match e {
        PipelineError::Io { source, .. } => is_passing_io(source),
        PipelineError::Ledger(l) => l.is_transient(),
        _ => false,
    }
}

pub(crate) fn is_passing_io(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    // Disk full, an I/O error, a folder unwritable or read-only for a while (a permission
    // flip, a remount), no file handle free, a busy or stale mount: each is a fault a machine
    // has for seconds, and none says anything about the handoff. Errors that do (a name that
    // is a plain file, a name too long) are not here.
    const PASSING: [Errno; 13] = [
        Errno::IO,
        Errno::NOSPC,
        Errno::DQUOT,
        Errno::ACCESS,
        Errno::ROFS,
        Errno::PERM,
        Errno::MFILE,
        Errno::NFILE,
        Errno::NOMEM,
        Errno::AGAIN,
        Errno::BUSY,
        Errno::TIMEDOUT,
        Errno::STALE,
    ];
    // `WouldBlock` without an errno: a Claude Code inbox whose lock another program held past
    // the wait (see `baton_mailbox::teams`), free again in moments.
    e.kind() == std::io::ErrorKind::StorageFull
        || (e.kind() == std::io::ErrorKind::WouldBlock && e.raw_os_error().is_none())
        || e.raw_os_error().is_some_and(|code| PASSING.iter().any(|p| p.raw_os_error() == code))
}

/// The error code for a failed run.
pub fn error_code(e: &RunError) -> ErrorCode {
    match e {
        // A plugin reports a folder grant it lacks (or lacks writable) as a failure whose
        // message starts "grant `NAME`": the same code as the host's own grant checks, whatever
        // the plugin (docs/operations.md).
        RunError::InvalidInput(m) | RunError::Permanent(m) if m.starts_with("grant `") => ErrorCode::GrantMissing,
        RunError::InvalidInput(_) => ErrorCode::InvalidParams,
        // Mapped to RetriesExhausted only once the budget of attempts is spent.
        RunError::Transient(_) => ErrorCode::RetriesExhausted,
        RunError::Permanent(_) | RunError::BadResult(_) => ErrorCode::PluginError,
        RunError::Timeout(_) => ErrorCode::Timeout,
        RunError::OutOfMemory(_) => ErrorCode::OutOfMemory,
        RunError::Trap(_) => ErrorCode::Trap,
        RunError::OutputTooLarge { .. } => ErrorCode::OutputTooLarge,
        RunError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
        RunError::GrantMissing(_) => ErrorCode::GrantMissing,
        RunError::GrantChanged(_) => ErrorCode::GrantChanged,
        // Never an answer (the task runs again once the fault has passed); named for logs.
        RunError::HostFault(_) => ErrorCode::Internal,
        // Never an answer either: the execute stage makes it an input request.
        RunError::NeedsInput(_) => ErrorCode::PluginError,
    }
}

/// Runs the reading of one stranger's file so that a panic in it (a bug in a parser, met by
/// bytes nobody tried) fails that one file and never the daemon: the poison-pill rule. The
/// panic's own words are returned for the error record, so the bug is reported, not hidden.
pub(crate) fn read_one<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let words = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Panicked { words }
    })
}

/// A panic while reading one file, with the panic's own words.
#[derive(Debug, thiserror::Error)]
#[error("reading this file hit a bug in baton ({words}); the file was set aside, please report it")]
pub(crate) struct Panicked {
    words: String,
}
