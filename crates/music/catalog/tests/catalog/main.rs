//! baton-catalog's integration tests, one binary: match quality on the committed fixture
//! (`matching`), the store's promises on SQLite and PostgreSQL (`store`) and the virtual
//! collections over the host's own data (`virtual_collections`).
mod matching;
mod store;
mod virtual_collections;
