//! The crash-safe file primitives, now in the `baton-fs` crate so the fingerprint quarantine can
//! share them; this re-export keeps `crate::fsops::…` call sites as they were. See `baton_fs`
//! for what each promise rests on, on Linux and on macOS.
pub use baton_fs::*;
