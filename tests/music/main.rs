//! End-to-end tests of the music side: fingerprints, the catalog, and the spotify, djay and drive-sync plugins, on generated and real files.
//! One test binary per area (each module was its own binary once): the real `baton` binary on
//! temp folders, with the helpers in `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod fp;
mod catalog;
mod djay;
mod realworld_djay;
mod drive_sync;
mod spotify;
mod realworld_spotify;
