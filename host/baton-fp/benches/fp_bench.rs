//! Benchmark and validation tool for the fingerprint core (not part of the library API).
//!
//! Subcommands (see BENCHMARKS.md `## Fingerprint core` for the exact commands):
//! - `agree FILE…`: bit agreement of our fingerprint with `fpcalc -raw` per file, and the median.
//! - `stage WAV…`: time of the fingerprint stage alone (resample + chroma + classifiers) per file.
//! - `files FILE…`: in-process decode + fingerprint of every file on 2 threads; files/s.
//! - `gen-db DB N`: writes N synthetic fingerprints (with planted near-duplicates) into DB.
//! - `group DB`: duplicate grouping over DB, prints the time and the planted-pair recall.
//! - `pairs DIR TRUTH_CSV DB`: pair precision/recall of `dedup` groups against truth.csv.
use std::path::{Path, PathBuf};
use std::process::Command;

fn fpcalc_raw(path: &Path) -> Option<Vec<u32>> {
    let out = Command::new("fpcalc").arg("-raw").arg(path).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.lines().find(|l| l.starts_with("FINGERPRINT="))?;
    Some(
        line["FINGERPRINT=".len()..]
            .split(',')
            .filter_map(|v| v.trim().parse::<i64>().ok().map(|x| x as u32))
            .collect(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    let rest: Vec<PathBuf> = args.iter().skip(2).map(PathBuf::from).collect();
    match cmd {
        "agree" => {
            let mut ags = Vec::new();
            for p in &rest {
                let theirs = fpcalc_raw(p);
                let ours = baton_fp::fingerprint_file(p);
                match (theirs, ours) {
                    (Some(t), Ok(o)) if !t.is_empty() => {
                        let a = baton_fp::compare::bit_agreement(&t, &o.fingerprint);
                        println!("{:.4}\t{}\t{}\t{}\t{}", a, t.len(), o.fingerprint.len(), o.info.codec, p.display());
                        ags.push(a);
                    }
                    (t, o) => println!("skip\t{}\tfpcalc={} ours={}", p.display(), t.is_some(), o.map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string())),
                }
            }
            let n = ags.len();
            let ge98 = ags.iter().filter(|a| **a >= 0.98).count();
            println!("files={n} median_agreement={:.4} min={:.4} files_ge_98={ge98}", median(ags.clone()), ags.iter().cloned().fold(1.0, f64::min));
        }
        "pairstats" => {
            // pairstats DIR TRUTH: score distributions of true and false pairs
            let dir = &rest[0];
            let truth = std::fs::read_to_string(&rest[1]).expect("truth.csv");
            let mut items: Vec<(String, String)> = truth.lines().skip(1).filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() >= 3 && f[2] != "undecodable").then(|| (f[0].to_string(), f[1].to_string()))
            }).collect();
            items.sort();
            use rayon::prelude::*;
            let fps: Vec<(String, String, Vec<u32>)> = items.par_iter().filter_map(|(p, g)| {
                baton_fp::fingerprint_file(&dir.join(p)).ok().map(|f| (p.clone(), g.clone(), f.fingerprint))
            }).collect();
            let mut tru = Vec::new(); let mut fal = Vec::new();
            for i in 0..fps.len() { for j in i+1..fps.len() {
                let c = baton_fp::compare(&fps[i].2, &fps[j].2, 120).unwrap();
                let same = fps[i].1 == fps[j].1;
                if same {
                    let (a, b, off) = (&fps[i].2, &fps[j].2, c.offset);
                    let (a, b) = if off >= 0 { (&a[off as usize..], &b[..]) } else { (&a[..], &b[(-off) as usize..]) };
                    let n = a.len().min(b.len());
                    let fr = |sh: u32| a[..n].iter().zip(&b[..n]).filter(|(x, y)| (*x >> sh) == (*y >> sh)).count() as f64 / n as f64;
                    println!("TRUE {:.3} off={} exact={:.2} s8={:.2} s12={:.2} s16={:.2} {} {}", c.score, c.offset, fr(0), fr(8), fr(12), fr(16), fps[i].0, fps[j].0);
                    tru.push(c.score);
                } else { fal.push(c.score); }
            }}
            fal.sort_by(|a, b| b.total_cmp(a));
            tru.sort_by(|a, b| a.total_cmp(b));
            println!("true min {:?}", &tru[..tru.len().min(5)]);
            println!("false max {:?}", &fal[..fal.len().min(5)]);
        }
        _ => {
            eprintln!("usage: fp-bench agree|stage|files|gen-db|group|pairs …");
            std::process::exit(2);
        }
    }
}
