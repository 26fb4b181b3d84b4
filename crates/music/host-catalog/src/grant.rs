//! `[plugins.NAME] catalog` and `catalog_quota` in `baton.toml`: which catalog collections a
//! plugin reads and writes, and its share of the catalog.
//!
//! These keys are this interface's, not the engine's: `baton-runtime` carries a plugin's table
//! and the result (see [`baton_runtime::HostInterface::configure`]), and this module parses
//! and checks the keys, applies the first-party plugins' defaults, and narrows the grant to
//! what the plugin asked for in `catalog-access`, as folders are narrowed to what it asked for
//! in `describe`.
use baton_catalog::{Grants, Quota};
use baton_runtime::{AccessReport, AccessRequest, Configured};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The `[plugins.NAME]` keys this interface reads.
pub const KEYS: &[&str] = &["catalog", "catalog_quota"];

/// The collections the host defines; a plugin's own are named `<plugin>.<name>`.
pub const COLLECTIONS: &[&str] = &["tracks", "artists", "playlists", "files", "handoffs", "audit_gaps"];
/// Of those, the ones no plugin writes: the fingerprint library and the host's own records.
pub const READ_ONLY_COLLECTIONS: &[&str] = &["files", "handoffs", "audit_gaps"];

/// `catalog = { read = [...], write = [...] }`: write implies read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantKey {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

/// `catalog_quota = { rows = N, bytes = N }`; unset values are [`Quota::DEFAULT`]'s.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaKey {
    rows: Option<u64>,
    bytes: Option<u64>,
}

/// What `baton.toml` gives one plugin of the catalog, before it is narrowed to what the plugin
/// asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub grants: Grants,
    pub quota: Quota,
    /// No `catalog` of the user's: the grants are the first-party default ([`default_grants`]).
    pub built_in: bool,
}

/// What a plugin gets of the catalog: of what `baton.toml` grants, only the collections it
/// asked for, writing only those it asked to write and was granted to write. Kept with the
/// plugin at load and read by every catalog call of its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogGrant {
    pub grants: Grants,
    pub quota: Quota,
}

impl Default for CatalogGrant {
    fn default() -> Self {
        CatalogGrant { grants: Grants::default(), quota: Quota::DEFAULT }
    }
}

/// The catalog grants the first-party music plugins get when their `[plugins.NAME]` table does
/// not set `catalog` (or there is no table): what each needs to do its job at all, so a new
/// user's first task does not fail on a commented-out line. Folders are never defaulted:
/// which of the user's folders a plugin sees stays the user's choice.
///
/// The merge rule is per key: a `catalog` the user writes replaces the default whole (it is
/// not a union), so a user can always narrow a grant (`catalog = { read = ["tracks"] }`, or
/// `catalog = {}` for none); every other key of the table leaves the default in place.
pub fn default_grants(plugin: &str) -> Option<Grants> {
    let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match plugin {
        "spotify" | "djay" => Some(Grants { read: list(&["files"]), write: list(&["tracks", "artists", "playlists"]) }),
        "drive-sync" => Some(Grants { read: list(COLLECTIONS), write: Vec::new() }),
        _ => None,
    }
}

/// Whether `name` is a collection a grant may name: a host collection, or `<plugin>.<name>` in
/// snake_case.
fn known_collection(name: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    COLLECTIONS.contains(&name) || name.split_once('.').is_some_and(|(owner, rest)| part(owner) && part(rest))
}

/// A `catalog` or `catalog_quota` key of a plugin's table that cannot be used; the message
/// names the key, the value and the fix.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Not the key's shape (an unknown field, a wrong type).
    #[error("`{key}`: {source}")]
    Shape { key: &'static str, source: serde_json::Error },
    #[error(
        "catalog {op} grants `{name}`, which is not a catalog collection (the host's are {}; a \
         plugin's own are named `<plugin>.<name>`); fix the name or remove it",
        COLLECTIONS.join(", ")
    )]
    Unknown { op: &'static str, name: String },
    #[error("catalog write grants `{name}`, which is read-only; move it to `read = [\"{name}\"]`")]
    ReadOnly { name: String },
}

/// Reads and checks `plugin`'s `catalog` and `catalog_quota` from its table's `sections`
/// (other keys are left alone). The error names the key, the value and the fix.
pub fn given(plugin: &str, sections: &Map<String, Value>) -> Result<Given, GrantError> {
    let key = |name: &str| sections.get(name).cloned();
    let own = match key("catalog") {
        Some(v) => {
            Some(serde_json::from_value::<GrantKey>(v).map_err(|source| GrantError::Shape { key: "catalog", source })?)
        }
        None => None,
    };
    let quota = match key("catalog_quota") {
        Some(v) => serde_json::from_value::<QuotaKey>(v)
            .map_err(|source| GrantError::Shape { key: "catalog_quota", source })?,
        None => QuotaKey { rows: None, bytes: None },
    };
    if let Some(own) = &own {
        for (op, names) in [("read", &own.read), ("write", &own.write)] {
            for name in names {
                if !known_collection(name) {
                    return Err(GrantError::Unknown { op, name: name.clone() });
                }
                if op == "write" && READ_ONLY_COLLECTIONS.contains(&name.as_str()) {
                    return Err(GrantError::ReadOnly { name: name.clone() });
                }
            }
        }
    }
    let built_in = own.is_none() && default_grants(plugin).is_some();
    let grants = match own {
        Some(g) => Grants { read: g.read, write: g.write },
        None => default_grants(plugin).unwrap_or_default(),
    };
    let quota =
        Quota { rows: quota.rows.unwrap_or(Quota::DEFAULT.rows), bytes: quota.bytes.unwrap_or(Quota::DEFAULT.bytes) };
    Ok(Given { grants, quota, built_in })
}

impl Given {
    /// The grant the plugin gets, given what it `asked` for (`catalog-access`), and one report
    /// line per collection asked.
    pub fn narrow(&self, asked: &[AccessRequest]) -> (CatalogGrant, Vec<AccessReport>) {
        let granted_write = |c: &str| self.grants.write.iter().any(|g| g == c);
        let granted_read = |c: &str| granted_write(c) || self.grants.read.iter().any(|g| g == c);
        let writes = |r: &AccessRequest| r.writable && granted_write(&r.name);
        let grants = Grants {
            read: asked.iter().filter(|r| granted_read(&r.name) && !writes(r)).map(|r| r.name.clone()).collect(),
            write: asked.iter().filter(|r| writes(r)).map(|r| r.name.clone()).collect(),
        };
        let report = asked
            .iter()
            .map(|r| AccessReport {
                name: r.name.clone(),
                purpose: r.purpose.clone(),
                wants_write: r.writable,
                granted: if granted_write(&r.name) {
                    "write"
                } else if granted_read(&r.name) {
                    "read"
                } else {
                    "none"
                },
                access: if writes(r) {
                    "read-write"
                } else if granted_read(&r.name) {
                    "read-only"
                } else {
                    "not granted"
                },
                built_in: self.built_in,
            })
            .collect();
        (CatalogGrant { grants, quota: self.quota }, report)
    }
}

/// [`baton_runtime::HostInterface::configure`] for the catalog; its error is the message that
/// contract carries.
pub(crate) fn configure(
    plugin: &str,
    asked: &[AccessRequest],
    sections: &Map<String, Value>,
) -> Result<Configured, String> {
    let (grant, report) = given(plugin, sections).map_err(|e| e.to_string())?.narrow(asked);
    Ok(Configured { state: std::sync::Arc::new(grant), report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sections(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn ask(name: &str, writable: bool) -> AccessRequest {
        AccessRequest { name: name.into(), writable, purpose: String::new() }
    }

    #[test]
    fn grants_and_quota_are_read_and_checked() {
        let s = sections(json!({"catalog": {"read": ["files"], "write": ["tracks", "djay.history"]},
                                "catalog_quota": {"rows": 10}, "grants": {"x": "y"}}));
        let g = given("spotify", &s).unwrap();
        assert_eq!(g.grants.read, ["files"]);
        assert_eq!(g.grants.write, ["tracks", "djay.history"]);
        assert_eq!(g.quota, Quota { rows: 10, bytes: Quota::DEFAULT.bytes });
        assert!(!g.built_in);
        let e = given("spotify", &sections(json!({"catalog": {"read": ["trakcs"]}}))).unwrap_err().to_string();
        assert!(e.contains("`trakcs`") && e.contains("not a catalog collection"), "{e}");
        let e = given("spotify", &sections(json!({"catalog": {"write": ["files"]}}))).unwrap_err().to_string();
        assert!(e.contains("read-only") && e.contains("read = [\"files\"]"), "{e}");
        let e = given("spotify", &sections(json!({"catalog": {"rw": ["tracks"]}}))).unwrap_err().to_string();
        assert!(e.contains("rw"), "{e}");
        let e = given("spotify", &sections(json!({"catalog_quota": {"rowz": 1}}))).unwrap_err().to_string();
        assert!(e.contains("catalog_quota") && e.contains("rowz"), "{e}");
    }

    #[test]
    fn first_party_defaults_apply_unless_the_user_sets_catalog() {
        let none = Map::new();
        assert_eq!(given("spotify", &none).unwrap().grants.write, ["tracks", "artists", "playlists"]);
        assert_eq!(given("djay", &none).unwrap().grants.read, ["files"]);
        assert!(given("djay", &none).unwrap().built_in);
        assert_eq!(given("drive-sync", &none).unwrap().grants.read.len(), COLLECTIONS.len());
        assert!(given("drive-sync", &none).unwrap().grants.write.is_empty());
        let other = given("someone-elses", &none).unwrap();
        assert!(other.grants.read.is_empty() && !other.built_in);
        // A quota alone keeps the default grants.
        let q = sections(json!({"catalog_quota": {"rows": 5}}));
        assert_eq!(given("djay", &q).unwrap().grants.write, ["tracks", "artists", "playlists"]);
        // `catalog` replaces the default whole (no union), `{}` included.
        let d = given("djay", &sections(json!({"catalog": {"read": ["tracks"]}}))).unwrap();
        assert_eq!((d.grants.read.as_slice(), d.grants.write.len()), (&["tracks".to_string()][..], 0));
        let s = given("spotify", &sections(json!({"catalog": {}}))).unwrap();
        assert!(s.grants.read.is_empty() && s.grants.write.is_empty() && !s.built_in);
    }

    #[test]
    fn the_grant_is_narrowed_to_what_the_plugin_asked_for() {
        let g =
            given("p", &sections(json!({"catalog": {"read": ["artists"], "write": ["tracks", "playlists"]}}))).unwrap();
        let (got, report) =
            g.narrow(&[ask("tracks", true), ask("playlists", false), ask("artists", true), ask("files", false)]);
        // Written only if asked to write and granted write; read if granted either.
        assert_eq!(got.grants.write, ["tracks"]);
        assert_eq!(got.grants.read, ["playlists", "artists"]);
        let lines: Vec<(&str, &str, &str)> = report.iter().map(|r| (r.name.as_str(), r.granted, r.access)).collect();
        assert_eq!(
            lines,
            [
                ("tracks", "write", "read-write"),
                ("playlists", "write", "read-only"),
                ("artists", "read", "read-only"),
                ("files", "none", "not granted"),
            ]
        );
    }
}
