//! baton-fp: the fingerprint library around the signal core (`baton-signal`).
//!
//! Scans libraries incrementally into the state SQLite database ([`scan`], [`db`]), reports
//! coverage, finds duplicate groups through an inverted index ([`dedup`]) and moves duplicates
//! to a quarantine with a journal that `undo` reverses ([`quarantine`]); [`service`] matches a
//! print against the library for plugins. The host decodes untrusted files only in worker
//! processes ([`worker`]), which run the signal core. No wasmtime here: plugins reach
//! [`service`] through the `baton-host-fp` crate's `fingerprint` interface.
//!
//! Module order (no loops): `error` ← `db` ← `worker` ← `scan` ← `dedup` ← `quarantine`, and
//! `service` over `db` and `dedup`; [`files`] (what the catalog's `files` reads) over `scan`.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
pub mod db;
pub mod dedup;
pub mod error;
pub mod files;
pub mod quarantine;
pub mod scan;
pub mod service;
pub mod worker;

pub use error::{FpError, Result};
