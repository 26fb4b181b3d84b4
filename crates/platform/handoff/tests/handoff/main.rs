//! `baton-handoff`'s integration tests: the inputs the fuzz targets (`fuzz/`) found failing,
//! read again by the parsers they broke, in the normal `cargo test`.
mod fuzz_inputs;
