//! The core of the `djay` plugin, in pure Rust so it runs natively in tests and inside the
//! wasm component alike: [`tsaf`] decodes the blobs djay Pro keeps in `MediaLibrary.db`,
//! [`library`] turns YapDatabase rows into tracks, sessions, plays and playlists,
//! [`rekordbox`] reads and writes Rekordbox XML ([`keys`] spells its keys one way), and
//! [`sync`] holds the id-sync ladder and the result shapes. The plugin (plugins/djay) only
//! moves rows and records across WIT.
pub mod bookmark;
pub mod keys;
pub mod library;
pub mod location;
pub mod rekordbox;
pub mod sync;
pub mod tsaf;
