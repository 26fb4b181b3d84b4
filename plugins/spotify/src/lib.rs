//! `spotify`: Spotify exports merged into the catalog, offline (no API token). The parsing
//! (`exports`) and the decisions (`logic`) are plain Rust, tested natively; `plugin` is the
//! wasm component around them (built only for wasm32).
pub mod exports;
pub mod logic;
#[cfg(target_arch = "wasm32")]
mod plugin;
