//! File and agent names: what is a valid name, what an inbox entry is, and how handoff
//! file names are built (`<UTC yyyymmddThhmmssZ>__<KIND>__<Title-Slug>__<Agent>.json`), and
//! when two names are the same name on macOS ([`fold_key`]).
use std::io;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

/// The key under which macOS's file systems (APFS, HFS+, both case-insensitive by default) see a
/// name: canonical decomposition (NFD), lower case, recomposed (NFC). APFS compares names
/// normalisation-insensitively but keeps the form it was given; HFS+ stores NFD; both ignore
/// case. Two names with one key are one file or folder on a Mac, though two on Linux. (Plain
/// lower-casing is slightly broader than the file systems' own tables: it can call two names
/// the same that a Mac keeps apart, never the reverse.)
pub fn fold_key(name: &str) -> String {
    // ASCII is its own NFD and NFC: only the case folds (the common case, and on every filing).
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    name.nfd().flat_map(char::to_lowercase).nfc().collect()
}

/// True if `a` and `b` name the same file or folder on macOS.
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || fold_key(a) == fold_key(b)
}

/// The first of `existing` that is a different string from `name` but the same name on macOS:
/// where `name` would land on a Mac. `None` if there is none (or only `name` itself).
pub fn find_collision<'a>(existing: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    let key = fold_key(name);
    existing.into_iter().find(|e| *e != name && fold_key(e) == key)
}

/// The entry of `dir` that [`find_collision`] finds for `name`: use it instead of creating
/// `name`, so an agent folder named `Claude` and a `reply_to` of `claude` (or a name in NFD
/// and one in NFC) reach one folder on Linux as on macOS, and nothing is run twice or
/// written past. A missing `dir` has no entries.
pub fn existing_variant(dir: &Path, name: &str) -> io::Result<Option<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(n) = entry?.file_name().into_string() {
            names.push(n);
        }
    }
    Ok(find_collision(names.iter().map(String::as_str), name).map(str::to_string))
}

/// True for a valid agent or plugin name: `[A-Za-z0-9._-]+`, at most 128 bytes, with no
/// `..`, no leading or trailing dot. This is what keeps `reply_to` or a file name from
/// reaching outside the handoffs tree.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..")
}

/// `TEAM/AGENT`: two valid names joined by one `/`, an agent of a Claude Code team (what
/// `from`, `reply_to` and a RETURN's `to` may name besides a plain agent). It is never a path
/// under the handoffs tree: baton finds that agent's inbox through a claude-team mailbox.
pub fn team_agent(s: &str) -> Option<(&str, &str)> {
    let (team, agent) = s.split_once('/')?;
    (s.len() <= 128 && is_valid_name(team) && is_valid_name(agent)).then_some((team, agent))
}

/// True for what `from`, `reply_to` and a RETURN's `to` may hold (the schema's
/// `$defs/agent`): a valid name, or [`team_agent`].
pub fn is_valid_agent(s: &str) -> bool {
    is_valid_name(s) || team_agent(s).is_some()
}

/// How the pipeline treats a directory entry in an inbox, judged by its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A candidate handoff (`*.json`, not hidden, not a temp or conflict file).
    Candidate,
    /// Never looked at: dotfiles, editor swap/backup files, partial downloads, non-JSON.
    Ignored,
    /// A sync tool's conflict copy; it is filed with the reason, never executed.
    SyncConflict(&'static str),
}

/// Classifies an inbox entry by its name (raw bytes: names need not be UTF-8).
pub fn classify(name: &[u8]) -> Entry {
    if name.first() == Some(&b'.') || !name.ends_with(b".json") {
        return Entry::Ignored;
    }
    let lower = name.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if name.starts_with(b"~") || name.starts_with(b"#") {
        return Entry::Ignored;
    }
    if has(b"conflicted copy") {
        return Entry::SyncConflict("a \"conflicted copy\" made by a sync tool");
    }
    if has(b".sync-conflict-") {
        return Entry::SyncConflict("a Syncthing \".sync-conflict-\" copy");
    }
    if has(b"(case conflict") || has(b"(unicode encoding conflict") {
        return Entry::SyncConflict("a Dropbox copy of a name that differs only in case or Unicode form");
    }
    if has(b"'s conflicting copy") || has(b"(conflict") {
        return Entry::SyncConflict("a sync tool's conflict copy");
    }
    if numbered_copy(&name[..name.len() - 5]) {
        return Entry::SyncConflict("a numbered copy such as \"name (1).json\"");
    }
    Entry::Candidate
}

/// `stem (N)`: how Drive, Dropbox and file managers name a second copy.
fn numbered_copy(stem: &[u8]) -> bool {
    let Some(rest) = stem.strip_suffix(b")") else { return false };
    let Some(open) = rest.iter().rposition(|&b| b == b'(') else { return false };
    let digits = &rest[open + 1..];
    open > 0 && rest[open - 1] == b' ' && !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// The parts of a conventional handoff file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameParts<'a> {
    pub stamp: &'a str,
    pub kind: &'a str,
    pub slug: &'a str,
    pub agent: &'a str,
}

/// Splits `<stamp>__<KIND>__<slug>__<Agent>.json`; `None` if the name does not follow it.
pub fn parse_file_name(name: &str) -> Option<NameParts<'_>> {
    let stem = name.strip_suffix(".json")?;
    let mut parts = stem.split("__");
    let (stamp, kind, slug, agent) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(NameParts { stamp, kind, slug, agent })
}

/// The agent a file name names, if it follows the convention and the name is valid: a plain
/// name, or a Claude Code team's agent, written `TEAM+AGENT` in a file name ([`file_name`]).
pub fn agent_of_file_name(name: &str) -> Option<String> {
    let agent = parse_file_name(name)?.agent;
    if is_valid_name(agent) {
        return Some(agent.to_string());
    }
    let (team, member) = agent.split_once(TEAM_IN_FILE_NAME)?;
    let full = format!("{team}/{member}");
    team_agent(&full).is_some().then_some(full)
}

/// What stands for the `/` of `TEAM/AGENT` in a file name: a `/` there would be a folder.
pub const TEAM_IN_FILE_NAME: char = '+';

/// `Title-Slug`: ASCII letters and digits joined by single dashes, at most 60 bytes.
pub fn slug(title: &str) -> String {
    let mut out = String::with_capacity(title.len().min(60));
    for word in title.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if out.len() + word.len() + 1 > 60 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(word);
    }
    if out.is_empty() { "Untitled".into() } else { out }
}

/// A handoff file name: `<stamp>__<KIND>__<slug>__<agent>.json`. A team's agent `TEAM/AGENT`
/// is written `TEAM+AGENT` (never a `/`, which would name a folder).
pub fn file_name(stamp: &str, kind: &str, slug: &str, agent: &str) -> String {
    let agent = agent.replace('/', &TEAM_IN_FILE_NAME.to_string());
    format!("{stamp}__{kind}__{slug}__{agent}.json")
}

/// `; did you mean "A" or "B"?`, from the known names closest to `name`; else the list of
/// known names; else nothing.
pub fn did_you_mean(name: &str, known: &[String]) -> String {
    if known.is_empty() {
        return String::new();
    }
    let lower = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .map(|k| {
            let kl = k.to_ascii_lowercase();
            let d = if kl.contains(&lower) || lower.contains(&kl) { 1 } else { distance(&lower, &kl) };
            (d, k)
        })
        .collect();
    scored.sort();
    let limit = (name.len() / 3).max(2);
    let close: Vec<String> =
        scored.iter().filter(|(d, _)| *d <= limit).take(3).map(|(_, k)| format!("{k:?}")).collect();
    if close.is_empty() {
        let all: Vec<String> = known.iter().take(12).map(|k| format!("{k:?}")).collect();
        format!("; known: {}", all.join(", "))
    } else {
        format!("; did you mean {}?", close.join(" or "))
    }
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_team_agent_is_written_without_a_slash_and_read_back() {
        let name = file_name("20260118T070951Z", "TASK", "Echo-1", "alpha/team-lead");
        assert_eq!(name, "20260118T070951Z__TASK__Echo-1__alpha+team-lead.json");
        assert_eq!(agent_of_file_name(&name).as_deref(), Some("alpha/team-lead"));
        assert_eq!(agent_of_file_name("s__TASK__x__plain.json").as_deref(), Some("plain"));
        // Not a team's agent: two names are needed on either side of the `+`.
        assert_eq!(agent_of_file_name("s__TASK__x__a+.json"), None);
        assert_eq!(agent_of_file_name("s__TASK__x__a+b+c.json"), None);
    }

    #[test]
    fn names_reject_traversal() {
        for bad in ["", "..", "../../x", "a/b", ".hidden", "a..b", "trailing.", "sp ace", "é"] {
            assert!(!is_valid_name(bad), "{bad:?} should be invalid");
        }
        for good in ["baton", "Claude-Code-Agent", "cursor_1", "v1.2"] {
            assert!(is_valid_name(good), "{good:?} should be valid");
        }
    }

    #[test]
    fn classifies_entries() {
        assert_eq!(classify(b"a.json"), Entry::Candidate);
        assert_eq!(classify(b".a.json"), Entry::Ignored);
        assert_eq!(classify(b"a.json.tmp"), Entry::Ignored);
        assert_eq!(classify(b"a.json.swp"), Entry::Ignored);
        assert_eq!(classify(b"a.json~"), Entry::Ignored);
        assert_eq!(classify(b"a.txt"), Entry::Ignored);
        assert!(matches!(classify(b"a (conflicted copy 2026-01-01).json"), Entry::SyncConflict(_)));
        assert!(matches!(classify(b"a.sync-conflict-20260101-123456-ABC.json"), Entry::SyncConflict(_)));
        assert!(matches!(classify(b"a (1).json"), Entry::SyncConflict(_)));
        assert_eq!(classify(b"a (draft).json"), Entry::Candidate);
    }

    #[test]
    fn file_names_round_trip() {
        let n = file_name("20260118T070951Z", "TASK", &slug("Plans audit: v2!"), "Claude-Code-Agent");
        assert_eq!(n, "20260118T070951Z__TASK__Plans-audit-v2__Claude-Code-Agent.json");
        let p = parse_file_name(&n).unwrap();
        assert_eq!((p.kind, p.slug, p.agent), ("TASK", "Plans-audit-v2", "Claude-Code-Agent"));
        assert_eq!(agent_of_file_name("x__TASK__y__../../etc.json"), None);
    }

    /// A folder as APFS/HFS+ keeps it: one entry per [`fold_key`], keeping the first form given.
    #[derive(Default)]
    struct MacFolder(std::collections::HashMap<String, String>);

    impl MacFolder {
        /// Creates `name` without replacing; `Err(existing)` where a Mac would say EEXIST.
        fn create(&mut self, name: &str) -> Result<(), String> {
            match self.0.entry(fold_key(name)) {
                std::collections::hash_map::Entry::Occupied(e) => Err(e.get().clone()),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(name.to_string());
                    Ok(())
                }
            }
        }
    }

    #[test]
    fn names_that_differ_only_in_case_or_normalisation_fold_to_one_key() {
        let nfc = "Caf\u{e9}.json";
        let nfd = "Cafe\u{301}.json";
        assert_ne!(nfc, nfd);
        let mut mac = MacFolder::default();
        mac.create(nfc).unwrap();
        // On a Mac each of these is the file already there; on Linux each would be a second file.
        for twin in [nfd, "CAF\u{c9}.json", "cafe\u{301}.JSON", "caf\u{e9}.json"] {
            assert_eq!(mac.create(twin), Err(nfc.to_string()), "{twin:?}");
            assert!(same_name(nfc, twin), "{twin:?}");
        }
        for other in ["Cafe.json", "Caf\u{e8}.json", "Caf\u{e9}.json.tmp"] {
            assert!(mac.create(other).is_ok(), "{other:?}");
            assert!(!same_name(nfc, other), "{other:?}");
        }
        // Agent names: ASCII only, so case is what matters.
        assert!(same_name("Claude-Code-Agent", "claude-code-agent"));
        assert!(!same_name("Claude-Code-Agent", "Claude_Code_Agent"));
    }

    #[test]
    fn a_collision_is_found_among_existing_names_and_folders() {
        let existing = ["baton", "Claude", "Caf\u{e9}"];
        assert_eq!(find_collision(existing, "claude"), Some("Claude"));
        assert_eq!(find_collision(existing, "BATON"), Some("baton"));
        assert_eq!(find_collision(existing, "Cafe\u{301}"), Some("Caf\u{e9}"));
        assert_eq!(find_collision(existing, "Claude"), None, "the same name is not a collision");
        assert_eq!(find_collision(existing, "Cursor"), None);

        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("Claude")).unwrap();
        assert_eq!(existing_variant(d.path(), "claude").unwrap().as_deref(), Some("Claude"));
        assert_eq!(existing_variant(d.path(), "Claude").unwrap(), None);
        assert_eq!(existing_variant(&d.path().join("missing"), "x").unwrap(), None);
    }

    #[test]
    fn dropbox_case_and_unicode_conflict_copies_are_never_run() {
        assert!(matches!(classify(b"a (Case Conflict).json"), Entry::SyncConflict(_)));
        assert!(matches!(classify(b"a (Case Conflict 1).json"), Entry::SyncConflict(_)));
        assert!(matches!(classify(b"a (Unicode Encoding Conflict).json"), Entry::SyncConflict(_)));
    }
}
