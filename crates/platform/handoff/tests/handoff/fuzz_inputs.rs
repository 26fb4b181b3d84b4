//! Each input under `tests/fixtures/fuzz/<target>/` (libFuzzer's saved crashes, plus the cases
//! they stand for) read again the way its fuzz target reads it: no panic, and a sensible result.
use std::path::PathBuf;

use baton_handoff::{dialect, names, stamp};

/// Every input saved for `target`; at least one (an empty folder would make the test vacuous).
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures/fuzz").join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder").path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

/// File names whose 16th byte falls inside a multibyte character (`é`, or U+FFFD where the
/// bytes were not UTF-8) once panicked in the dialect reader's name parsing and stopped `serve`
/// for good. Each is read: a loose JSON handoff under that name keeps its sender, a title, and
/// a date only if one is there; the name checks answer without a panic.
#[test]
fn handoff_file_names_the_fuzzer_found_are_read() {
    for (path, bytes) in inputs("handoff_file_name") {
        let name = String::from_utf8_lossy(&bytes).into_owned();
        let as_json = if name.ends_with(".json") { name.clone() } else { format!("{name}.json") };
        let seen = dialect::read(&as_json, br#"{"from": "Cursor MM1 Agent", "to": "baton"}"#)
            .unwrap_or_else(|e| panic!("{}: {as_json:?} unreadable: {e}", path.display()));
        assert_eq!(seen.dialect, dialect::Dialect::Loose, "{}", path.display());
        assert_eq!(seen.from.as_deref(), Some("Cursor MM1 Agent"));
        assert!(!seen.title.is_empty(), "{}: no title", path.display());
        if let Some(t) = &seen.created_at {
            assert!(stamp::parse_rfc3339(t).is_some(), "{}: {t:?} is not RFC 3339", path.display());
        }
        let md = format!("{name}.md");
        let seen = dialect::read(&md, b"# Review the webhook\n**From:** Cursor\n").expect("Markdown is always read");
        assert_eq!((seen.title.as_str(), seen.from.as_deref()), ("Review the webhook", Some("Cursor")));
        let _ = names::classify(&bytes);
        assert!(names::agent_of_file_name(&name).is_none_or(|a| names::is_valid_agent(&a)));
    }
}
