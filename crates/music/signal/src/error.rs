//! Why a file's audio could not be read: every error names the file and, where there is one, the
//! fix. The fingerprint library (`baton-fp`) turns these into its own `FpError` variant by
//! variant, so the kinds stored with per-file errors do not change.
use std::path::PathBuf;

/// A file's audio could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
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
}

/// Result alias of the crate.
pub type Result<T, E = AudioError> = std::result::Result<T, E>;
