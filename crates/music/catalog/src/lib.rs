//! The catalog: one library of tracks, artists, playlists (and whatever collections plugins
//! declare) that every music plugin shares, kept once on the host in the state database.
//!
//! Why it exists: in the setups baton replaces, each script kept its own partial copy of the
//! music library (Notion databases, CSVs), playlist membership was never merged and IDs were
//! matched by guesswork. Here a collection has a declared schema with stable property ids,
//! records are upserted in batches (one transaction, nothing written when anything is refused),
//! relations are kept both ways with order, and every write gets a gap-free sequence number so
//! mirrors ask "what changed since N". [`matcher`] is the one track matcher all plugins share.
//!
//! No wasmtime here: the runtime maps plugin calls onto [`Catalog`] with an [`Access`] that
//! carries the plugin's grants and quota.
pub mod bounds;
mod db;
mod error;
pub mod filter;
pub mod listing;
pub mod matcher;
mod record;
/// The matcher's text normalisation, its own crate so that plugins can compare as it does.
pub use baton_normalize as normalize;
/// Playlist files (m3u, XSPF), parsed in `baton-normalize` so a plugin reads them as the CLI does.
pub use baton_normalize::playlist;
pub mod schema;
mod store;
mod virtuals;
pub use virtuals::{AuditGapsSource, FilesSource, HandoffsSource, LedgerHandoffs, LibraryFile};

pub use error::{CatalogError, Result};
pub use filter::{Cond, Filter, FilterError};
pub use matcher::{Candidate, MatchMethod, MatchOutcome, TrackQuery, Verdict};
pub use record::RecordOut;
pub use schema::{Kind, Property, PropertySpec, normalize_isrc};
pub use store::{Catalog, Change, CollectionInfo, Entry, LinkOut, Page, UpsertReport};

use serde::{Deserialize, Serialize};

/// Who is calling and what they may touch.
#[derive(Debug, Clone)]
pub struct Access {
    /// `user` for the CLI, else the plugin's name (the prefix of the properties it owns).
    pub actor: String,
    /// `None`: everything (the user). Write implies read.
    pub grants: Option<Grants>,
    pub quota: Option<Quota>,
}

/// The collections a plugin was granted in `baton.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grants {
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

/// A plugin's share of the catalog: records and links it created, and the bytes of the records
/// it created.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    pub rows: u64,
    pub bytes: u64,
}

impl Quota {
    /// The default per plugin: 2,000,000 rows, 512 MiB.
    pub const DEFAULT: Quota = Quota { rows: 2_000_000, bytes: 512 << 20 };
}

impl Access {
    /// The person at the CLI: every collection, every property, no quota.
    pub fn user() -> Access {
        Access { actor: schema::USER.into(), grants: None, quota: None }
    }

    /// A plugin with its grants and quota.
    /// A plugin's access. A plugin can never act as one of the catalog's own owners (`core`,
    /// `user`): such a name (refused at load anyway) gets an actor no owner can equal.
    pub fn plugin(name: &str, grants: Grants, quota: Quota) -> Access {
        let reserved = [schema::CORE, schema::USER].iter().any(|o| o.eq_ignore_ascii_case(name));
        let actor = if reserved { format!("{name}\u{0}(reserved owner name)") } else { name.into() };
        Access { actor, grants: Some(grants), quota: Some(quota) }
    }

    pub fn is_user(&self) -> bool {
        self.grants.is_none()
    }

    /// Whether `collection` is the caller's own (`<plugin>.<name>`): always readable and writable.
    fn owns(&self, collection: &str) -> bool {
        collection.split_once('.').is_some_and(|(owner, _)| owner == self.actor)
    }

    pub fn can_read(&self, collection: &str) -> bool {
        match &self.grants {
            None => true,
            Some(g) => self.owns(collection) || g.read.iter().chain(&g.write).any(|c| c == collection),
        }
    }

    pub fn can_write(&self, collection: &str) -> bool {
        match &self.grants {
            None => true,
            Some(g) => self.owns(collection) || g.write.iter().any(|c| c == collection),
        }
    }
}

/// One record as it crosses the boundary: `{"key": "...", "props": {<property id>: value}}`.
/// In an upsert, a `null` value clears the property and a property left out is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    #[serde(default)]
    pub props: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    pub fn new(key: impl Into<String>, props: serde_json::Value) -> Record {
        let props = match props {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        Record { key: key.into(), props }
    }
}

/// How a link or a match was made. One enum everywhere (WIT, CLI JSON, links).
pub use matcher::MatchMethod as Method;
