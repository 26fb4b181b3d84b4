//! The plugin module of `drive-sync` (wasm32 only): its registration with the SDK, the host
//! calls and the file system work, one submodule per role: [`drive`] (the folder, its lock,
//! markers), [`catalog_read`], [`state`] (what baton remembers in kv), and one per action
//! ([`sync`], [`check`], [`batch`] for consolidate and undo, [`accept`]). The params are in
//! [`crate::params`].
//!
//! Host state (kv) this plugin keeps, never in the synced folder:
//! - `state:<collection>`: what baton last wrote there (folder, sheet name, sha256, size,
//!   rows, schema, change-log seq, how the base copy is kept);
//! - `base:<collection>:<n>`: the copy of the sheet baton last wrote, in ≤ 1 MiB chunks (or
//!   per-cell hashes for a sheet over [`edits::FULL_COPY_MAX`]);
//! - `edits:<collection>`: edits found and kept in `_archive/`, not yet accepted;
//! - `batch:<id>`: the journal of a consolidate or accept-edits batch; `open-batch`: a
//!   consolidate that has not finished (a re-run completes it first).
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::edits::{self, Base, CellEdit};
use crate::names::{self, conflict_copy_of, display_name, folding_conflicts, numbered_sibling, reserved};
use crate::plan::{self, Child, Folder, MARKER, Move};
use crate::util::{now, rfc3339, sha256_hex, stamp};

use baton_plugin::catalog::{self, CollectionInfo, PropertyKind};
use baton_plugin::{
    Actions, CollectionRequest, Ctx, Done, Failure, FolderRequest, Level, Plugin, collection, folder, host, kv,
};

use crate::params::{CheckParams, ExecParams, SyncParams, UndoParams};

mod accept;
mod batch;
mod catalog_read;
mod check;
mod drive;
mod state;
mod sync;
use accept::*;
use batch::*;
use catalog_read::*;
use check::*;
use drive::*;
use state::*;
use sync::*;

struct DriveSync;

type Res<T> = Result<T, Failure>;

const SKIPPED: &str = "another run in progress";

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Failure {
    move |e| Failure::Transient(format!("{what}: {e}"))
}

/// The SDK's one catalog error policy.
fn cat_err(what: &str, e: catalog::CatalogError) -> Failure {
    baton_plugin::catalog_failure(what, e)
}

fn log(level: Level, msg: &str) {
    host::log(level, msg);
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// How long `sync` (and every action that touches the tree) waits for the lock.
    lock_timeout_ms: u64,
    /// Display names by collection id (`tracks = "Music Tracks"`); renaming one renames its
    /// folder at the next sync.
    names: BTreeMap<String, String>,
    /// Test hook: sleep this long right after taking the lock (before any folder is looked
    /// at), and between the moves of a consolidate.
    pause_in_lock_ms: u64,
    /// Sheets up to this many bytes keep a full copy in kv, bigger ones per-cell hashes
    /// (default [`edits::FULL_COPY_MAX`]; lower it to test or to save kv space).
    copy_max_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lock_timeout_ms: 15_000,
            names: BTreeMap::new(),
            pause_in_lock_ms: 0,
            copy_max_bytes: edits::FULL_COPY_MAX,
        }
    }
}

fn settings() -> Res<Settings> {
    let text = host::settings();
    serde_json::from_str(&text).map_err(|e| {
        Failure::InvalidInput(format!(
            "[plugins.drive-sync.settings] in baton.toml: {e} (known: lock_timeout_ms, names, pause_in_lock_ms, copy_max_bytes)"
        ))
    })
}

impl Plugin for DriveSync {
    const NAME: &'static str = "drive-sync";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Mirrors catalog collections into a synced folder: one folder per collection (found by its marker), a CSV sheet byte-identical to `baton catalog export --csv`, schema.json; lock first, no duplicate folders, nothing deleted, edits never overwritten silently.";

    fn folders() -> Vec<FolderRequest> {
        vec![folder(
            "drive",
            true,
            "the synced folder (Google Drive, Dropbox, Syncthing) the collections are mirrored into",
        )]
    }

    fn collections() -> Vec<CollectionRequest> {
        vec![
            collection("tracks", true, "mirrored as a sheet; accept-edits writes edited cells back"),
            collection("artists", true, "mirrored as a sheet; accept-edits writes edited cells back"),
            collection("playlists", true, "mirrored as a sheet; accept-edits writes edited cells back"),
            collection("files", false, "mirrored as a sheet"),
            collection("handoffs", false, "baton's handoffs, mirrored as a sheet"),
            collection("audit_gaps", false, "the plans audit's gaps, mirrored as a sheet"),
        ]
    }

    fn actions() -> Actions {
        Actions::new()
            .add("sync", "Take the drive's lock (skip cleanly if another run holds it), then find or create each collection's folder and rewrite what changed.", sync)
            .add("check", "Read-only: duplicate folders, sync-conflict copies, case/Unicode twins, schema drift, sheets edited since baton wrote them.", check)
            .add("consolidate", "Merge duplicate folders into the canonical one; identical copies and emptied folders go to _baton_trash/<UTC>/. Journalled; undo restores.", consolidate)
            .add("undo", "Restore a consolidate or accept-edits batch.", undo)
            .add("accept-edits", "Apply edited text, number, date and select cells back into the catalog; conflicts and relation edits are reported, never applied.", accept_edits)
    }
}

baton_plugin::register!(DriveSync);
