//! baton-fp's integration tests, one binary: the plugin-facing service and the scan → dedup
//! path (`service`), and the decoding workers as real processes (`worker`).
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)
mod service;
mod worker;
