//! baton-runtime's integration tests, one binary: the runtime with real components
//! (`components`) and a kv store that fails (`kv_failure`).
mod components;
mod kv_failure;
