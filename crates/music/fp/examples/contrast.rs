//! Calibrates the default-mode verification ([`baton_signal::compare::search`]): fingerprints the
//! files given, compares every pair, and prints the contrast of true pairs (same group: the file
//! name up to its first `_` or `-`) against unrelated ones, with precision and recall of the new
//! rule and of the old one (±15 s, similarity >= 0.85 over at least half the shorter print).
//!
//! `cargo run --release -p baton-fp --example contrast -- FILE… [--pairs]`
use std::path::PathBuf;

use baton_signal::compare::{self, is_match, search};
use rayon::prelude::*;

fn group(p: &std::path::Path) -> String {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split(['_', '-']).next().unwrap_or("").to_string()
}

/// CPU time of this thread in seconds (Linux: `/proc/thread-self/stat`, clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // fields after the name: state is [0]; utime [11], stime [12]
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut show_pairs = false;
    let mut files: Vec<PathBuf> = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--pairs" {
            show_pairs = true;
        } else {
            files.push(a.into());
        }
    }
    let fps: Vec<(PathBuf, Vec<u32>)> = files
        .par_iter()
        .filter_map(|f| match baton_signal::fingerprint_file(f) {
            Ok(fp) => Some((f.clone(), fp.fingerprint)),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        })
        .collect();
    let pairs: Vec<(usize, usize)> = (0..fps.len()).flat_map(|i| (i + 1..fps.len()).map(move |j| (i, j))).collect();
    let start = std::time::Instant::now();
    let results: Vec<_> = pairs.par_iter().map(|&(i, j)| search(&fps[i].1, &fps[j].1)).collect();
    let per_pair = start.elapsed().as_secs_f64() * 1e3 / pairs.len().max(1) as f64;
    // single-thread CPU cost of the new and the old verification, same pairs (thread CPU time,
    // so that other load on the machine does not count)
    let reps = 3;
    let t = cpu_seconds();
    let n: usize = (0..reps)
        .flat_map(|_| pairs.iter())
        .filter_map(|&(i, j)| search(&fps[i].1, &fps[j].1))
        .map(|c| c.overlap)
        .sum();
    let new_ms = (cpu_seconds() - t) * 1e3 / (reps * pairs.len()).max(1) as f64;
    let t = cpu_seconds();
    let o: usize = (0..reps)
        .flat_map(|_| pairs.iter())
        .filter_map(|&(i, j)| compare::compare(&fps[i].1, &fps[j].1, compare::DEFAULT_MAX_OFFSET))
        .map(|c| c.overlap)
        .sum();
    let old_ms = (cpu_seconds() - t) * 1e3 / (reps * pairs.len()).max(1) as f64;
    println!(
        "CPU per pair, one thread: search {new_ms:.3} ms, old ±15 s compare {old_ms:.3} ms ({} items aligned)",
        n.min(o)
    );
    let (mut tp, mut fp_, mut fneg, mut otp, mut ofp, mut ofn) = (0, 0, 0, 0, 0, 0);
    let (mut min_true, mut max_false) = (f64::MAX, f64::MIN);
    let mut missed = Vec::new();
    let mut worst_false = None;
    for (&(i, j), r) in pairs.iter().zip(&results) {
        let same = group(&fps[i].0) == group(&fps[j].0);
        let Some(c) = r else { continue };
        let new = is_match(c, baton_fp::dedup::DEFAULT_MIN_SIMILARITY);
        let old = compare::compare(&fps[i].1, &fps[j].1, compare::DEFAULT_MAX_OFFSET)
            .is_some_and(|o| o.score >= 0.85 && o.overlap * 2 >= fps[i].1.len().min(fps[j].1.len()));
        let name = |k: usize| fps[k].0.file_name().unwrap().to_string_lossy().into_owned();
        if show_pairs && (same || c.contrast > 0.05) {
            println!(
                "{}\t{:.4}\t{:.4}\t{:+.1}\t{}\t{}\t{}",
                same,
                c.contrast,
                c.score,
                c.offset_seconds,
                c.overlap,
                name(i),
                name(j)
            );
        }
        if same {
            min_true = min_true.min(c.contrast);
            if new {
                tp += 1
            } else {
                fneg += 1;
                missed.push(format!("{} {} contrast {:.3} sim {:.3}", name(i), name(j), c.contrast, c.score))
            }
            if old { otp += 1 } else { ofn += 1 }
        } else {
            if c.contrast > max_false {
                max_false = c.contrast;
                worst_false = Some(format!(
                    "{} {} contrast {:.3} sim {:.3} at {:+.1} s",
                    name(i),
                    name(j),
                    c.contrast,
                    c.score,
                    c.offset_seconds
                ));
            }
            if new {
                fp_ += 1
            }
            if old {
                ofp += 1
            }
        }
    }
    let pr = |tp: i32, fp: i32, fneg: i32| (tp as f64 / (tp + fp).max(1) as f64, tp as f64 / (tp + fneg).max(1) as f64);
    println!("{} files, {} pairs, {:.3} ms per pair (search)", fps.len(), pairs.len(), per_pair);
    println!(
        "true pairs: lowest contrast {min_true:.4}; unrelated pairs: highest contrast {max_false:.4} ({})",
        worst_false.unwrap_or_default()
    );
    let (p, r) = pr(tp, fp_, fneg);
    println!("search + contrast: precision {p:.3} recall {r:.3} ({tp} found, {fp_} false, {fneg} missed)");
    let (p, r) = pr(otp, ofp, ofn);
    println!("old ±15 s similarity: precision {p:.3} recall {r:.3} ({otp} found, {ofp} false, {ofn} missed)");
    for m in missed {
        println!("missed: {m}");
    }
    Ok(())
}
