//! File and folder names in a synced folder: display names of collections, the names sync
//! clients give their copies, and names that collide on case-insensitive or
//! Unicode-normalising file systems.
//!
//! Pure (no WIT, no file system), so it is unit-tested natively.
use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;

/// A collection's display name: `tracks` → `Tracks`, `audit_gaps` → `Audit Gaps`,
/// `djay.sessions` → `Djay Sessions`.
pub fn display_name(id: &str) -> String {
    id.split(['_', '.', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `name` is safe as one file or folder name on every sync client's platform.
pub fn safe_component(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.chars().any(|c| matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control())
}

/// `Tracks (2)` → (`Tracks`, 2): the name sync clients and Drive give a second folder or file
/// of the same name. For files the number sits before the extension: `a (1).csv`.
pub fn numbered_sibling(name: &str) -> Option<(String, u32)> {
    let (stem, ext) = split_ext(name);
    let open = stem.rfind(" (")?;
    let inner = stem[open + 2..].strip_suffix(')')?;
    if inner.is_empty() || inner.len() > 3 || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = inner.parse().ok()?;
    let base = &stem[..open];
    if base.is_empty() {
        return None;
    }
    Some((format!("{base}{ext}"), n))
}

/// The original name of a sync client's conflict copy, if `name` is one:
/// Dropbox `a (conflicted copy 2026-01-18).csv` / `a (Brian's conflicted copy …).csv`,
/// Syncthing `a.sync-conflict-20260118-070951-ABCDEFG.csv`.
pub fn conflict_copy_of(name: &str) -> Option<String> {
    if let Some(i) = name.find(".sync-conflict-") {
        let rest = &name[i + ".sync-conflict-".len()..];
        let ext = rest.find('.').map(|j| &rest[j..]).unwrap_or("");
        return Some(format!("{}{ext}", &name[..i]));
    }
    let lower = name.to_lowercase();
    let at = lower.find("conflicted copy")?;
    let open = lower[..at].rfind(" (")?;
    let close = at + lower[at..].find(')')?;
    Some(format!("{}{}", &name[..open], &name[close + 1..]))
}

/// `Tracks.csv` → (`Tracks`, `.csv`); a leading dot is part of the stem.
pub fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The key under which two names collide on a case-insensitive, normalising file system
/// (macOS, Windows, Drive): NFC, then lower case.
pub fn fold(name: &str) -> String {
    name.nfc().collect::<String>().to_lowercase()
}

/// Groups of two or more distinct names that fold to the same key (`Tracks`/`tracks`,
/// `Café` in NFC and in NFD), each sorted.
pub fn folding_conflicts<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in names {
        by.entry(fold(n)).or_default().push(n.to_string());
    }
    by.into_values()
        .filter_map(|mut v| {
            v.sort();
            v.dedup();
            (v.len() > 1).then_some(v)
        })
        .collect()
}

/// `name` with ` (from <folder>)` before its extension: where a clashing file lands.
pub fn from_name(name: &str, folder: &str) -> String {
    let (stem, ext) = split_ext(name);
    format!("{stem} (from {folder}){ext}")
}

/// Names baton keeps for itself in the drive root; never a collection, never merged.
pub fn reserved(name: &str) -> bool {
    name == "_baton_trash" || name == "_archive" || name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(display_name("tracks"), "Tracks");
        assert_eq!(display_name("audit_gaps"), "Audit Gaps");
        assert_eq!(display_name("djay.sessions"), "Djay Sessions");
    }

    #[test]
    fn numbered_siblings() {
        assert_eq!(numbered_sibling("Tracks (1)"), Some(("Tracks".into(), 1)));
        assert_eq!(numbered_sibling("Tracks (12)"), Some(("Tracks".into(), 12)));
        assert_eq!(numbered_sibling("a (2).csv"), Some(("a.csv".into(), 2)));
        assert_eq!(numbered_sibling("Tracks"), None);
        assert_eq!(numbered_sibling("Tracks (live)"), None);
        assert_eq!(numbered_sibling("(1)"), None);
        assert_eq!(numbered_sibling("Mix (2019)"), None, "a year is not a copy number");
    }

    #[test]
    fn conflict_copies() {
        assert_eq!(conflict_copy_of("Tracks (conflicted copy 2026-01-18).csv").as_deref(), Some("Tracks.csv"));
        assert_eq!(conflict_copy_of("Tracks (Brian's conflicted copy 2026-01-18).csv").as_deref(), Some("Tracks.csv"));
        assert_eq!(conflict_copy_of("Tracks.sync-conflict-20260118-070951-ABCDEFG.csv").as_deref(), Some("Tracks.csv"));
        assert_eq!(conflict_copy_of("Tracks.csv"), None);
        assert_eq!(conflict_copy_of("Tracks (1).csv"), None);
    }

    #[test]
    fn case_and_unicode_conflicts() {
        let nfc = "Caf\u{e9}.csv";
        let nfd = "Cafe\u{301}.csv";
        let got = folding_conflicts(["Tracks.csv", "tracks.csv", nfc, nfd, "Other.csv"]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().any(|g| g.contains(&"Tracks.csv".to_string()) && g.contains(&"tracks.csv".to_string())));
        assert!(got.iter().any(|g| g.len() == 2 && g.contains(&nfc.to_string()) && g.contains(&nfd.to_string())));
    }

    #[test]
    fn clash_names() {
        assert_eq!(from_name("Tracks.csv", "Tracks (1)"), "Tracks (from Tracks (1)).csv");
        assert_eq!(from_name("notes", "Tracks (2)"), "notes (from Tracks (2))");
        assert!(safe_component("Tracks"));
        assert!(!safe_component("a/b"));
        assert!(reserved("_baton_trash") && reserved(".x") && !reserved("Tracks"));
    }
}
