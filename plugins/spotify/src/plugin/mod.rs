//! The component: the actions, registered with the guest SDK (`baton-plugin`, the music world
//! `baton:music@0.5.0`), on top of the pure modules (`exports`, `logic`, `params`). Everything it reads comes through its grants: the `spotify`
//! folder (read-only exports), the `music` folder (local files; writable for `apply`/`undo`),
//! the `playlists` folder (writable, for `m3u`), and the catalog collections declared in
//! `catalog-access`. Track matching is the host's (`match-track`); the plugin only looks up
//! exact URIs and ISRCs it already read from the catalog.
//!
//! One submodule per action (`import` with its steps `read`, `resolve` and `playlist_files`;
//! `lookup` for playlists-for-track, `link_local`, `layout` for plan/apply/undo, `m3u`,
//! `next_track`), and `store` for the catalog and kv helpers they share.
//!
//! Actions (params → result, JSON; every list at most 500 entries, `"truncated": true` when
//! there are more, the rest with `{"page": N}`):
//! - `import {accept_shrink?}` → `{files, skipped, skipped_total, local_tracks, playlists,
//!   playlist_files, tracks, memberships, changes, suspicious, not_in_exports, ambiguous, plays,
//!   written}`; playlist files of other players in the `spotify` folder (m3u/m3u8, PLS, XSPF,
//!   JSPF, ASX, WPL: read by content) are playlists linked to the library's `files`; every file
//!   or row not read is listed under `skipped` with its reason
//! - `playlists-for-track {uri | isrc | title, artist, duration_ms? | path}` →
//!   `{track, match, candidates, playlists, liked}`
//! - `link-local {}` → `{linked, ambiguous, unmatched, coverage}`
//! - `plan {layout?, primary?}` → `{plan_id, moves, unassigned, unmatched}` (`primary: "ask"`:
//!   asks the sender, for each track on several playlists, which one decides its folder)
//! - `apply {plan_id}` / `undo {plan_id}` → `{plan_id, moved | restored, skipped}`
//! - `m3u {}` → `{written, unchanged, tracks_without_file}`
//! - `next-track {uri?}` → `{source, track, playlists, planned_path}`

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use baton_plugin::catalog::{
    self, Candidate, CatalogError, MatchMethod, MatchOutcome, PropertyKind, PropertySpec, TrackQuery, Verdict,
};
use baton_plugin::{Actions, CollectionRequest, Ctx, Done, Failure, FolderRequest, Level, Plugin, fingerprint, host};
use serde_json::{Map, Value, json};

use baton_normalize::playlist::{self, LibraryIndex, Playlist};

use crate::exports::{self, LIKED, Play};
use crate::logic::{self, Export, M3uEntry, Membership, Primary, TrackInfo};
use crate::params;

mod import;
mod layout;
mod link_local;
mod lookup;
mod m3u;
mod next_track;
mod playlist_files;
mod read;
mod resolve;
mod store;
use import::*;
use layout::*;
use link_local::*;
use lookup::*;
use m3u::*;
use next_track::*;
use playlist_files::*;
use read::*;
use resolve::*;
use store::*;

pub struct Spotify;

type Fail = Failure;

fn invalid(s: impl Into<String>) -> Fail {
    Failure::InvalidInput(s.into())
}

/// The SDK's one policy from a catalog error to a failure.
fn cat_err(what: &str, e: CatalogError) -> Fail {
    baton_plugin::catalog_failure(what, e)
}

/// The guest path and writability of a granted folder.
fn grant(name: &str) -> Option<(String, bool)> {
    host::grants()
        .into_iter()
        .find(|g| g.name == name)
        .map(|g| (g.guest_path.trim_end_matches('/').to_string(), g.writable))
}

fn need_grant(name: &str, writable: bool, action: &str) -> Result<String, Fail> {
    match grant(name) {
        Some((p, w)) if w || !writable => Ok(p),
        Some(_) => Err(Failure::Permanent(baton_plugin::grants::read_only("spotify", name, &format!("`{action}`")))),
        None => {
            Err(Failure::Permanent(baton_plugin::grants::missing("spotify", name, writable, &format!("`{action}`"))))
        }
    }
}

fn settings() -> Value {
    serde_json::from_str(&host::settings()).unwrap_or_else(|_| json!({}))
}

/// An action's result as the SDK returns it, with the summary line made from it.
fn done(action: &str, result: Result<Value, Fail>) -> Result<Done, Fail> {
    result.map(|r| Done::new(summary(action, &r), r))
}

impl Plugin for Spotify {
    const NAME: &'static str = "spotify";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Spotify exports (Exportify CSVs, account-data JSON) merged into the catalog, offline: playlists for any track, a folder for every local file, m3u8 playlists, the next track to fetch.";

    fn folders() -> Vec<FolderRequest> {
        vec![
            baton_plugin::folder("spotify", false, "Exportify CSVs and Spotify account-data JSON files (read only)"),
            baton_plugin::folder(
                "music",
                true,
                "local audio files to link, plan and (with `apply`) move into playlist folders",
            ),
            baton_plugin::folder("playlists", true, "where `m3u` writes one .m3u8 per playlist"),
        ]
    }

    fn collections() -> Vec<CollectionRequest> {
        vec![
            baton_plugin::collection(
                "files",
                false,
                "the local audio files (fingerprint library) to link to Spotify tracks",
            ),
            baton_plugin::collection("tracks", true, "Spotify tracks from the exports, with their local files"),
            baton_plugin::collection("artists", true, "the tracks' artists"),
            baton_plugin::collection("playlists", true, "Spotify playlists with their tracks in order and added_at"),
        ]
    }

    fn actions() -> Actions {
        Actions::new()
            .add(
                "import",
                "Merge every export in the `spotify` folder into the catalog (tracks, artists, playlists with added_at and order); the exports of a playlist apply oldest first, each winning only for the rows it read: one that yields no track removes nothing, and one that would remove more than half of a playlist is withheld and listed under `suspicious` unless `accept_shrink`; lists tracks added and removed per playlist, and playlists whose export is gone (kept as they were).",
                |_: &Ctx, p: params::Import| done("import", import(p)),
            )
            .add(
                "playlists-for-track",
                "The playlists that hold one track, by uri, isrc, title+artist(+duration_ms) or the guest path of a local file. Ambiguous: candidates, no playlists.",
                |_: &Ctx, p: params::Track| done("playlists-for-track", playlists_for_track(p)),
            )
            .add(
                "link-local",
                "Link each local file of the `music` folder (the catalog's files) to its Spotify track: by ISRC, then tags plus duration.",
                |_: &Ctx, p: params::Paged| done("link-local", link_local(p)),
            )
            .add(
                "plan",
                "Dry run: the path each linked local file belongs at (its primary playlist's folder); stored under a plan_id. Moves nothing.",
                |ctx: &Ctx, p: params::Plan| done("plan", plan(ctx, p)),
            )
            .add(
                "apply",
                "Carry out a stored plan: journaled moves that never overwrite; the catalog's file links follow.",
                |_: &Ctx, p: params::PlanId| done("apply", apply(p)),
            )
            .add("undo", "Restore the moves an `apply` of this plan made.", |_: &Ctx, p: params::PlanId| {
                done("undo", undo(p))
            })
            .add(
                "m3u",
                "Write one <playlist>.m3u8 per Spotify playlist into the `playlists` folder; only files whose content changed.",
                |_: &Ctx, p: params::Paged| done("m3u", m3u(p)),
            )
            .add(
                "next-track",
                "The next track to fetch: an explicit uri, else tracks newly added to playlists (newest first), else liked songs with no local file. A returned track is not returned again until it changes.",
                |_: &Ctx, p: params::NextTrack| done("next-track", next_track(p)),
            )
    }
}

fn summary(action: &str, r: &Value) -> String {
    let n = |k: &str| {
        r.get(k)
            .map(|v| match v {
                Value::Array(a) => a.len().to_string(),
                Value::String(s) => s.clone(),
                _ => v.to_string(),
            })
            .unwrap_or_default()
    };
    match action {
        "import" => format!(
            "{} files, {} skipped, {} playlists, {} playlist files, {} tracks, {} memberships, {} playlists changed, {} shrinks withheld",
            n("files"),
            n("skipped_total"),
            n("playlists"),
            n("playlist_files"),
            n("tracks"),
            n("memberships"),
            n("changes"),
            n("suspicious")
        ),
        "playlists-for-track" => format!("{} playlists, liked: {}", n("playlists"), n("liked")),
        "link-local" => format!(
            "{} linked, {} ambiguous, {} unmatched, coverage {}",
            n("linked"),
            n("ambiguous"),
            n("unmatched"),
            n("coverage")
        ),
        "plan" => format!(
            "{}: {} moves, {} unassigned, {} unmatched",
            n("plan_id"),
            n("moves"),
            n("unassigned"),
            n("unmatched")
        ),
        "apply" => format!("{}: {} moved, {} skipped", n("plan_id"), n("moved"), n("skipped")),
        "undo" => format!("{}: {} restored, {} skipped", n("plan_id"), n("restored"), n("skipped")),
        "m3u" => format!(
            "{} written, {} unchanged, {} tracks without a file",
            n("written"),
            n("unchanged"),
            n("tracks_without_file")
        ),
        _ => format!("source: {}", n("source")),
    }
}

baton_plugin::register!(Spotify);
