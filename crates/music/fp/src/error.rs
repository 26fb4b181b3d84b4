//! The crate's error type: every failure names the file (or database) it concerns and, where
//! there is one, the fix.
use std::path::PathBuf;

/// Errors of the fingerprint core.
#[derive(Debug, thiserror::Error)]
pub enum FpError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The container or codec is not supported (e.g. Opus, HE-AAC).
    #[error("{path}: unsupported format: {detail} (convert it, e.g. `ffmpeg -i FILE out.flac`, to fingerprint it)")]
    Unsupported { path: PathBuf, detail: String },
    /// The file is damaged: it cannot be parsed or holds no decodable audio.
    #[error("{path}: corrupt or truncated audio: {detail} (re-rip or re-download the file)")]
    Corrupt { path: PathBuf, detail: String },
    /// The state database failed.
    #[error("state database {path}: {source} (check the --state path, its permissions and free disk space)")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A quarantine or undo file operation failed.
    #[error("{path}: {detail}")]
    Move { path: PathBuf, detail: String },
    /// Bad argument from the caller.
    #[error("{0}")]
    Invalid(String),
    /// The calling task's time budget ran out while this file (or the library) was being worked
    /// on. Not the file's fault: it is not marked, and the task fails `timeout`.
    #[error("{path}: the task's time budget ran out while working on it")]
    TaskTimeout { path: PathBuf },
    /// The decoding worker processes could not be started or spoken to (not the file's fault).
    #[error("fingerprint worker: {0} (the `__fp-worker` command of this program must be runnable)")]
    Worker(String),
}

impl FpError {
    /// Short machine-friendly kind, stored with per-file errors.
    pub fn kind(&self) -> &'static str {
        match self {
            FpError::Io { .. } => "io",
            FpError::Unsupported { .. } => "unsupported",
            FpError::Corrupt { .. } => "corrupt",
            FpError::Db { .. } => "db",
            FpError::Move { .. } => "move",
            FpError::Invalid(_) => "invalid",
            FpError::TaskTimeout { .. } => "timeout",
            FpError::Worker(_) => "worker",
        }
    }
}

/// A file's audio could not be read: the same variant here, so its `kind` and message are
/// unchanged.
impl From<baton_signal::AudioError> for FpError {
    fn from(e: baton_signal::AudioError) -> Self {
        use baton_signal::AudioError as A;
        match e {
            A::Io { path, source } => FpError::Io { path, source },
            A::Unsupported { path, detail } => FpError::Unsupported { path, detail },
            A::Corrupt { path, detail } => FpError::Corrupt { path, detail },
        }
    }
}

/// Result alias of the crate.
pub type Result<T, E = FpError> = std::result::Result<T, E>;
