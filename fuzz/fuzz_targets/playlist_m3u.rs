//! m3u and m3u8 playlists in any encoding they are found in (UTF-8 with or without a BOM,
//! UTF-16 with a BOM, Windows-1252), as `baton catalog import-playlist` and the spotify plugin
//! read them, then linked to a library as both do. Checked: each entry's line is a line of the
//! file, each entry points somewhere, and linking finds only files the library holds.
#![no_main]
use baton_normalize::playlist::{self, LibraryIndex};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const LIBRARY: [&str; 3] = ["/music/lists/a.mp3", "/music/Artist/Album/01 Track.flac", "C:/Music/x.mp3"];

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("playlist_m3u", data.len(), || {
        let Ok(list) = playlist::parse(Path::new("/music/lists/mix.m3u8"), data) else { return };
        if list.format != "m3u" {
            return;
        }
        let (text, _) = playlist::decode(data);
        let lines = text.split("\r\n").flat_map(|l| l.split(['\r', '\n'])).count();
        let index = LibraryIndex::new(LIBRARY.iter().map(|s| s.to_string()));
        for e in &list.entries {
            assert!(e.line >= 1 && e.line <= lines, "entry line {} of {lines}", e.line);
            assert!(!e.raw.is_empty() && !e.raw.starts_with('#'), "{e:?}");
            if let Some((found, _)) = index.find(&e.location) {
                assert!(LIBRARY.contains(&found.as_str()), "linked to {found:?}, not in the library");
            }
        }
    });
});
