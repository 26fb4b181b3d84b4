//! `drive-sync`: mirrors catalog collections into a folder a sync client uploads (Google Drive
//! for desktop, Dropbox, Syncthing), one folder per collection, without ever creating twin
//! folders on this machine and without ever losing a value or a person's edit.
//!
//! Why it is built this way: concurrent runs of the old script created
//! `Tracks (1)`, `Tracks (2)` in 70% of the databases because it checked for folders before
//! taking its lock. Here every action that looks at the tree takes the host lock named after
//! the drive folder's host path first. Folders are found by a marker file, not by their name.
//!
//! Layout: [`names`] (display names, sync-client copy names, case/Unicode twins), [`plan`]
//! (consolidation moves), [`edits`] (cells a person changed) and [`util`] are pure and tested
//! natively, as are the actions' [`params`] (their schemas are generated); `plugin` is the
//! registration with the SDK, the host calls and the file system work (wasm32 only).
pub mod edits;
pub mod names;
pub mod params;
pub mod plan;
pub mod util;

#[cfg(target_arch = "wasm32")]
mod plugin;
