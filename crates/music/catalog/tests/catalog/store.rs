//! The catalog's promises, on both backends (a real SQLite file, and a real PostgreSQL server
//! started for the test, see tests/support/pg.rs): schema rename and removal keep every value,
//! upserts are idempotent and report what they did, relations stay consistent both ways with
//! order, bad input refuses the whole batch, grants, owner prefixes and quotas hold, and the
//! change log has no gaps. On PostgreSQL also: writers on two connections at once never make
//! `changes_since(N)` skip a change (sequence numbers are taken inside the writing transaction).
#[path = "../../../../../tests/support/pg.rs"]
mod pg;

use baton_catalog::{
    Access, Catalog, CatalogError, Filter, Grants, Kind, PropertySpec, Quota, Record, TrackQuery, Verdict,
};
use baton_ledger::Location;
use serde_json::{Value, json};

/// Where one test's catalog lives: a SQLite file, or a database on a PostgreSQL server (with
/// this machine's fingerprint library in a temp dir).
struct State {
    dir: tempfile::TempDir,
    location: Location,
}

impl State {
    fn sqlite() -> State {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().join("state.sqlite"));
        State { dir, location }
    }

    fn postgres(pg: &pg::Pg, db: &str) -> State {
        pg.create_db(db);
        State { dir: tempfile::tempdir().unwrap(), location: Location::parse(&pg.url(db)).unwrap() }
    }

    fn open(&self) -> Catalog {
        Catalog::open_at(&self.location, &self.dir.path().join("fp.sqlite")).unwrap()
    }
}

/// Each behaviour as a `#[test]` on SQLite, and all of them in one `#[test]` on one PostgreSQL
/// server (a database each), so the server starts once.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::State::sqlite()) } )*
        }
        #[test]
        fn every_behaviour_on_postgres() {
            let Some(pg) = pg::Pg::start() else { return };
            $( $name(&State::postgres(&pg, stringify!($name))); )*
        }
    };
}

on_both_backends!(
    upsert_reports_and_unchanged_writes_nothing,
    rename_keeps_id_and_values_removal_archives_them,
    relations_both_ways_with_order_and_manual_links,
    bad_input_refuses_the_whole_batch,
    grants_owner_prefixes_and_quotas,
    matcher_index_follows_changes_and_reports_ambiguity,
    removed_core_property_stays_removed_after_reopen,
    dry_run_reports_like_upsert_and_writes_nothing,
    upserted_links_carry_their_match_method,
    schema_changes_by_another_connection_are_seen,
    upsert_many_is_all_or_nothing,
    playlist_entries_keep_order_and_repeats_without_a_cap,
    entries_kept_as_text_move_into_the_list,
);

/// `upsert_many`: several collections in one transaction. A batch refused after earlier ones
/// were accepted (here by the plugin's row quota, then by a relation to a missing record) leaves
/// nothing of any: no record, no link, no change-log entry, no quota used. Accepted, all land,
/// with one report per batch, and a relation may point at a record of an earlier batch.
fn upsert_many_is_all_or_nothing(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    let spec = |id: &str, kind: Kind, target: Option<&str>| PropertySpec {
        id: id.into(),
        name: None,
        kind,
        target: target.map(Into::into),
        inverse: None,
        integer: false,
    };
    let dj = Access::plugin(
        "djay",
        Grants { read: vec![], write: vec!["tracks".into()] },
        Quota { rows: 6, bytes: 1 << 20 },
    );
    cat.ensure_collection(&dj, "djay.tracks", &[spec("title", Kind::Text, None)]).unwrap();
    cat.ensure_collection(
        &dj,
        "djay.playlists",
        &[spec("name", Kind::Text, None), spec("tracks", Kind::Relation, Some("djay.tracks"))],
    )
    .unwrap();
    let before = cat.changes_since(&u, 0, 1_000_000).unwrap().len();
    let tracks = [Record::new("t1", json!({"title": "One"})), Record::new("t2", json!({"title": "Two"}))];
    let three = [
        Record::new("p1", json!({"name": "A", "tracks": ["t1", "t2"]})),
        Record::new("p2", json!({"name": "B"})),
        Record::new("p3", json!({"name": "C"})),
    ];
    let nothing_written = |cat: &Catalog| {
        assert!(
            cat.get(&u, "djay.tracks", "t1", false).unwrap().is_none(),
            "a refused batch left an earlier one written"
        );
        assert!(cat.get(&u, "djay.playlists", "p1", false).unwrap().is_none());
        assert_eq!(
            cat.changes_since(&u, 0, 1_000_000).unwrap().len(),
            before,
            "the change log kept a rolled-back write"
        );
        assert_eq!(cat.usage("djay").unwrap().0, 0, "quota charged for nothing");
    };
    // 2 tracks fit the quota of 6 rows; 3 playlists and 2 links (a link is a row) more do not.
    let e = cat.upsert_many(&dj, &[("djay.tracks", &tracks), ("djay.playlists", &three)]).unwrap_err();
    assert!(e.to_string().contains("quota"), "{e}");
    nothing_written(&cat);
    // A relation to a record that does not exist, in the second batch.
    let bad = [Record::new("p1", json!({"name": "A", "tracks": ["t1", "t9"]}))];
    let e = cat.upsert_many(&dj, &[("djay.tracks", &tracks), ("djay.playlists", &bad)]).unwrap_err();
    assert!(e.to_string().contains("t9"), "{e}");
    nothing_written(&cat);
    // The catalog is usable after a refused batch, and an accepted one writes everything.
    let ok = [Record::new("p1", json!({"name": "A", "tracks": ["t2", "t1"]}))];
    let r = cat.upsert_many(&dj, &[("djay.tracks", &tracks), ("djay.playlists", &ok)]).unwrap();
    assert_eq!((r[0].inserted, r[1].inserted), (2, 1));
    let links: Vec<String> =
        cat.links(&u, "djay.playlists", "p1", "tracks").unwrap().into_iter().map(|l| l.key).collect();
    assert_eq!(links, ["t2", "t1"]);
    assert_eq!(cat.usage("djay").unwrap().0, 5);
    cat.upsert(&dj, "djay.tracks", &[Record::new("t3", json!({"title": "Three"}))]).unwrap();
    all_seqs_contiguous(&cat);
}

/// A catalog keeps the schemas its reads used (SQLite: until another connection commits, or
/// it writes itself): a property another process renames, removes or declares shows at once.
fn schema_changes_by_another_connection_are_seen(st: &State) {
    let u = Access::user();
    let mut writer = st.open();
    let reader = st.open();
    writer.upsert(&u, "tracks", &[Record::new("t1", json!({"title": "Opus", "album": "Stories"}))]).unwrap();
    let name = |cat: &Catalog, id: &str| {
        cat.schema(&u, "tracks").unwrap().into_iter().find(|p| p.id == id).map(|p| (p.name, p.archived))
    };
    assert_eq!(reader.get(&u, "tracks", "t1", false).unwrap().unwrap().props["album"], "Stories");
    assert_eq!(name(&reader, "album"), Some(("Album".into(), false)));
    writer.rename_property(&u, "tracks", "album", "Record").unwrap();
    assert_eq!(name(&reader, "album"), Some(("Record".into(), false)));
    writer.remove_property(&u, "tracks", "album").unwrap();
    assert!(
        !reader.get(&u, "tracks", "t1", false).unwrap().unwrap().props.contains_key("album"),
        "a removed property still read"
    );
    assert_eq!(reader.links(&u, "tracks", "t1", "artist_refs").unwrap().len(), 0);
    writer
        .ensure_collection(
            &u,
            "tracks",
            &[PropertySpec {
                id: "bpm".into(),
                name: None,
                kind: Kind::Number,
                target: None,
                inverse: None,
                integer: false,
            }],
        )
        .unwrap();
    writer.upsert(&u, "tracks", &[Record::new("t1", json!({"bpm": 120}))]).unwrap();
    assert_eq!(reader.get(&u, "tracks", "t1", false).unwrap().unwrap().props["bpm"], 120);
    let page = reader.query(&u, "tracks", &Filter::parse("bpm>100").unwrap(), false, None, 10).unwrap();
    assert_eq!(page.records.len(), 1);
}

fn track(key: &str, title: &str, artists: &[&str], ms: i64) -> Record {
    Record::new(key, json!({"title": title, "artists": artists, "duration_ms": ms}))
}

fn plugin(name: &str, read: &[&str], write: &[&str]) -> Access {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    Access::plugin(name, Grants { read: v(read), write: v(write) }, Quota::DEFAULT)
}

fn all_seqs_contiguous(cat: &Catalog) {
    let changes = cat.changes_since(&Access::user(), 0, 1_000_000).unwrap();
    for (i, c) in changes.iter().enumerate() {
        assert_eq!(c.seq, i as i64 + 1, "change log has a gap before {c:?}");
    }
}

fn upsert_reports_and_unchanged_writes_nothing(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    let batch = vec![track("t1", "Levels", &["Avicii"], 199_000), track("t2", "Strobe", &["deadmau5"], 637_000)];
    let r = cat.upsert(&u, "tracks", &batch).unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (2, 0, 0));
    let seq = cat.last_seq().unwrap();
    let r = cat.upsert(&u, "tracks", &batch).unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 0, 2));
    assert_eq!(cat.last_seq().unwrap(), seq, "an unchanged upsert wrote to the change log");
    // A partial record keeps the other properties; null clears one.
    let r =
        cat.upsert(&u, "tracks", &[Record::new("t1", json!({"album": "Levels", "duration_ms": 199_500.0}))]).unwrap();
    assert_eq!(r.updated, 1);
    let t1 = cat.get(&u, "tracks", "t1", false).unwrap().unwrap();
    assert_eq!(t1.props["title"], "Levels");
    assert_eq!(t1.props["duration_ms"], json!(199_500), "a whole float is stored as an integer");
    cat.upsert(&u, "tracks", &[Record::new("t1", json!({"album": null}))]).unwrap();
    assert!(!cat.get(&u, "tracks", "t1", false).unwrap().unwrap().props.contains_key("album"));
    let h = cat.history(&u, "tracks", "t1").unwrap();
    assert_eq!(h.iter().map(|c| c.op.as_str()).collect::<Vec<_>>(), ["insert", "update", "update"]);
    assert_eq!(h[1].detail["props"]["album"], json!([null, "Levels"]));
    all_seqs_contiguous(&cat);
}

fn rename_keeps_id_and_values_removal_archives_them(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    cat.ensure_collection(
        &u,
        "tracks",
        &[PropertySpec {
            id: "bpm".into(),
            name: Some("BPM".into()),
            kind: Kind::Number,
            target: None,
            inverse: None,
            integer: false,
        }],
    )
    .unwrap();
    cat.upsert(&u, "tracks", &[Record::new("t1", json!({"title": "Opus", "bpm": 126}))]).unwrap();
    cat.rename_property(&u, "tracks", "bpm", "Tempo").unwrap();
    let schema = cat.schema(&u, "tracks").unwrap();
    let bpm = schema.iter().find(|p| p.id == "bpm").unwrap();
    assert_eq!(bpm.name, "Tempo");
    assert_eq!(cat.get(&u, "tracks", "t1", false).unwrap().unwrap().props["bpm"], 126);
    cat.remove_property(&u, "tracks", "bpm").unwrap();
    let live = cat.get(&u, "tracks", "t1", false).unwrap().unwrap();
    assert!(!live.props.contains_key("bpm"));
    let with = cat.get(&u, "tracks", "t1", true).unwrap().unwrap();
    assert_eq!(with.archived["bpm"], 126, "a removed property's values are kept");
    // Writing the archived property is refused; declaring it again restores the values.
    let e = cat.upsert(&u, "tracks", &[Record::new("t1", json!({"bpm": 127}))]).unwrap_err();
    assert!(matches!(e, CatalogError::UnknownProperty { .. }), "{e}");
    let page = cat.query(&u, "tracks", &Filter::parse("bpm>100").unwrap(), true, None, 10).unwrap();
    assert_eq!(page.records.len(), 1, "archived values are queryable with archived=true");
    cat.ensure_collection(
        &u,
        "tracks",
        &[PropertySpec {
            id: "bpm".into(),
            name: None,
            kind: Kind::Number,
            target: None,
            inverse: None,
            integer: false,
        }],
    )
    .unwrap();
    assert_eq!(cat.get(&u, "tracks", "t1", false).unwrap().unwrap().props["bpm"], 126);
    all_seqs_contiguous(&cat);
}

fn relations_both_ways_with_order_and_manual_links(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    let sp = plugin("spotify", &[], &["tracks", "playlists"]);
    cat.upsert(
        &sp,
        "tracks",
        &[track("a", "A", &["X"], 1000), track("b", "B", &["X"], 1000), track("c", "C", &["X"], 1000)],
    )
    .unwrap();
    cat.upsert(
        &sp,
        "playlists",
        &[Record::new("p1", json!({"name": "One", "tracks": ["c", {"key": "a", "added_at": "2024-01-02T00:00:00Z"}]}))],
    )
    .unwrap();
    let p1 = cat.get(&u, "playlists", "p1", false).unwrap().unwrap();
    assert_eq!(p1.props["tracks"], json!(["c", "a"]), "order kept");
    let a = cat.get(&u, "tracks", "a", false).unwrap().unwrap();
    assert_eq!(a.props["playlists"], json!(["p1"]), "the other side shows the link");
    let links = cat.links(&u, "playlists", "p1", "tracks").unwrap();
    assert_eq!(links[1].added_at.as_deref(), Some("2024-01-02T00:00:00Z"));
    // `get` reads only the keys of a relation (not each link's date and method): the same keys
    // in the same order as `links`, on both sides. `a` is on p0 later than on p1.
    cat.upsert(
        &sp,
        "playlists",
        &[Record::new("p0", json!({"name": "Zero", "tracks": [{"key": "a", "added_at": "2024-03-01T00:00:00Z"}]}))],
    )
    .unwrap();
    let keys = |l: Vec<baton_catalog::LinkOut>| json!(l.into_iter().map(|l| l.key).collect::<Vec<_>>());
    assert_eq!(p1.props["tracks"], keys(cat.links(&u, "playlists", "p1", "tracks").unwrap()));
    let a = cat.get(&u, "tracks", "a", false).unwrap().unwrap();
    assert_eq!(a.props["playlists"], json!(["p1", "p0"]), "oldest addition first");
    assert_eq!(a.props["playlists"], keys(cat.links(&u, "tracks", "a", "playlists").unwrap()));
    cat.upsert(&sp, "playlists", &[Record::new("p0", json!({"tracks": []}))]).unwrap();
    // The user links b by hand from the track side and unlinks c; a plugin's re-import of the
    // old list changes neither.
    assert!(cat.link(&u, "tracks", "b", "playlists", "p1", None, None).unwrap());
    assert!(cat.unlink(&u, "playlists", "p1", "tracks", "c").unwrap());
    let r = cat.upsert(&sp, "playlists", &[Record::new("p1", json!({"tracks": ["c", "a"]}))]).unwrap();
    assert_eq!(r.unchanged, 1, "the plugin's list minus the user's choices is what is there");
    let p1 = cat.get(&u, "playlists", "p1", false).unwrap().unwrap();
    assert_eq!(p1.props["tracks"], json!(["a", "b"]));
    assert_eq!(cat.get(&u, "tracks", "c", false).unwrap().unwrap().props.get("playlists"), None);
    let manual = cat.links(&u, "playlists", "p1", "tracks").unwrap();
    assert_eq!(manual.iter().find(|l| l.key == "b").unwrap().method.as_deref(), Some("manual"));
    let e = cat.unlink(&sp, "playlists", "p1", "tracks", "b").unwrap_err();
    assert!(e.to_string().contains("by hand"), "{e}");
    // Writing the derived side is refused with the way to do it.
    let e = cat.upsert(&sp, "tracks", &[Record::new("a", json!({"playlists": ["p1"]}))]).unwrap_err();
    assert!(e.to_string().contains("playlists.tracks"), "{e}");
    assert!(cat.history(&u, "tracks", "b").unwrap().iter().any(|c| c.op == "link"));
    all_seqs_contiguous(&cat);
}

/// A plugin's batch of matches is one upsert: a link object's `method` is stored as `link`
/// stores it, an unchanged batch writes nothing, a changed method alone is a change, a link
/// left without a method keeps its own, and `manual` stays the user's.
fn upserted_links_carry_their_match_method(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    let sp = plugin("spotify", &[], &["tracks", "playlists"]);
    cat.upsert(&sp, "tracks", &[track("a", "A", &["X"], 1000), track("b", "B", &["X"], 1000)]).unwrap();
    cat.upsert(&sp, "playlists", &[Record::new("p1", json!({"name": "One"}))]).unwrap();
    let method = |cat: &Catalog| {
        cat.links(&u, "playlists", "p1", "tracks").unwrap().into_iter().map(|l| (l.key, l.method)).collect::<Vec<_>>()
    };
    let rec = |m: &str| Record::new("p1", json!({"tracks": [{"key": "a", "method": m}, "b"]}));
    let r = cat.upsert(&sp, "playlists", &[rec("isrc")]).unwrap();
    assert_eq!(r.updated, 1);
    assert_eq!(method(&cat), vec![("a".into(), Some("isrc".into())), ("b".into(), None)]);
    let seq = cat.last_seq().unwrap();
    assert_eq!(cat.upsert(&sp, "playlists", &[rec("isrc")]).unwrap().unchanged, 1);
    assert_eq!(cat.last_seq().unwrap(), seq, "the same links and methods write nothing");
    assert_eq!(cat.upsert(&sp, "playlists", &[rec("fuzzy")]).unwrap().updated, 1, "a new method is a change");
    let last = cat.changes_since(&u, seq, 10).unwrap().pop().unwrap();
    assert_eq!(last.detail["links"]["tracks"]["methods"], json!({"a": "fuzzy"}), "{:?}", last.detail);
    // Without a method, the link keeps the one it has; the same as `link` would store.
    assert_eq!(cat.upsert(&sp, "playlists", &[Record::new("p1", json!({"tracks": ["a", "b"]}))]).unwrap().unchanged, 1);
    assert_eq!(method(&cat)[0].1.as_deref(), Some("fuzzy"));
    let e = cat.upsert(&sp, "playlists", &[rec("manual")]).unwrap_err();
    assert!(matches!(e, CatalogError::ManualByPlugin { .. }), "{e}");
    let e = cat.upsert(&sp, "playlists", &[rec("guess")]).unwrap_err();
    assert!(e.to_string().contains("not one of"), "{e}");
    all_seqs_contiguous(&cat);
}

fn bad_input_refuses_the_whole_batch(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    cat.upsert(&u, "tracks", &[track("t0", "Zero", &["X"], 1000)]).unwrap();
    let before = cat.last_seq().unwrap();
    let cases: Vec<(Vec<Record>, &str)> = vec![
        (
            vec![track("ok", "Fine", &["X"], 1), Record::new("t9", json!({"colour": "red"}))],
            "tracks/t9: unknown property `colour`",
        ),
        (
            vec![track("ok", "Fine", &["X"], 1), Record::new("t9", json!({"duration_ms": 1.5}))],
            "tracks/t9: property `duration_ms`",
        ),
        (
            vec![track("ok", "Fine", &["X"], 1), Record::new("t9", json!({"artists": "X"}))],
            "tracks/t9: property `artists`",
        ),
        (vec![track("ok", "Fine", &["X"], 1), Record::new("t9", json!({"isrc": "nope"}))], "not an ISRC"),
        (vec![track("ok", "Fine", &["X"], 1), Record::new("", json!({}))], "malformed record"),
        (vec![track("ok", "Fine", &["X"], 1), track("ok", "Twice", &["X"], 1)], "twice"),
    ];
    for (batch, want) in cases {
        let e = cat.upsert(&u, "tracks", &batch).unwrap_err().to_string();
        assert!(e.contains(want), "{e:?} should contain {want:?}");
        assert!(cat.get(&u, "tracks", "ok", false).unwrap().is_none(), "part of a refused batch was written ({want})");
    }
    let e =
        cat.upsert(&u, "playlists", &[Record::new("p", json!({"tracks": ["t0", "ghost"]}))]).unwrap_err().to_string();
    assert!(e.contains("playlists/p") && e.contains("`tracks`") && e.contains("tracks/ghost"), "{e}");
    assert!(cat.get(&u, "playlists", "p", false).unwrap().is_none());
    assert_eq!(cat.last_seq().unwrap(), before, "a refused batch left change-log entries");
    all_seqs_contiguous(&cat);
}

fn grants_owner_prefixes_and_quotas(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    let djay = plugin("djay", &["files"], &["tracks"]);
    let sp = plugin("spotify", &[], &["tracks", "playlists"]);
    // Ungranted collection: refused, naming the grant to add.
    let e = cat.upsert(&djay, "playlists", &[Record::new("p", json!({"name": "x"}))]).unwrap_err().to_string();
    assert!(e.contains("`djay` may not write") && e.contains("[plugins.djay]"), "{e}");
    let e = cat.get(&djay, "artists", "a", false).unwrap_err().to_string();
    assert!(e.contains("may not read"), "{e}");
    assert!(cat.get(&djay, "files", "/nope", false).unwrap().is_none(), "files read grant works");
    let e = cat.upsert(&djay, "files", &[Record::new("/x", json!({}))]).unwrap_err().to_string();
    assert!(e.contains("read-only"), "{e}");
    // Own prefix only.
    let spec = |id: &str| PropertySpec {
        id: id.into(),
        name: None,
        kind: Kind::Number,
        target: None,
        inverse: None,
        integer: true,
    };
    cat.ensure_collection(&djay, "tracks", &[spec("djay.play_count")]).unwrap();
    let e = cat.ensure_collection(&djay, "tracks", &[spec("play_count")]).unwrap_err().to_string();
    assert!(e.contains("belongs to"), "{e}");
    cat.upsert(&djay, "tracks", &[Record::new("t", json!({"title": "T", "djay.play_count": 3}))]).unwrap();
    let e = cat.upsert(&sp, "tracks", &[Record::new("t", json!({"djay.play_count": 4}))]).unwrap_err().to_string();
    assert!(e.contains("tracks/t") && e.contains("`djay.play_count` belongs to `djay`"), "{e}");
    assert_eq!(cat.get(&u, "tracks", "t", false).unwrap().unwrap().props["djay.play_count"], 3);
    let e = cat.ensure_collection(&djay, "sessions", &[]).unwrap_err().to_string();
    assert!(e.contains("djay.<name>"), "{e}");
    cat.ensure_collection(&djay, "djay.sessions", &[spec("device")]).unwrap();
    // Quota: rows.
    let small = Access::plugin(
        "tiny",
        Grants { read: vec![], write: vec!["tracks".into()] },
        Quota { rows: 2, bytes: 1 << 20 },
    );
    cat.upsert(&small, "tracks", &[track("q1", "Q", &["X"], 1), track("q2", "Q", &["X"], 1)]).unwrap();
    let e = cat.upsert(&small, "tracks", &[track("q3", "Q", &["X"], 1)]).unwrap_err().to_string();
    assert!(e.contains("quota") && e.contains("`tiny`"), "{e}");
    assert!(cat.get(&u, "tracks", "q3", false).unwrap().is_none());
    assert_eq!(cat.usage("tiny").unwrap().0, 2);
    // Changes since N only show readable collections.
    let seen = cat.changes_since(&djay, 0, 10_000).unwrap();
    assert!(
        seen.iter().all(|c| c.collection == "tracks" || c.collection == "files" || c.collection == "djay.sessions"),
        "{seen:?}"
    );
    all_seqs_contiguous(&cat);
}

fn matcher_index_follows_changes_and_reports_ambiguity(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    cat.upsert(&u, "tracks", &[track("a", "Firestone", &["Kygo", "Conrad Sewell"], 272_000)]).unwrap();
    let q = |title: &str, artist: &str, ms: i64| TrackQuery {
        title: title.into(),
        artists: vec![artist.into()],
        duration_ms: Some(ms),
        ..Default::default()
    };
    let m = cat.match_track(&u, &q("Firestone (feat. Conrad Sewell)", "Kygo", 272_400)).unwrap();
    assert_eq!(
        (m.verdict, m.candidates[0].key.as_str(), m.candidates[0].method.as_str()),
        (Verdict::Match, "a", "normalized")
    );
    // A typo goes to the fuzzy rung.
    let m = cat.match_track(&u, &q("Firestome", "Kygo, Conrad Sewell", 272_000)).unwrap();
    assert_eq!((m.verdict, m.candidates[0].method.as_str()), (Verdict::Match, "fuzzy"), "{m:?}");
    // Numbers are not typos, and two ISRCs are two recordings: none of these is a fuzzy match.
    cat.upsert(&u, "tracks", &[track("n", "Song 19965", &["Artist 780"], 200_000)]).unwrap();
    for (title, artist) in [("Song 199", "Artist 780"), ("Song 19965", "Artist 1771"), ("Song 199", "Artist 1771")] {
        let m = cat.match_track(&u, &q(title, artist, 200_500)).unwrap();
        assert!(m.candidates.iter().all(|c| c.key != "n"), "{title} by {artist}: {m:?}");
    }
    cat.upsert(
        &u,
        "tracks",
        &[Record::new(
            "i",
            json!({"title": "Waterfall", "artists": ["Stargate"], "duration_ms": 210_000, "isrc": "USAAA1700001"}),
        )],
    )
    .unwrap();
    let typo = |isrc: &str| TrackQuery { isrc: Some(isrc.into()), ..q("Waterfal", "Stargate", 210_300) };
    assert_eq!(
        cat.match_track(&u, &typo("USAAA1700001")).unwrap().candidates[0].key,
        "i",
        "the same ISRC matches outright"
    );
    let m = cat.match_track(&u, &typo("GBBBB1700002")).unwrap();
    assert!(m.candidates.iter().all(|c| c.key != "i"), "another ISRC is another recording: {m:?}");
    let m = cat.match_track(&u, &q("Waterfal", "Stargate", 210_300)).unwrap();
    assert_eq!(
        (m.verdict, m.candidates[0].key.as_str(), m.candidates[0].method.as_str()),
        (Verdict::Match, "i", "fuzzy"),
        "no ISRC: the typo still matches"
    );
    // A second record of the same song (index rebuilt after the upsert): ambiguous, not a guess.
    cat.upsert(&u, "tracks", &[track("b", "Firestone", &["Kygo", "Conrad Sewell"], 272_500)]).unwrap();
    let m = cat.match_track(&u, &q("Firestone", "Kygo & Conrad Sewell", 272_200)).unwrap();
    assert_eq!(m.verdict, Verdict::Ambiguous, "{m:?}");
    assert_eq!(m.candidates.len(), 2);
    let v: Value = serde_json::to_value(&m).unwrap();
    assert_eq!(v["verdict"], "ambiguous");
    assert!(v["candidates"][0]["reasons"].as_array().is_some_and(|r| !r.is_empty()));
}

fn removed_core_property_stays_removed_after_reopen(st: &State) {
    let u = Access::user();
    {
        let mut cat = st.open();
        cat.upsert(&u, "tracks", &[Record::new("t1", json!({"title": "Opus", "album": "Stories"}))]).unwrap();
        cat.remove_property(&u, "tracks", "album").unwrap();
    }
    let cat = st.open();
    let album = cat.schema(&u, "tracks").unwrap().into_iter().find(|p| p.id == "album").unwrap();
    assert!(album.archived, "reopening the catalog brought back a removed core property");
    let t1 = cat.get(&u, "tracks", "t1", false).unwrap().unwrap();
    assert!(!t1.props.contains_key("album"));
    let t1 = cat.get(&u, "tracks", "t1", true).unwrap().unwrap();
    assert_eq!(t1.archived["album"], "Stories", "the archived value was lost");
    all_seqs_contiguous(&cat);
}

fn dry_run_reports_like_upsert_and_writes_nothing(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    cat.upsert(&u, "tracks", &[track("t1", "Levels", &["Avicii"], 199_000)]).unwrap();
    let seq = cat.last_seq().unwrap();
    let batch = vec![
        track("t1", "Levels", &["Avicii"], 199_000),
        track("t2", "Strobe", &["deadmau5"], 637_000),
        Record::new("t3", json!({"title": "Opus"})),
    ];
    let mut batch2 = batch.clone();
    batch2[0] = track("t1", "Levels (Radio Edit)", &["Avicii"], 199_000);
    let r = cat.upsert_dry_run(&u, "tracks", &batch2).unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (2, 1, 0));
    assert_eq!(cat.last_seq().unwrap(), seq, "a dry run wrote to the change log");
    assert!(cat.get(&u, "tracks", "t2", false).unwrap().is_none());
    assert_eq!(cat.get(&u, "tracks", "t1", false).unwrap().unwrap().props["title"], "Levels");
    let bad = vec![Record::new("t9", json!({"nope": 1}))];
    assert!(matches!(cat.upsert_dry_run(&u, "tracks", &bad), Err(CatalogError::UnknownProperty { .. })));
    let r = cat.upsert(&u, "tracks", &batch2).unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (2, 1, 0), "the real upsert disagrees with the dry run");
}

/// Two hosts writing at once (two connections, two threads) while a mirror follows
/// `changes_since(N)` from a third: the mirror sees every change, each once, in order. With
/// sequence numbers from a PostgreSQL SEQUENCE a later number could commit first, the mirror
/// would move past the earlier one and never see it; the counter row taken inside the writing
/// transaction prevents that.
#[test]
fn concurrent_writers_never_make_changes_since_skip_a_change_on_postgres() {
    let Some(pg) = pg::Pg::start() else { return };
    let st = State::postgres(&pg, "concurrent");
    let base = st.open().last_seq().unwrap();
    const BATCHES: usize = 120;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let seen = std::thread::scope(|s| {
        for host in ["a", "b"] {
            let (st, done) = (&st, &done);
            s.spawn(move || {
                let mut cat = st.open();
                let u = Access::user();
                for i in 0..BATCHES {
                    let batch: Vec<Record> = (0..3)
                        .map(|j| track(&format!("{host}{i:04}-{j}"), &format!("Song {host} {i} {j}"), &["X"], 1000))
                        .collect();
                    cat.upsert(&u, "tracks", &batch).unwrap();
                    // An update too, so both inserts and updates interleave across the hosts.
                    cat.upsert(
                        &u,
                        "tracks",
                        &[Record::new(format!("{host}{i:04}-0"), json!({"album": format!("A{i}")}))],
                    )
                    .unwrap();
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        let mirror = s.spawn(|| {
            let cat = st.open();
            let u = Access::user();
            let mut since = base;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == 2;
                let page = cat.changes_since(&u, since, 50).unwrap();
                if let Some(last) = page.last() {
                    since = last.seq;
                }
                let empty = page.is_empty();
                seen.extend(page.into_iter().map(|c| c.seq));
                if finished && empty {
                    return seen;
                }
            }
        });
        mirror.join().unwrap()
    });
    let cat = st.open();
    let last = cat.last_seq().unwrap();
    assert_eq!(last - base, (2 * BATCHES * 4) as i64, "every insert and update got one sequence number");
    let want: Vec<i64> = (base + 1..=last).collect();
    let missed: Vec<i64> = want.iter().copied().filter(|s| !seen.contains(s)).collect();
    assert!(
        missed.is_empty(),
        "the mirror following changes_since never saw {} changes: {:?}…",
        missed.len(),
        &missed[..missed.len().min(20)]
    );
    assert_eq!(seen, want, "the mirror following changes_since doubled or reordered a change");
    all_seqs_contiguous(&cat);
    assert_eq!(
        cat.query(&Access::user(), "tracks", &Filter::default(), false, None, 10_000).unwrap().records.len(),
        2 * BATCHES * 3
    );
}

/// Issue 81: a playlist is an ordered list that may repeat a track. The core `playlists` keep
/// `entries` (one row per entry, positions from 1) beside the distinct `tracks`; an unchanged
/// list writes nothing; a list of 20,000 entries (twice and more the 64 KiB
/// a text value holds) is kept whole; an entry naming a missing track refuses the batch; the
/// list reads back in `get`, in a page of `query`, through `entries`, and as a playlist view.
fn playlist_entries_keep_order_and_repeats_without_a_cap(st: &State) {
    let mut cat = st.open();
    let u = Access::user();
    let schema = cat.schema(&u, "playlists").unwrap();
    let kinds: Vec<(&str, Kind, Option<&str>)> = schema
        .iter()
        .filter(|p| p.kind == Kind::Entries)
        .map(|p| (p.id.as_str(), p.kind, p.target.as_deref()))
        .collect();
    assert_eq!(kinds, [("entries", Kind::Entries, Some("tracks")), ("file_entries", Kind::Entries, Some("files"))]);
    let tracks: Vec<Record> =
        (0..1000).map(|i| track(&format!("t{i}"), &format!("Song {i}"), &["A"], 200_000)).collect();
    cat.upsert(&u, "tracks", &tracks).unwrap();
    let set = json!({"name": "Set", "tracks": ["t1", "t2"], "entries": ["t1", "t2", "t1"]});
    let r = cat.upsert(&u, "playlists", &[Record::new("p1", set.clone())]).unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (1, 0, 0));
    let p1 = cat.get(&u, "playlists", "p1", false).unwrap().unwrap();
    assert_eq!(p1.props["tracks"], json!(["t1", "t2"]));
    assert_eq!(
        p1.props["entries"],
        json!([{"track": "t1", "position": 1}, {"track": "t2", "position": 2}, {"track": "t1", "position": 3}])
    );
    // The same list again, written as objects this time: unchanged, nothing logged.
    let seq = cat.last_seq().unwrap();
    let objects = json!({"name": "Set", "tracks": ["t1", "t2"], "entries": p1.props["entries"]});
    let r = cat.upsert(&u, "playlists", &[Record::new("p1", objects)]).unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 0, 1));
    assert_eq!(cat.last_seq().unwrap(), seq);
    // 20,000 entries cycling over 1,000 tracks: every one kept, in order.
    let long: Vec<String> = (0..20_000).map(|i| format!("t{}", i % 1000)).collect();
    assert!(json!(long).to_string().len() > 2 * (64 << 10));
    let r = cat.upsert(&u, "playlists", &[Record::new("p2", json!({"name": "Long", "entries": long}))]).unwrap();
    assert_eq!(r.inserted, 1);
    let got = cat.entries(&u, "playlists", "p2", "entries").unwrap().unwrap();
    assert_eq!(got.len(), 20_000);
    assert!(got.iter().enumerate().all(|(i, e)| e.position == i as i64 + 1 && e.track == format!("t{}", i % 1000)));
    let page = cat.query(&u, "playlists", &Filter::default(), false, None, 10).unwrap();
    assert_eq!(page.records.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["p1", "p2"]);
    assert_eq!(page.records[0].props["entries"], p1.props["entries"]);
    assert_eq!(page.records[1].props["entries"].as_array().unwrap().len(), 20_000);
    let view = cat.playlist_view(&u, "playlists", "p1").unwrap().unwrap();
    assert_eq!((view.entries.len(), view.tracks, view.repeated), (3, 2, 1));
    assert_eq!(view.entries[2].title.as_deref(), Some("Song 1"));
    assert_eq!(cat.find_playlist(&u, None, "Long").unwrap(), ("playlists".to_string(), "p2".to_string()));
    // A changed order is an update whose change names the counts; a missing track refuses.
    let r = cat.upsert(&u, "playlists", &[Record::new("p1", json!({"entries": ["t2", "t1"]}))]).unwrap();
    assert_eq!(r.updated, 1);
    let h = cat.history(&u, "playlists", "p1").unwrap();
    assert_eq!(h.last().unwrap().detail["links"]["entries"], json!({"entries": [3, 2]}));
    let e = cat.upsert(&u, "playlists", &[Record::new("p1", json!({"entries": ["t1", "nope"]}))]).unwrap_err();
    assert!(matches!(e, CatalogError::MissingTarget { ref target_key, .. } if target_key == "nope"), "{e}");
    let e = cat
        .upsert(
            &u,
            "playlists",
            &[Record::new("p1", json!({"entries": [{"track": "t1", "position": 2}, {"track": "t2", "position": 2}]}))],
        )
        .unwrap_err();
    assert!(e.to_string().contains("position 2 is given twice"), "{e}");
    assert_eq!(cat.entries(&u, "playlists", "p1", "entries").unwrap().unwrap().len(), 2);
    all_seqs_contiguous(&cat);
}

/// A catalog from before issue 81 kept a plugin playlist's entries as JSON text in a text
/// property. Declared again as entries (a plugin declares a relation whose id ends in
/// `entries`), every value moves into the list, the property becomes `entries`, a value that
/// is no list stays as it was, and a plugin sees the property as a relation.
fn entries_kept_as_text_move_into_the_list(st: &State) {
    let mut cat = st.open();
    let dj = plugin("djay", &[], &[]);
    let text = |id: &str, kind: Kind| PropertySpec {
        id: id.into(),
        name: None,
        kind,
        target: None,
        inverse: None,
        integer: false,
    };
    cat.ensure_collection(&dj, "djay.tracks", &[text("title", Kind::Text)]).unwrap();
    cat.ensure_collection(&dj, "djay.lists", &[text("name", Kind::Text), text("entries", Kind::Text)]).unwrap();
    cat.upsert(&dj, "djay.tracks", &[Record::new("a", json!({"title": "A"})), Record::new("b", json!({"title": "B"}))])
        .unwrap();
    let old = json!([{"track": "a", "position": 1}, {"track": "b", "position": 2}, {"track": "a", "position": 3}]);
    cat.upsert(
        &dj,
        "djay.lists",
        &[
            Record::new("l1", json!({"name": "One", "entries": old.to_string()})),
            Record::new("l2", json!({"name": "Two", "entries": "not a list"})),
        ],
    )
    .unwrap();
    let rel = PropertySpec { target: Some("djay.tracks".into()), ..text("entries", Kind::Relation) };
    cat.ensure_collection(&dj, "djay.lists", &[text("name", Kind::Text), rel.clone()]).unwrap();
    let p = cat.schema(&dj, "djay.lists").unwrap().into_iter().find(|p| p.id == "entries").unwrap();
    assert_eq!((p.kind, p.target.as_deref()), (Kind::Entries, Some("djay.tracks")));
    assert_eq!(cat.get(&dj, "djay.lists", "l1", false).unwrap().unwrap().props["entries"], old);
    let kept = cat.get(&dj, "djay.lists", "l2", false).unwrap().unwrap();
    assert!(kept.props.get("entries").is_none(), "{kept:?}");
    // Declared again: nothing more to move; the same list upserted is unchanged.
    cat.ensure_collection(&dj, "djay.lists", &[rel]).unwrap();
    let r = cat
        .upsert(&dj, "djay.lists", &[Record::new("l1", json!({"name": "One", "entries": ["a", "b", "a"]}))])
        .unwrap();
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 0, 1));
    let h = cat.history(&Access::user(), "djay.lists", "l1").unwrap();
    assert_eq!(h.len(), 1, "the migration is logged on the collection, not as a record change: {h:?}");
    all_seqs_contiguous(&cat);
}
