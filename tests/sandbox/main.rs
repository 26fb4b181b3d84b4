//! End-to-end tests of the sandbox: hostile and legacy plugins, grants, budgets, the catalog and SQLite interfaces as a plugin sees them.
//! One test binary per area (each module was its own binary once): the real `baton` binary on
//! temp folders, with the helpers in `tests/support`.
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod catalog_plugin;
mod hostile_v04;
mod hostile_v05;
mod sandbox;
mod sqlite_plugin;
