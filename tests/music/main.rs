//! End-to-end tests of the music side: fingerprints, the catalog, and the spotify, djay and drive-sync plugins, on generated and real files.
//! One test binary per area (each module was its own binary once): the real `baton` binary on
//! temp folders, with the helpers in `tests/support`.
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod catalog;
mod djay;
mod drive_sync;
mod fp;
mod playlist_entries;
mod realworld_djay;
mod realworld_spotify;
mod spotify;
