//! baton-audit's integration tests, one binary: one fixture repository per plan format
//! (`formats`), the formats and false claims seen on real repositories (`precision`), and
//! audits in a row (`runs`); `common` writes fixture trees and reads results.
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)
mod agent_formats;
mod claims;
mod common;
mod formats;
mod formats_2026;
mod history;
mod literal;
mod precision;
mod runs;
mod structure;
