//! Any bytes through the one playlist reader, `baton_normalize::playlist::read`, which tells
//! the format by content: m3u/m3u8, PLS, XSPF, JSPF, ASX (XML and INI) and WPL, and refuses the
//! rest with what it looks like. Checked: a playlist names a format the reader knows and an
//! encoding it decodes, every entry points somewhere or names a track, with a kind, and a refusal always says
//! what the bytes look like (a user reads that line instead of an `Ok` with nonsense entries).
#![no_main]
use baton_normalize::playlist;
use libfuzzer_sys::fuzz_target;

const FORMATS: [&str; 8] = ["m3u", "pls", "xspf", "jspf", "asx", "asx-ini", "wpl", "empty"];

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("playlist_any_format", data.len(), || match playlist::read(data) {
        Ok(list) => {
            assert!(FORMATS.contains(&list.format), "unknown format {:?}", list.format);
            if list.format == "empty" {
                assert!(list.entries.is_empty(), "an empty file holds no entries");
            }
            for e in &list.entries {
                // XSPF and JSPF allow a track named by its metadata alone (no `location`).
                let named = e.title.is_some() || e.artist.is_some();
                assert!(!e.location.trim().is_empty() || named, "an entry that names nothing: {e:?}");
                assert!(!e.kind.is_empty(), "{e:?}");
            }
        }
        Err(not) => assert!(!not.looks_like.trim().is_empty(), "a refusal that does not say what the bytes look like"),
    });
});
