//! baton-catalog's integration tests, one binary: match quality on the committed fixture
//! (`matching`), the store's promises on SQLite and PostgreSQL (`store`) and the virtual
//! collections over the host's own data (`virtual_collections`).
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)
mod matching;
mod store;
mod virtual_collections;
