//! The command line explains itself: every command's `--help` ends with examples, a typo gets
//! a "did you mean", and `baton man` writes a page for every command the pages refer to, each
//! with EXAMPLES, EXIT STATUS, ENVIRONMENT and FILES.
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::{BIN, Home};

/// `baton man --dir DIR`: the pages written, by file name.
fn write_pages(dir: &Path) -> BTreeSet<String> {
    let out = Command::new(BIN).args(["man", "--dir"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Path::new(l).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let present: BTreeSet<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(listed, present, "what `man --dir` printed is what it wrote");
    present
}

#[test]
fn man_writes_a_page_for_every_command_a_page_refers_to_with_its_sections() {
    let dir = tempfile::tempdir().unwrap();
    let pages = write_pages(dir.path());
    for must in [
        "baton.1",
        "baton-init.1",
        "baton-serve.1",
        "baton-plugin.1",
        "baton-plugin-install.1",
        "baton-catalog-import-playlist.1",
    ] {
        assert!(pages.contains(must), "{must} missing: {pages:?}");
    }
    for page in &pages {
        let roff = std::fs::read_to_string(dir.path().join(page)).unwrap();
        // Each `baton-…(1)` a page names is a page that exists.
        let text = roff.replace("\\-", "-");
        for (at, _) in text.match_indices("(1)") {
            let start = text[..at].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).map_or(0, |i| i + 1);
            let name = &text[start..at];
            if name.starts_with("baton") {
                assert!(pages.contains(&format!("{name}.1")), "{page} refers to {name}(1), which is not written");
            }
        }
        for section in
            [".SH EXAMPLES\n.TP\n", ".SH \"EXIT STATUS\"\n.TP\n", ".SH ENVIRONMENT\n.TP\n", ".SH FILES\n.TP\n"]
        {
            assert!(roff.contains(section), "{page} lacks {section:?}");
        }
        // The examples are this command's own.
        let words = page.trim_end_matches(".1").replacen("baton-", "baton ", 1);
        let examples = &roff[roff.find(".SH EXAMPLES").unwrap()..roff.find(".SH \"EXIT STATUS\"").unwrap()];
        let first_word = words.split('-').next().unwrap();
        assert!(examples.contains(&format!("\\fB{}", first_word)), "{page}: {examples}");
    }
    // One page on stdout, by words or by its name; an unknown one is refused.
    let one = Command::new(BIN).args(["man", "catalog", "import-playlist"]).output().unwrap();
    assert!(one.status.success());
    assert_eq!(one.stdout, std::fs::read(dir.path().join("baton-catalog-import-playlist.1")).unwrap());
    let by_name = Command::new(BIN).args(["man", "baton-plugin-install"]).output().unwrap();
    assert_eq!(by_name.stdout, std::fs::read(dir.path().join("baton-plugin-install.1")).unwrap());
    let bad = Command::new(BIN).args(["man", "nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no command `baton nope`"));
}

#[test]
fn every_commands_help_ends_with_its_examples_and_typos_get_a_suggestion() {
    let h = Home::init(&[], "");
    let dir = tempfile::tempdir().unwrap();
    for page in write_pages(dir.path()) {
        let words: Vec<String> = page.trim_end_matches(".1").split('-').skip(1).map(str::to_string).collect();
        // `import-playlist` is one word of `catalog`.
        let words: Vec<String> = words
            .join(" ")
            .replace("import playlist", "import-playlist")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let out = h.run(&args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let help = String::from_utf8_lossy(&out.stdout);
        let examples =
            help.split("Examples:").nth(1).unwrap_or_else(|| panic!("`baton {args:?}` has no examples:\n{help}"));
        assert!(examples.contains("  baton "), "{args:?}: {examples}");
    }
    for (typo, want) in
        [(&["stauts"][..], "'status'"), (&["serve", "--onse"], "'--once'"), (&["plugin", "instal"], "'install'")]
    {
        let out = Command::new(BIN).args(typo).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{typo:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("similar") && err.contains(want), "{typo:?} suggests no {want}: {err}");
    }
}
