//! Catalog benchmark: upsert throughput against a plain rusqlite baseline in the same
//! run, and matching time with the index kept between calls. Each on a fresh SQLite file in a
//! temporary folder (real disk, WAL, as the host opens it).
//!
//! 1. Upsert N tracks (default 100,000), then 500 playlists holding 200,000 memberships, through
//!    `Catalog::upsert` (batches of 10,000 records, one transaction each; change log, quota
//!    accounting and relation checks included). Baseline: the same rows inserted with plain
//!    rusqlite into three bare tables (tracks, playlists, memberships) in one transaction.
//! 2. Match Q queries (default 20,000) against the N tracks through `Catalog::match_track`:
//!    the first call builds the index, every later one reuses it. Half the queries are spelled
//!    differently from a track in the library (case, "feat.", "(Original Mix)", duration off by
//!    a second), a quarter carry the ISRC, a quarter match nothing.
//!
//! cargo build --release -p baton-catalog --example catalog_bench
//! target/release/examples/catalog_bench [TRACKS] [QUERIES] [ROUNDS]
use std::path::Path;
use std::time::Instant;

use baton_catalog::{Access, Catalog, Record, TrackQuery, Verdict};
use serde_json::json;

const WORDS: &[&str] = &[
    "night",
    "drive",
    "summer",
    "echo",
    "light",
    "fire",
    "ocean",
    "dream",
    "city",
    "heart",
    "gold",
    "rain",
    "shadow",
    "river",
    "storm",
    "velvet",
    "neon",
    "silver",
    "wild",
    "lost",
    "signal",
    "horizon",
    "pulse",
    "glass",
    "midnight",
    "electric",
    "sunrise",
    "gravity",
    "paradise",
    "satellite",
    "crystal",
    "thunder",
    "desire",
    "mirror",
    "phantom",
];

/// A deterministic pseudo-random stream (no dependency, same rows in every run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

struct Track {
    key: String,
    title: String,
    artists: Vec<String>,
    duration_ms: i64,
    isrc: String,
}

fn tracks(n: usize) -> Vec<Track> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i| {
            let title = format!("{} {} {}", rng.pick(WORDS), rng.pick(WORDS), i);
            let mut artists = vec![format!("Artist {}", rng.next() % 20_000)];
            if i % 5 == 0 {
                artists.push(format!("Artist {}", rng.next() % 20_000));
            }
            Track {
                key: format!("spotify:track:{i:08}"),
                title,
                artists,
                duration_ms: 120_000 + (rng.next() % 300_000) as i64,
                isrc: format!("QZ{:03}{:07}", i % 1000, i),
            }
        })
        .collect()
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let q: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let playlists = 500usize;
    let memberships = 2 * n; // 200,000 for 100,000 tracks
    let per_playlist = memberships / playlists;
    let lib = tracks(n);

    println!(
        "## upsert: {n} tracks, {playlists} playlists, {memberships} memberships; {rounds} rounds, interleaved with the baseline"
    );
    let (mut cat_s, mut base_s) = (Vec::new(), Vec::new());
    let mut last_dir = None;
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = Instant::now();
        baseline(&dir.path().join("baseline.sqlite"), &lib, playlists, per_playlist);
        let b = t.elapsed().as_secs_f64();
        let t = Instant::now();
        upsert_all(&dir.path().join("catalog.sqlite"), &lib, playlists, per_playlist);
        let c = t.elapsed().as_secs_f64();
        println!("round {round}: catalog {c:.2} s, plain rusqlite {b:.2} s, ratio {:.2}x", c / b);
        cat_s.push(c);
        base_s.push(b);
        last_dir = Some(dir);
    }
    let (c, b) = (median(&mut cat_s), median(&mut base_s));
    println!(
        "median: catalog {c:.2} s ({:.0} tracks/s), plain rusqlite {b:.2} s, ratio {:.2}x (target: catalog under 5 s)",
        n as f64 / c,
        c / b
    );

    println!("## match: {q} queries against {n} tracks, index kept between calls");
    let dir = last_dir.expect("at least one round");
    let mut cat = Catalog::open(&dir.path().join("catalog.sqlite")).expect("open");
    let user = Access::user();
    let queries = make_queries(&lib, q);
    let t = Instant::now();
    let first = cat.match_track(&user, &queries[0].0).expect("match");
    let build = t.elapsed().as_secs_f64();
    let mut verdicts = [0usize; 3];
    let mut right = 0usize;
    let mut expected = 0usize;
    let t = Instant::now();
    for (query, want) in &queries {
        let out = cat.match_track(&user, query).expect("match");
        verdicts[match out.verdict {
            Verdict::Match => 0,
            Verdict::Ambiguous => 1,
            Verdict::None => 2,
        }] += 1;
        if let Some(w) = want {
            expected += 1;
            if out.verdict == Verdict::Match && out.candidates.first().is_some_and(|c| &c.key == w) {
                right += 1;
            }
        }
    }
    let all = t.elapsed().as_secs_f64();
    let _ = first;
    println!(
        "first call (builds the index) {build:.2} s; {q} queries {all:.2} s ({:.0} µs each); total {:.2} s (target: under 5 s)",
        all * 1e6 / q as f64,
        build + all
    );
    println!(
        "verdicts: {} match, {} ambiguous, {} none; {right} of {expected} spelled-differently/ISRC queries found their track",
        verdicts[0], verdicts[1], verdicts[2]
    );
    println!("match quality on the fixture: cargo test --release -p baton-catalog --test matching -- --nocapture");
}

fn upsert_all(path: &Path, lib: &[Track], playlists: usize, per_playlist: usize) {
    let mut cat = Catalog::open(path).expect("open catalog");
    let user = Access::user();
    for chunk in lib.chunks(10_000) {
        let recs: Vec<Record> = chunk
            .iter()
            .map(|t| {
                Record::new(
                    t.key.clone(),
                    json!({"title": t.title, "artists": t.artists, "duration_ms": t.duration_ms, "isrc": t.isrc, "external_ids": [t.key]}),
                )
            })
            .collect();
        let r = cat.upsert(&user, "tracks", &recs).expect("upsert tracks");
        assert_eq!(r.inserted as usize, chunk.len());
    }
    let recs: Vec<Record> = (0..playlists)
        .map(|p| {
            let keys: Vec<&str> =
                (0..per_playlist).map(|j| lib[(p * 7919 + j * 13) % lib.len()].key.as_str()).collect();
            Record::new(
                format!("pl{p:04}"),
                json!({"name": format!("Playlist {p}"), "source": "spotify", "tracks": keys}),
            )
        })
        .collect();
    for chunk in recs.chunks(50) {
        cat.upsert(&user, "playlists", chunk).expect("upsert playlists");
    }
}

fn baseline(path: &Path, lib: &[Track], playlists: usize, per_playlist: usize) {
    let mut conn = rusqlite::Connection::open(path).expect("open baseline");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE tracks (key TEXT PRIMARY KEY, props TEXT NOT NULL);
         CREATE TABLE playlists (key TEXT PRIMARY KEY, props TEXT NOT NULL);
         CREATE TABLE memberships (playlist TEXT NOT NULL, track TEXT NOT NULL, position INTEGER NOT NULL,
                                   PRIMARY KEY (playlist, track));",
    )
    .expect("baseline schema");
    let tx = conn.transaction().expect("tx");
    {
        let mut st = tx.prepare("INSERT INTO tracks (key, props) VALUES (?1, ?2)").expect("prepare");
        for t in lib {
            let props = json!({"title": t.title, "artists": t.artists, "duration_ms": t.duration_ms, "isrc": t.isrc, "external_ids": [t.key]});
            st.execute(rusqlite::params![t.key, props.to_string()]).expect("insert");
        }
        let mut pl = tx.prepare("INSERT INTO playlists (key, props) VALUES (?1, ?2)").expect("prepare");
        let mut m = tx
            .prepare("INSERT OR IGNORE INTO memberships (playlist, track, position) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for p in 0..playlists {
            let key = format!("pl{p:04}");
            pl.execute(rusqlite::params![
                key,
                json!({"name": format!("Playlist {p}"), "source": "spotify"}).to_string()
            ])
            .expect("insert");
            for j in 0..per_playlist {
                m.execute(rusqlite::params![key, lib[(p * 7919 + j * 13) % lib.len()].key, j as i64]).expect("insert");
            }
        }
    }
    tx.commit().expect("commit");
}

/// Queries with the key they should find (None for the ones that match nothing).
fn make_queries(lib: &[Track], q: usize) -> Vec<(TrackQuery, Option<String>)> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    (0..q)
        .map(|i| {
            let t = &lib[(rng.next() % lib.len() as u64) as usize];
            match i % 4 {
                0 | 1 => {
                    let title = match i % 3 {
                        0 => t.title.to_uppercase(),
                        1 => format!("{} (Original Mix)", t.title),
                        _ => format!("{} feat. Someone Else", t.title),
                    };
                    let q = TrackQuery {
                        title,
                        artists: vec![t.artists.join(" & ")],
                        duration_ms: Some(t.duration_ms + 1000),
                        ..TrackQuery::default()
                    };
                    (q, Some(t.key.clone()))
                }
                2 => {
                    let q = TrackQuery {
                        title: t.title.clone(),
                        artists: t.artists.clone(),
                        isrc: Some(t.isrc.clone()),
                        ..TrackQuery::default()
                    };
                    (q, Some(t.key.clone()))
                }
                _ => {
                    let q = TrackQuery {
                        title: format!("{} {} unreleased {i}", rng.pick(WORDS), rng.pick(WORDS)),
                        artists: vec![format!("Nobody {i}")],
                        duration_ms: Some(200_000),
                        ..TrackQuery::default()
                    };
                    (q, None)
                }
            }
        })
        .collect()
}
