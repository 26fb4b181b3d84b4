//! End-to-end tests of plans audits: fixtures, real repositories and serve's automatic audits.
//! One test binary per area (each module was its own binary once): the real `baton` binary on
//! temp folders, with the helpers in `tests/support`.
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod realworld_audit;
mod round3;
