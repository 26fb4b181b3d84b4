//! baton-fp's integration tests, one binary: the plugin-facing service and the scan → dedup
//! path (`service`), and the decoding workers as real processes (`worker`).
mod service;
mod worker;
