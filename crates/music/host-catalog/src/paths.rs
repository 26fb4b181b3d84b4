//! `files` as a plugin sees it: only library files inside its folder grants, named by guest
//! path. The library (`fp_files`) keys files by host path as `baton fp scan` stored them; this
//! maps them both ways and hides the rest, in records, links, change details and match reasons.
use std::path::{Path, PathBuf};

use baton_catalog::{Access, Catalog, RecordOut};
use baton_runtime::grants::GrantDir;
use baton_runtime::{Grant, guest_path_of, host_path_of};
use serde_json::Value;

const FILES: &str = baton_catalog::schema::FILES;

/// The plugin's folder grants, as seen from the library.
pub struct Files {
    grants: Vec<Grant>,
    /// Each grant's folder as opened when the plugin was loaded (same order as `grants`).
    dirs: Vec<GrantDir>,
}

impl Files {
    pub fn new(grants: &[Grant], dirs: &[GrantDir]) -> Self {
        Files { grants: grants.to_vec(), dirs: dirs.to_vec() }
    }

    /// The file at `guest`, resolved once: opened beneath its grant's folder handle, and named
    /// by where that open file really is. Gives the grant's index, the real path and the
    /// grant's spelling of it (the configured path, made absolute, joined with the same rest).
    /// A file that is not there (a library row whose file is gone) is named lexically beneath
    /// the grant's folder, both ways. `None`: outside the grants.
    fn resolve(&self, guest: &str) -> Option<(usize, PathBuf, PathBuf)> {
        let (i, rel) = baton_runtime::grants::locate(&self.grants, guest).ok()?;
        let dir = self.dirs.get(i)?;
        let abs = std::path::absolute(&self.grants[i].host_path).ok()?;
        match baton_runtime::grants::open_beneath(dir, &rel) {
            Ok(file) => {
                let real = baton_runtime::grants::path_of_open(&file)?;
                let rest = real.strip_prefix(&dir.real).ok()?.to_path_buf();
                Some((i, real, abs.join(rest)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some((i, dir.real.join(&rel), abs.join(&rel))),
            Err(_) => None,
        }
    }

    /// The host path of a guest path inside a grant.
    pub fn host(&self, guest: &str) -> Option<PathBuf> {
        host_path_of(&self.grants, guest)
    }

    /// The guest path of a stored (host) path, or `None` when it is in no grant.
    pub fn guest(&self, host: &str) -> Option<String> {
        guest_path_of(&self.grants, Path::new(host))
    }

    /// The library's key of the file at `guest`: the grant's spelling of its host path, or its
    /// real path, whichever the library holds. `None`: outside the grants, or not in the library
    /// (or `files` not readable).
    ///
    /// Resolved once through the grant's handle ([`Files::resolve`]): a symlink flipped by
    /// another task between a check and the lookup cannot name a file outside the grants.
    pub fn stored_key(&self, cat: &Catalog, access: &Access, guest: &str) -> Option<String> {
        let (_, real, given) = self.resolve(guest)?;
        let mut candidates = vec![given.clone()];
        if real != given {
            candidates.push(real);
        }
        candidates
            .into_iter()
            .filter_map(|p| p.into_os_string().into_string().ok())
            .find(|k| cat.get(access, FILES, k, false).ok().flatten().is_some())
    }

    /// The library's key of a file this plugin moved to `guest` and has not been scanned there:
    /// see [`Catalog::files_follow_move`]. Only a plugin that could have moved it, through a
    /// writable grant holding `guest`, has the library follow.
    pub fn follow_move(&self, cat: &Catalog, access: &Access, guest: &str) -> Option<String> {
        let (i, _, given) =
            baton_runtime::grants::resolve_once(&self.grants, &self.dirs, guest).map(|(i, _, real)| {
                let rest = real.strip_prefix(&self.dirs[i].real).map(Path::to_path_buf).unwrap_or_default();
                (i, real, std::path::absolute(&self.grants[i].host_path).unwrap_or_default().join(rest))
            })?;
        if !self.grants[i].writable {
            return None;
        }
        let to = given.into_os_string().into_string().ok()?;
        cat.files_follow_move(access, &self.roots(), &to).ok().flatten()
    }

    /// A record as the plugin sees it: a `files` record by guest path (none outside the grants),
    /// and in other collections, links to files by guest path (those outside dropped).
    pub fn shape(&self, collection: &str, mut rec: RecordOut, file_props: &[String]) -> Option<RecordOut> {
        if collection == FILES {
            let guest = self.guest(&rec.key)?;
            rec.props.insert("path".into(), Value::String(guest.clone()));
            rec.key = guest;
            return Some(rec);
        }
        for prop in file_props {
            if let Some(Value::Array(items)) = rec.props.get_mut(prop) {
                // Keys of a relation, or entries `{"track", "position"}` of a list: each by its
                // guest path, and one outside the grants left out.
                *items = items
                    .iter()
                    .filter_map(|v| match v {
                        Value::Object(o) => {
                            let guest = o.get("track").and_then(Value::as_str).and_then(|k| self.guest(k))?;
                            let mut o = o.clone();
                            o.insert("track".into(), Value::String(guest));
                            Some(Value::Object(o))
                        }
                        _ => v.as_str().and_then(|k| self.guest(k)).map(Value::String),
                    })
                    .collect();
                if items.is_empty() {
                    rec.props.remove(prop);
                }
            }
        }
        Some(rec)
    }

    /// The host folders of the grants as the library may spell them: as configured (made
    /// absolute) and resolved. Library keys outside these are outside the grants.
    pub fn roots(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in &self.grants {
            let given = std::path::absolute(&g.host_path).ok();
            let real = self
                .grants
                .iter()
                .position(|x| std::ptr::eq(x, g))
                .and_then(|i| self.dirs.get(i))
                .map(|d| d.real.clone());
            for p in [given, real].into_iter().flatten() {
                if let Ok(s) = p.into_os_string().into_string()
                    && !out.contains(&s)
                {
                    out.push(s);
                }
            }
        }
        out
    }

    /// How many library files lie in the grants' folders (counted in SQL on the path index).
    pub fn count(&self, cat: &Catalog, access: &Access) -> u64 {
        cat.files_count_under(access, &self.roots()).unwrap_or(0)
    }

    /// A match reason with the library file it names by guest path (`… with /music/a.flac`).
    pub fn reason(&self, r: String) -> String {
        match r.split_once(" with /") {
            Some((head, path)) => match self.guest(&format!("/{path}")) {
                Some(g) => format!("{head} with {g}"),
                None => format!("{head} with a library file outside the plugin's grants"),
            },
            None => r,
        }
    }

    /// A change's detail with links to files by guest path (those outside the grants hidden).
    pub fn detail(&self, mut d: Value) -> Value {
        if d.get("target").and_then(Value::as_str) == Some(FILES)
            && let Some(k) = d.get("target_key").and_then(Value::as_str)
        {
            d["target_key"] = self.guest(k).map(Value::String).unwrap_or(Value::Null);
        }
        if let Some(Value::Object(links)) = d.get_mut("links")
            && let Some(Value::Object(f)) = links.get_mut("files")
        {
            for side in ["added", "removed"] {
                if let Some(Value::Array(items)) = f.get_mut(side) {
                    *items = items
                        .iter()
                        .filter_map(|v| v.as_str().and_then(|k| self.guest(k)).map(Value::String))
                        .collect();
                }
            }
        }
        d
    }
}

/// A `files` query cursor: the library key, hex-encoded (opaque to the plugin).
pub fn encode_cursor(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_cursor(c: &str) -> Option<String> {
    if !c.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..c.len()).step_by(2).map(|i| u8::from_str_radix(c.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_by_guest_path_or_hidden() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().canonicalize().unwrap();
        for f in ["music/a.flac", "other/b.flac"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), b"").unwrap();
        }
        let g = [Grant { name: "music".into(), host_path: d.join("music"), writable: false }];
        let files = Files::new(&g, &[baton_runtime::grants::GrantDir::open(&g[0].host_path).unwrap()]);
        let a = d.join("music/a.flac").display().to_string();
        let b = d.join("other/b.flac").display().to_string();
        assert_eq!(
            files.reason(format!("fingerprint similarity 0.990 with {a}")),
            "fingerprint similarity 0.990 with /music/a.flac"
        );
        assert_eq!(
            files.reason(format!("fingerprint similarity 0.990 with {b}")),
            "fingerprint similarity 0.990 with a library file outside the plugin's grants"
        );
        let detail = files.detail(serde_json::json!({"target": "files", "target_key": b, "links": {"files": {"added": [a, b], "removed": []}}}));
        assert_eq!(detail["target_key"], Value::Null);
        assert_eq!(detail["links"]["files"]["added"], serde_json::json!(["/music/a.flac"]));
        for key in [a.as_str(), "/x/ü y", ""] {
            assert_eq!(decode_cursor(&encode_cursor(key)).as_deref(), Some(key));
        }
        assert_eq!(decode_cursor("zz"), None);
    }
}
