//! Exportify CSVs (both lineages, translated headers) as the spotify plugin's `import` reads
//! them. Checked: nothing is lost silently (every non-blank row is imported into a playlist or
//! skipped with its line and reason), every row's line is a line of the file, and every
//! imported row has a Spotify URI.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spotify::exports;

const NAMES: [&str; 3] = ["Road_Trip.csv", "Liked_Songs.csv", "exports/___.csv"];

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("exportify_csv", data.len(), || {
        // The input's length picks the name, so a real file seeded whole is read whole.
        let (pick, body) = (data.len(), data);
        let Ok(parsed) = exports::parse_file(NAMES[pick % NAMES.len()], body) else { return };
        let text = String::from_utf8_lossy(body);
        let lines = baton_fuzz::line_count(&text);
        let kept: usize = parsed.playlists.iter().map(|p| p.rows.len()).sum();
        assert_eq!(parsed.rows, kept + parsed.skipped.len(), "rows neither imported nor skipped");
        for p in &parsed.playlists {
            assert!(!p.name.is_empty(), "a playlist without a name");
            for r in &p.rows {
                assert!(r.line >= 1 && r.line <= lines, "row line {} of {lines}", r.line);
                assert!(r.uri.starts_with("spotify:"), "{:?}", r.uri);
            }
        }
        for s in &parsed.skipped {
            assert!(s.line >= 1 && s.line <= lines && !s.reason.is_empty(), "{s:?} of {lines}");
        }
    });
});
