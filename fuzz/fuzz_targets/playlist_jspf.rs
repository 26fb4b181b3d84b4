//! JSPF playlists, as `baton catalog import-playlist` and the spotify plugin read them.
//! Checked: a read playlist says its format and encoding, and every entry points somewhere
//! (a location) and is numbered from 1 in order ([`baton_fuzz::check_playlist`]).
#![no_main]
use baton_normalize::playlist;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("playlist_jspf", data.len(), || {
        if let Ok(list) = playlist::parse(Path::new("/music/lists/mix.json"), data) {
            baton_fuzz::check_playlist(&list);
        }
    });
});
