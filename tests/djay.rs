//! The djay plugin: the fixture `MediaLibrary.db` (tests/support/djay_fixture.rs) read by the
//! plugin's core, and end to end through the real `baton` binary with real TASK files.
mod support;

use std::path::Path;

use baton_djay::library::Library;
use support::djay_fixture::{self, Truth};

/// Reads every row of `database2` the way the plugin pages through it.
fn read_back(db: &rusqlite::Connection) -> Library {
    let mut lib = Library::new();
    let mut st = db.prepare("SELECT collection, key, data FROM database2 ORDER BY rowid").unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Vec<u8>>>(2)?)))
        .unwrap();
    for row in rows {
        let (c, k, d) = row.unwrap();
        lib.add_row(&c, &k, d.as_deref());
    }
    lib.sort_plays();
    lib
}

/// The fixture writer and the plugin's decoder are written apart; they agree on every record.
#[test]
fn the_fixture_library_decodes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    let mut fx = djay_fixture::truth(2000, &music);
    let db_path = dir.path().join("djay/djay Media Library.djayMediaLibrary/MediaLibrary.db");
    let db = djay_fixture::write_db(&db_path, &mut fx, 30, 50);
    assert!(Path::new(&format!("{}-wal", db_path.display())).exists(), "djay's WAL is still there");

    // The truth mix of the issue: 60 / 15 / 15 / 5 / 5.
    let n = |t| fx.expected(t);
    assert_eq!(n(Truth::ExternalId), 1200);
    assert_eq!(n(Truth::Isrc), 300);
    assert_eq!(n(Truth::Normalized) + n(Truth::Fuzzy), 300);
    assert_eq!(n(Truth::Fingerprint), 100);
    assert_eq!(n(Truth::None) + n(Truth::Ambiguous), 100);

    let lib = read_back(&db);
    assert_eq!(lib.tracks.len(), 2000);
    assert_eq!(lib.sessions.len(), 30);
    assert_eq!(lib.plays.len(), 1500);
    assert_eq!(lib.playlists.len(), 2, "the root is not a playlist");
    assert_eq!(lib.errors.len(), 1);
    assert_eq!(lib.errors[0].collection, "historySessionItems");
    assert_eq!(lib.errors[0].key, fx.bad_item);
    assert_eq!(lib.counts["historySessionItems"].read, 1500);
    assert_eq!(lib.counts["historySessionItems"].skipped, 1);
    assert_eq!(lib.counts["mediaItemUserData"].unknown_fields, fx.unknown_fields["mediaItemUserData"]);
    assert!(fx.unknown_fields["mediaItemUserData"] > 0);
    assert!(!lib.counts.contains_key("databaseInfo"), "collections the plugin does not use are not read");

    for e in &fx.entries {
        let t = &lib.tracks[&e.djay.id];
        assert_eq!(t.title, e.djay.title);
        assert_eq!(t.artist, e.djay.artist, "NFD stays NFD: {}", e.djay.id);
        assert_eq!(t.duration_ms, Some(e.djay.duration_ms));
        assert_eq!(t.isrc, e.isrc);
        assert_eq!(t.streams, e.streams);
        assert_eq!(t.files, e.files);
        assert_eq!(t.play_count, e.play_count);
        assert!(t.bpm.is_some() && t.key_index.is_some());
    }
    // Play order comes from startTime within each session, not from row order.
    for (session, order) in &fx.plays {
        let got: Vec<(String, String)> = lib
            .plays
            .iter()
            .filter(|p| &p.session == session)
            .map(|p| (p.uuid.clone(), p.title_id.clone().unwrap()))
            .collect();
        assert_eq!(&got, order, "session {session}");
    }
}

/// The fixture's truth against the catalog's own matcher (no fingerprint rung here): every
/// track is found by the rung the fixture says, and by no other.
#[test]
fn the_fixture_truth_holds_for_the_catalog_matcher() {
    use baton_catalog::matcher::{MatchIndex, TrackEntry, TrackQuery, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let fx = djay_fixture::truth(2000, &dir.path().join("music"));
    let index = MatchIndex::build(
        fx.catalog
            .iter()
            .map(|c| TrackEntry {
                key: c.key.clone(),
                title: c.title.clone(),
                artists: c.artists.clone(),
                duration_ms: Some(c.duration_ms),
                isrc: c.isrc.clone(),
                external_ids: c.external_ids.clone(),
            })
            .collect(),
    );
    let mut wrong = Vec::new();
    for e in &fx.entries {
        let t = baton_djay::library::Track {
            key: e.djay.id.clone(),
            title: e.djay.title.clone(),
            artist: e.djay.artist.clone(),
            duration_ms: Some(e.djay.duration_ms),
            isrc: e.isrc.clone(),
            streams: e.streams.clone(),
            files: e.files.clone(),
            ..Default::default()
        };
        let q = baton_djay::sync::query_for(&t, None);
        let out = index.match_track(&TrackQuery {
            title: q.title,
            artists: q.artists,
            duration_ms: q.duration_ms.map(|d| d as i64),
            isrc: q.isrc,
            external_ids: q.external_ids,
            file: None,
        });
        let ok = match e.truth.method() {
            Some(m) if e.truth != Truth::Fingerprint => {
                out.verdict == Verdict::Match
                    && out.candidates[0].key == *e.catalog.as_ref().unwrap()
                    && out.candidates[0].method.as_str() == m
            }
            _ if e.truth == Truth::Ambiguous => out.verdict == Verdict::Ambiguous,
            _ => out.verdict == Verdict::None,
        };
        if !ok {
            wrong.push(format!("{:?} {:?} {:?} -> {:?}", e.truth, e.djay.title, e.djay.artist, out.candidates.first()));
        }
    }
    assert!(wrong.is_empty(), "{} of 2000 not as the truth says:\n{}", wrong.len(), wrong[..wrong.len().min(20)].join("\n"));
}
