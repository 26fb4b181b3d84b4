//! `spotify`: Spotify exports merged into the catalog, offline (no API token). The parsing
//! (`exports`), the decisions (`logic`) and the actions' params (`params`) are plain Rust,
//! tested natively; `plugin` is the wasm component around them (built only for wasm32), on the
//! guest SDK.
pub mod exports;
pub mod logic;
pub mod params;
#[cfg(target_arch = "wasm32")]
mod plugin;
