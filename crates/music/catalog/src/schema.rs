//! Collection schemas: property kinds, the stable property ids plugins write by, and the core
//! collections (`tracks`, `artists`, `playlists`, `files`) whose schemas the host fixes, with
//! units (`duration_ms` is an integer, `artists` a list), so every music plugin agrees on them.
use serde::{Deserialize, Serialize};

/// What a property holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Text,
    Number,
    Date,
    Bool,
    Select,
    MultiSelect,
    Url,
    Relation,
    /// An ordered list of records of `target` that may repeat one (a playlist's entries),
    /// written and read as `[{"track": key, "position": n}]` (positions from 1). Kept one row
    /// per entry (`cat_entries`), never capped as a text value is. Plugins declare it as a
    /// relation whose id ends in `entries` (the plugin interface has no word of its own for it)
    /// and see it as a relation.
    Entries,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::Bool => "bool",
            Kind::Select => "select",
            Kind::MultiSelect => "multi-select",
            Kind::Url => "url",
            Kind::Relation => "relation",
            Kind::Entries => "entries",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "text" => Kind::Text,
            "number" => Kind::Number,
            "date" => Kind::Date,
            "bool" => Kind::Bool,
            "select" => Kind::Select,
            "multi-select" => Kind::MultiSelect,
            "url" => Kind::Url,
            "relation" => Kind::Relation,
            "entries" => Kind::Entries,
            _ => return None,
        })
    }
}

/// A property as declared: `id` is stable (records are written by it), `name` is the display
/// name (a rename changes only this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertySpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: Kind,
    /// For a relation: the collection it points to.
    #[serde(default)]
    pub target: Option<String>,
    /// For a relation: the property of the target collection that shows the other side
    /// (created there if missing). The side declared first stores the links and their order.
    #[serde(default)]
    pub inverse: Option<String>,
    /// For a number: whole numbers only (units such as `_ms`).
    #[serde(default)]
    pub integer: bool,
}

/// A property as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Property {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub target: Option<String>,
    pub inverse: Option<String>,
    /// Whether this side of a relation stores the links (the other side is derived).
    pub stored: bool,
    pub integer: bool,
    pub owner: String,
    pub archived: bool,
}

/// The owner of the host-defined (core) properties and collections.
pub const CORE: &str = "core";
/// The owner name of writes made by the person at the CLI.
pub const USER: &str = "user";

/// The read-only collection over the fingerprint library (read through [`crate::FilesSource`]).
pub const FILES: &str = "files";

fn p(id: &str, name: &str, kind: Kind) -> PropertySpec {
    PropertySpec { id: id.into(), name: Some(name.into()), kind, target: None, inverse: None, integer: false }
}

fn rel(id: &str, name: &str, target: &str, inverse: Option<&str>) -> PropertySpec {
    PropertySpec { target: Some(target.into()), inverse: inverse.map(Into::into), ..p(id, name, Kind::Relation) }
}

/// An ordered list with repeats ([`Kind::Entries`]) of records of `target`.
fn list(id: &str, name: &str, target: &str) -> PropertySpec {
    PropertySpec { target: Some(target.into()), ..p(id, name, Kind::Entries) }
}

/// The kind `spec` is kept as: a relation whose id ends in `entries` (`entries`,
/// `file_entries`, `djay.entries`) is an ordered list with repeats ([`Kind::Entries`]), the
/// way a plugin, whose interface knows only `relation`, declares one.
pub fn declared_kind(spec: &PropertySpec) -> Kind {
    let name = spec.id.rsplit('.').next().unwrap_or(&spec.id);
    if spec.kind == Kind::Relation && name.ends_with("entries") { Kind::Entries } else { spec.kind }
}

fn int(id: &str, name: &str) -> PropertySpec {
    PropertySpec { integer: true, ..p(id, name, Kind::Number) }
}

/// The core collections and their fixed schemas, in creation order (a relation's stored side
/// comes first).
pub fn core_collections() -> Vec<(&'static str, Vec<PropertySpec>)> {
    vec![
        ("artists", vec![p("name", "Name", Kind::Text), p("external_ids", "External IDs", Kind::MultiSelect)]),
        (
            "tracks",
            vec![
                p("title", "Title", Kind::Text),
                p("artists", "Artists", Kind::MultiSelect),
                p("album", "Album", Kind::Text),
                int("duration_ms", "Duration (ms)"),
                p("isrc", "ISRC", Kind::Text),
                p("external_ids", "External IDs", Kind::MultiSelect),
                rel("artist_refs", "Artist records", "artists", Some("tracks")),
                rel("files", "Local files", FILES, None),
            ],
        ),
        (
            "playlists",
            vec![
                p("name", "Name", Kind::Text),
                p("source", "Source", Kind::Select),
                p("owner", "Owner", Kind::Text),
                p("external_ids", "External IDs", Kind::MultiSelect),
                rel("tracks", "Tracks", "tracks", Some("playlists")),
                // Entries of playlist files (m3u, XSPF) that name library files: written by
                // `baton catalog import-playlist` and by plugins (spotify's `import`).
                rel("files", "Local files", FILES, None),
                // Every entry in order, repeats included (`tracks` is the distinct set):
                // `entries` of tracks, `file_entries` of library files (a playlist file's
                // entries, by their position in the file).
                list("entries", "Entries", "tracks"),
                list("file_entries", "File entries", FILES),
            ],
        ),
    ]
}

/// The read-only collection over the ledger's handoffs (`tasks`).
pub const HANDOFFS: &str = "handoffs";

/// The read-only collection over the latest plans audit's open gaps and false claims.
pub const AUDIT_GAPS: &str = "audit_gaps";

/// The virtual collections: computed from the host's own data, never written through the
/// catalog, and visible to a plugin only when granted by name.
pub const VIRTUAL: [&str; 3] = [FILES, HANDOFFS, AUDIT_GAPS];

/// Whether `collection` is one of the [`VIRTUAL`] collections.
pub fn is_virtual(collection: &str) -> bool {
    VIRTUAL.contains(&collection)
}

/// The fixed schema of a virtual collection (`None` for any other).
pub fn virtual_properties(collection: &str) -> Option<Vec<Property>> {
    match collection {
        FILES => Some(files_properties()),
        HANDOFFS => Some(handoffs_properties()),
        AUDIT_GAPS => Some(audit_gaps_properties()),
        _ => None,
    }
}

/// One property of a virtual collection: owned by the host, never archived.
fn fixed(id: &str, name: &str, kind: Kind, integer: bool) -> Property {
    Property {
        id: id.into(),
        name: name.into(),
        kind,
        target: None,
        inverse: None,
        stored: true,
        integer,
        owner: CORE.into(),
        archived: false,
    }
}

/// The (virtual, read-only) properties of `files`, as [`crate::virtuals::file_record`] fills them.
pub fn files_properties() -> Vec<Property> {
    let f = |id: &str, name: &str, kind: Kind| fixed(id, name, kind, matches!(id, "duration_ms" | "size"));
    vec![
        f("path", "Path", Kind::Text),
        f("title", "Title", Kind::Text),
        f("artist", "Artist", Kind::Text),
        f("album", "Album", Kind::Text),
        f("isrc", "ISRC", Kind::Text),
        f("duration_ms", "Duration (ms)", Kind::Number),
        f("codec", "Codec", Kind::Text),
        f("lossless", "Lossless", Kind::Bool),
        f("size", "Size (bytes)", Kind::Number),
        f("fingerprinted", "Fingerprinted", Kind::Bool),
    ]
}

/// The (virtual, read-only) properties of `handoffs`, one record per TASK in the ledger, keyed by
/// its handoff id. `seq` is the ledger's row id: it only grows, so a mirror can ask for
/// `seq>N`. `to` is the plugin the TASK named (`baton` when it named none); `created` is when
/// baton claimed it.
pub fn handoffs_properties() -> Vec<Property> {
    let f = |id: &str, name: &str, kind: Kind| fixed(id, name, kind, matches!(id, "seq" | "attempts"));
    vec![
        f("seq", "Sequence", Kind::Number),
        f("id", "ID", Kind::Text),
        f("from", "From", Kind::Text),
        f("to", "To", Kind::Text),
        f("action", "Action", Kind::Text),
        f("title", "Title", Kind::Text),
        f("status", "Status", Kind::Select),
        f("created", "Created", Kind::Date),
        f("finished", "Finished", Kind::Date),
        f("error_code", "Error code", Kind::Select),
        f("attempts", "Attempts", Kind::Number),
        f("reply_to", "Reply to", Kind::Text),
    ]
}

/// The (virtual, read-only) properties of `audit_gaps`: one record per open gap of the latest
/// plans audit report (and per false claim), keyed `<plan>::<deliverable path>` as the audit
/// keys its gaps.
pub fn audit_gaps_properties() -> Vec<Property> {
    let f = |id: &str, name: &str, kind: Kind| fixed(id, name, kind, false);
    vec![
        f("plan", "Plan", Kind::Text),
        f("path", "Deliverable", Kind::Text),
        f("group", "Group", Kind::Text),
        f("status", "Status", Kind::Select),
        f("reason", "Reason", Kind::Text),
        f("claimed_done", "Claimed done", Kind::Bool),
        f("false_claim", "False claim", Kind::Bool),
        f("first_seen", "First seen", Kind::Date),
        f("new", "New", Kind::Bool),
        f("emitted", "Follow-up", Kind::Text),
        f("report", "Report", Kind::Date),
    ]
}

/// Whether `id` is a well-formed property id: snake_case, optionally under one owner prefix
/// (`djay.play_count`).
pub fn valid_id(id: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && s.as_bytes()[0].is_ascii_lowercase()
    };
    match id.split_once('.') {
        Some((owner, rest)) => part(owner) && part(rest),
        None => part(id),
    }
}

/// The owner a property id implies: the prefix before the dot, or core.
pub fn owner_of(id: &str) -> &str {
    id.split_once('.').map(|(o, _)| o).unwrap_or(CORE)
}

/// An ISRC in its canonical form (`CC-XXX-YY-NNNNN` → `CCXXXYYNNNNN`, upper case), or None when
/// it is not one.
pub fn normalize_isrc(s: &str) -> Option<String> {
    baton_normalize::isrc(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isrc_forms() {
        assert_eq!(normalize_isrc("us-um7-17-03861").as_deref(), Some("USUM71703861"));
        assert_eq!(normalize_isrc("GBAYE0601498").as_deref(), Some("GBAYE0601498"));
        assert_eq!(normalize_isrc("GBAYE06014"), None);
        assert_eq!(normalize_isrc("12AYE0601498"), None);
        assert_eq!(normalize_isrc("GBAYE06O1498"), None);
    }

    #[test]
    fn ids() {
        assert!(valid_id("duration_ms"));
        assert!(valid_id("djay.play_count"));
        assert!(!valid_id("Djay.play"));
        assert!(!valid_id("a.b.c"));
        assert!(!valid_id(""));
        assert_eq!(owner_of("djay.play_count"), "djay");
        assert_eq!(owner_of("title"), CORE);
    }
}
