//! Match quality on the committed fixture (`tests/fixtures/match`): the library is imported into
//! a real catalog (a real SQLite file) and every query goes through `Catalog::match_track`.
//! Precision and recall are asserted on each half (A was used for tuning, B was held out);
//! queries whose answer is `ambiguous` (the library holds the track twice) are counted apart.
use std::path::Path;

use baton_catalog::{Access, Catalog, Record, TrackQuery, Verdict};
use serde_json::json;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/match");

fn rows(file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(Path::new(DIR).join(file)).expect("fixture file");
    text.lines().skip(1).map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

#[derive(Default, Debug)]
struct Score {
    expected_matches: u32,
    correct: u32,
    wrong: u32,
    ambiguous_on_match: u32,
    missed: u32,
    false_on_none: u32,
    nones: u32,
    expected_ambiguous: u32,
    ambiguous_ok: u32,
    ambiguous_guessed: u32,
    no_duration: u32,
}

impl Score {
    fn precision(&self) -> f64 {
        let said_match = self.correct + self.wrong + self.false_on_none + self.ambiguous_guessed;
        if said_match == 0 { 1.0 } else { self.correct as f64 / said_match as f64 }
    }
    fn recall(&self) -> f64 {
        self.correct as f64 / self.expected_matches.max(1) as f64
    }
}

#[test]
fn fixture_precision_and_recall_per_half() {
    let dir = tempfile::tempdir().unwrap();
    let mut cat = Catalog::open(&dir.path().join("state.sqlite")).unwrap();
    let user = Access::user();
    let records: Vec<Record> = rows("library.tsv")
        .into_iter()
        .map(|r| {
            let list = |s: &str| s.split(';').filter(|x| !x.is_empty()).map(str::to_string).collect::<Vec<_>>();
            let mut props = json!({"title": r[1], "artists": list(&r[2]), "duration_ms": r[3].parse::<i64>().unwrap(), "external_ids": list(&r[5])});
            if !r[4].is_empty() {
                props["isrc"] = json!(r[4]);
            }
            Record::new(r[0].clone(), props)
        })
        .collect();
    let rep = cat.upsert(&user, "tracks", &records).unwrap();
    assert_eq!(rep.inserted as usize, records.len());
    let queries = rows("queries.tsv");
    assert!(queries.len() >= 300, "the fixture has {} queries, fewer than 300", queries.len());
    let mut halves = [Score::default(), Score::default()];
    let mut failures = Vec::new();
    for r in &queries {
        let q = TrackQuery {
            title: r[2].clone(),
            artists: if r[3].is_empty() { vec![] } else { vec![r[3].clone()] },
            duration_ms: r[4].parse().ok(),
            isrc: (!r[5].is_empty()).then(|| r[5].clone()),
            external_ids: if r[6].is_empty() { vec![] } else { vec![r[6].clone()] },
            file: None,
            album: None,
        };
        let out = cat.match_track(&user, &q).unwrap();
        let q = &q;
        let got = match out.verdict {
            Verdict::Match => out.candidates[0].key.as_str(),
            Verdict::Ambiguous => "ambiguous",
            Verdict::None => "none",
        };
        let s = &mut halves[(r[1] == "B") as usize];
        let expect = r[7].as_str();
        // A query without a duration (and, in this fixture, without an album) names its track
        // only as the best of an `ambiguous` answer: names alone are never certain then.
        let by_names = q.isrc.is_none() && q.external_ids.is_empty();
        if by_names && q.duration_ms.is_none() && !matches!(expect, "none" | "ambiguous") {
            let top = out.candidates.first().map(|c| c.key.as_str());
            assert_eq!((got, top), ("ambiguous", Some(expect)), "{}: no duration", r[0]);
            s.no_duration += 1;
            continue;
        }
        match expect {
            "none" => {
                s.nones += 1;
                if got != "none" && got != "ambiguous" {
                    s.false_on_none += 1;
                }
            }
            "ambiguous" => {
                s.expected_ambiguous += 1;
                if got == "ambiguous" {
                    s.ambiguous_ok += 1;
                } else if got != "none" {
                    s.ambiguous_guessed += 1;
                }
            }
            key => {
                s.expected_matches += 1;
                match got {
                    g if g == key => s.correct += 1,
                    "ambiguous" => s.ambiguous_on_match += 1,
                    "none" => s.missed += 1,
                    _ => s.wrong += 1,
                }
            }
        }
        if got != expect {
            failures.push(format!(
                "{} [{}] {:?} / {:?} {:?}: expected {expect}, got {got} {:?}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                out.candidates.first().map(|c| (&c.key, c.score, c.method, &c.reasons))
            ));
        }
    }
    for f in &failures {
        eprintln!("{f}");
    }
    for (name, s) in ["A (tuning)", "B (held out)"].iter().zip(&halves) {
        eprintln!(
            "half {name}: precision {:.4}, recall {:.4}; {} without a duration (ambiguous, the right one first); {} expected matches: {} right, {} wrong, {} ambiguous, {} missed; {} look-alikes: {} matched wrongly; {} duplicates: {} ambiguous, {} guessed",
            s.precision(),
            s.recall(),
            s.no_duration,
            s.expected_matches,
            s.correct,
            s.wrong,
            s.ambiguous_on_match,
            s.missed,
            s.nones,
            s.false_on_none,
            s.expected_ambiguous,
            s.ambiguous_ok,
            s.ambiguous_guessed
        );
    }
    for (name, s) in ["A", "B"].iter().zip(&halves) {
        assert!(s.precision() >= 0.99, "half {name}: precision {:.4} < 0.99 ({s:?})", s.precision());
        assert!(s.recall() >= 0.95, "half {name}: recall {:.4} < 0.95 ({s:?})", s.recall());
        assert_eq!(s.ambiguous_guessed, 0, "half {name}: a duplicated track was guessed instead of reported ambiguous");
    }
}
