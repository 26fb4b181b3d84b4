//! baton-fp: the native audio-fingerprint core.
//!
//! Decodes audio with symphonia (first 120 s, like fpcalc), resamples exactly like fpcalc's
//! libswresample settings, computes Chromaprint-compatible fingerprints (its own fast stage,
//! checked against `rusty-chromaprint`), scans libraries incrementally into the state SQLite
//! database, reports coverage, finds duplicate groups through an inverted index and moves
//! duplicates to a quarantine with a journal that `undo` reverses. The host decodes untrusted
//! files only in worker processes ([`worker`]). No wasmtime here: plugins reach [`service`]
//! through the `baton-host-fp` crate's `fingerprint` interface.
pub mod chroma;
pub mod compare;
pub mod db;
pub mod decode;
pub mod dedup;
pub mod deep;
pub mod error;
pub mod fingerprint;
pub mod mp4;
pub mod quarantine;
pub mod resample;
pub mod scan;
pub mod service;
pub mod worker;

pub use compare::{Comparison, compare};
pub use decode::{AudioInfo, Tags, read_tags};
pub use error::{FpError, Result};
pub use fingerprint::{FileFingerprint, compress, fingerprint_file};
