//! Spotify's account-data JSON (`Playlist1.json`, `YourLibrary.json`, `StreamingHistory*.json`,
//! `Streaming_History_Audio_*.json`), recognised by content, as the spotify plugin reads it.
//! Checked: every imported row belongs to a named playlist and was counted; every play has a
//! time; a skip says why.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spotify::exports;

const NAMES: [&str; 3] = ["Playlist1.json", "YourLibrary.json", "StreamingHistory_music_0.json"];

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("account_json", data.len(), || {
        // The input's length picks the name, so a real file seeded whole is read whole.
        let (pick, body) = (data.len(), data);
        let Ok(parsed) = exports::parse_file(NAMES[pick % NAMES.len()], body) else { return };
        assert!(!parsed.layout.is_empty());
        let kept: usize = parsed.playlists.iter().map(|p| p.rows.len()).sum();
        assert!(kept <= parsed.rows, "{kept} rows kept of {} read", parsed.rows);
        for p in &parsed.playlists {
            assert!(!p.name.is_empty(), "a playlist without a name");
        }
        for s in &parsed.skipped {
            assert!(!s.reason.is_empty(), "{s:?}");
            // A kind skipped whole (YourLibrary.json's `albums`, `shows`, …) says how many.
            assert_eq!(s.kind.is_some(), s.count.is_some_and(|n| n > 0), "{s:?}");
        }
    });
});
