//! baton-runtime's integration tests, one binary: the runtime with real components
//! (`components`) and a kv store that fails (`kv_failure`).
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)
mod components;
mod kv_failure;
