//! The m3u8 the spotify plugin writes (`logic::m3u_text`), read back by the playlist reader
//! every importer uses: the same tracks in the same order, with their paths, artists, titles
//! and durations (to the second, as `#EXTINF` holds them).
#![no_main]
use baton_normalize::playlist;
use libfuzzer_sys::fuzz_target;
use spotify::logic::{M3uEntry, m3u_text};
use std::path::Path;

/// How the reader trims a line.
fn trimmed(s: &str) -> &str {
    s.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace())
}

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("playlist_m3u_roundtrip", data.len(), || {
        let f = baton_fuzz::fields(data, 12);
        let entries: Vec<M3uEntry> = f
            .chunks(3)
            .enumerate()
            .map(|(i, c)| M3uEntry {
                artist: c[0].clone(),
                title: c[1].clone(),
                duration_ms: (!c[2].is_empty()).then(|| c[2].len() as u64 * 7919),
                // A path holds no line break or other control character (the format has no way
                // to write one; a reader takes controls for binary data).
                path: (i % 2 == 0 || !c[2].is_empty())
                    .then(|| format!("/Music/{i}/{}", c[2].replace(char::is_control, "_"))),
                uri: format!("spotify:track:{i}"),
            })
            .collect();
        let text = m3u_text(&entries);
        let list = playlist::parse(Path::new("/Music/lists/Road Trip.m3u8"), text.as_bytes())
            .unwrap_or_else(|e| panic!("the plugin's own m3u8 does not read back: {e}"));
        let written: Vec<&M3uEntry> = entries.iter().filter(|e| e.path.is_some()).collect();
        assert_eq!(list.entries.len(), written.len(), "{text:?}");
        for (back, e) in list.entries.iter().zip(written) {
            let path = e.path.as_deref().unwrap_or_default();
            assert_eq!(back.raw, trimmed(path), "{text:?}");
            assert_eq!(back.duration_ms, e.duration_ms.map(|d| (d + 500) / 1000 * 1000), "{text:?}");
            let artist = e.artist.replace(char::is_control, " ");
            let title = e.title.replace(char::is_control, " ");
            // The label `<artist> - <title>` splits back where the writer joined it when the artist
            // holds no ` - ` of its own and neither part has edges the reader trims.
            let label = format!("{artist} - {title}");
            let plain = |s: &str| !s.is_empty() && trimmed(s) == s;
            if label.find(" - ") == Some(artist.len()) && plain(&artist) && plain(&title) {
                assert_eq!(back.artist.as_deref(), Some(artist.as_str()), "{text:?}");
                assert_eq!(back.title.as_deref(), Some(title.as_str()), "{text:?}");
            }
        }
    });
});
