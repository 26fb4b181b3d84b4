//! djay Pro's TSAF blobs (the values of its YapDatabase `database2` rows), decoded and then read
//! into the library the djay plugin builds, as a row of each collection djay writes. There is
//! no TSAF writer to round-trip with; checked: decoding is deterministic, a blob either decodes
//! or is counted as skipped with its error (never lost silently), and the library's records and
//! summary are built from whatever decoded.
#![no_main]
use baton_djay::{library, tsaf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("tsaf_blob", data.len(), || {
        let first = tsaf::decode(data);
        assert_eq!(format!("{first:?}"), format!("{:?}", tsaf::decode(data)), "decoding is not deterministic");
        let mut lib = library::Library::new();
        for (c, _) in library::COLLECTIONS {
            lib.add_row(c, "0e64b1accf11337d40ca05b1800d64f3", Some(data));
        }
        if first.is_err() {
            assert_eq!(lib.errors.len(), library::COLLECTIONS.len(), "an undecodable blob is an error per row");
        }
        let skipped: u64 = lib.counts.values().map(|c| c.skipped).sum();
        assert_eq!(lib.errors.len() as u64, skipped, "a skipped row without its error, or the reverse");
        lib.finish();
        lib.sort_plays();
        let summary = lib.summary();
        assert!(summary.is_object());
        for t in lib.tracks.values() {
            let _ = library::track_record(t);
        }
        for (i, p) in lib.plays.iter().enumerate() {
            let _ = library::play_record(p, i);
        }
    });
});
