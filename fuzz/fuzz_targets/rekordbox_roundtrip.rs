//! Rekordbox XML written by baton (`rekordbox::write`, the djay plugin's export) and read back
//! by its reader: every track comes back with its title, artist and file, every playlist with
//! its name and its entries in order (repeats included). Titles and names may hold any text (`&`, quotes, `<`,
//! tabs, newlines, any script); only the control characters XML 1.0 cannot carry are dropped.
#![no_main]
use baton_djay::location::path_from_location;
use baton_djay::rekordbox::{self, ExportPlaylist, ExportTrack};
use libfuzzer_sys::fuzz_target;

/// What the XML can carry of `s`: control characters other than tab, newline and CR dropped.
fn carried(s: &str) -> String {
    s.chars().filter(|&c| c as u32 >= 0x20 || matches!(c, '\t' | '\n' | '\r')).collect()
}

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("rekordbox_roundtrip", data.len(), || {
        let f = baton_fuzz::fields(data, 13);
        let tracks: Vec<ExportTrack> = f[..12]
            .chunks(3)
            .enumerate()
            .map(|(i, c)| ExportTrack {
                path: format!("/Music/{i}/{}", c[0]),
                title: c[1].clone(),
                artist: c[2].clone(),
                duration_ms: Some(c[0].len() as i64 * 1000),
                play_count: Some(i as i64),
                ..ExportTrack::default()
            })
            .collect();
        let order: Vec<usize> = f[12].bytes().map(|b| b as usize % tracks.len()).take(16).collect();
        let playlists = vec![ExportPlaylist { name: f[12].clone(), tracks: order.clone() }];
        let xml = rekordbox::write(&tracks, &playlists);
        assert!(rekordbox::sniff(xml.as_bytes()));
        let lib = rekordbox::read(&xml, "").unwrap_or_else(|e| panic!("baton's own XML does not read back: {e}"));
        assert_eq!(lib.tracks.len(), tracks.len());
        for (i, t) in tracks.iter().enumerate() {
            let back = &lib.tracks[&format!("rekordbox:{}", i + 1)];
            assert_eq!(back.title, carried(&t.title));
            assert_eq!(back.artist, carried(&t.artist));
            assert_eq!(back.play_count, t.play_count);
            let path = back.files.first().and_then(|l| path_from_location(l)).expect("the file comes back");
            assert_eq!(path, t.path.replace('\\', "/"), "{:?}", back.files);
        }
        assert_eq!(lib.playlists.len(), 1);
        assert_eq!(lib.playlists[0].name, carried(&playlists[0].name));
        let keys: Vec<String> = order.iter().map(|i| format!("rekordbox:{}", i + 1)).collect();
        // Every entry in order, repeats included; `tracks` the distinct ones.
        assert_eq!(lib.playlists[0].entries, keys);
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<String> = keys.iter().filter(|k| seen.insert(k.as_str())).cloned().collect();
        assert_eq!(lib.playlists[0].tracks, distinct);
    });
});
