//! Benchmark and validation tool for the fingerprint core (not part of the library API).
//!
//! Subcommands (see bench/README.md `## Fingerprint core` for the exact commands):
//! - `agree FILE…`: bit agreement of our fingerprint with `fpcalc -raw` per file, and the median.
//! - `stage WAV…`: time of the fingerprint stage alone (resample + chroma + classifiers) per file.
//! - `resample-bench [REPS] [EVICT_KB]`: the resampler alone on 120 s of synthetic 48/44.1 kHz
//!   f32/i16 input; with EVICT_KB, that much memory is written between pushes (like a decoder would).
//! - `files FILE…`: in-process decode + fingerprint of every file on 2 threads; files/s.
//! - `gen-db DB N`: writes N synthetic fingerprints (with planted near-duplicates) into DB.
//! - `group DB`: duplicate grouping over DB, prints the time and the planted-pair recall.
//! - `pairs DIR TRUTH_CSV DB`: pair precision/recall of `dedup` groups against truth.csv.
//! - `deep-gen DB N`: a synthetic deep library of N tracks without decoding (random-walk
//!   prints of 3–5 min at the seven deep speeds, written through `Db::upsert_with_deep`),
//!   one original in 50 with a planted variant derived at the print level.
//! - `deep-bench DB [QUERIES]`: deep dedup end to end over DB (planted-pair recall, wrong
//!   groups), verification cost per candidate before (every offset, three speeds) and after
//!   (voted buckets, voted speed first) on the same candidates, `best-matches` latency
//!   (median, p99) with the 120 s prefixes of QUERIES tracks, and index size per track.
//! - `fpcalc-all-pairs FILE…`: whole-track `fpcalc -raw -length 0` prints compared all-pairs
//!   with the default-mode rule (the baseline of the deep-mode benchmark, `tools/bench-deep.py`).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

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
    // `scan` decodes in worker processes that run this program (baton-fp's own tests use it too).
    if args.get(1).map(String::as_str) == Some(baton_fp::worker::WORKER_COMMAND) {
        std::process::exit(baton_fp::worker::serve_stdio());
    }
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    let rest: Vec<PathBuf> = args.iter().skip(2).map(PathBuf::from).collect();
    match cmd {
        "agree" => {
            let mut ags = Vec::new();
            for p in &rest {
                let theirs = fpcalc_raw(p);
                let ours = baton_signal::fingerprint_file(p);
                match (theirs, ours) {
                    (Some(t), Ok(o)) if !t.is_empty() => {
                        let a = baton_signal::compare::bit_agreement(&t, &o.fingerprint);
                        println!("{:.4}\t{}\t{}\t{}\t{}", a, t.len(), o.fingerprint.len(), o.info.codec, p.display());
                        ags.push(a);
                    }
                    (t, o) => println!(
                        "skip\t{}\tfpcalc={} ours={}",
                        p.display(),
                        t.is_some(),
                        o.map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string())
                    ),
                }
            }
            let n = ags.len();
            let ge98 = ags.iter().filter(|a| **a >= 0.98).count();
            println!(
                "files={n} median_agreement={:.4} min={:.4} files_ge_98={ge98}",
                median(ags.clone()),
                ags.iter().cloned().fold(1.0, f64::min)
            );
        }
        "pairstats" => {
            // pairstats DIR TRUTH: score distributions of true and false pairs
            let dir = &rest[0];
            let truth = std::fs::read_to_string(&rest[1]).expect("truth.csv");
            let mut items: Vec<(String, String)> = truth
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (f.len() >= 3 && f[2] != "undecodable").then(|| (f[0].to_string(), f[1].to_string()))
                })
                .collect();
            items.sort();
            use rayon::prelude::*;
            let fps: Vec<(String, String, Vec<u32>)> = items
                .par_iter()
                .filter_map(|(p, g)| {
                    baton_signal::fingerprint_file(&dir.join(p)).ok().map(|f| (p.clone(), g.clone(), f.fingerprint))
                })
                .collect();
            let mut tru = Vec::new();
            let mut fal = Vec::new();
            for i in 0..fps.len() {
                for j in i + 1..fps.len() {
                    let c = baton_signal::compare(&fps[i].2, &fps[j].2, 120).unwrap();
                    let same = fps[i].1 == fps[j].1;
                    if same {
                        let (a, b, off) = (&fps[i].2, &fps[j].2, c.offset);
                        let (a, b) =
                            if off >= 0 { (&a[off as usize..], &b[..]) } else { (&a[..], &b[(-off) as usize..]) };
                        let n = a.len().min(b.len());
                        let fr = |sh: u32| {
                            a[..n].iter().zip(&b[..n]).filter(|(x, y)| (*x >> sh) == (*y >> sh)).count() as f64
                                / n as f64
                        };
                        println!(
                            "TRUE {:.3} off={} exact={:.2} s8={:.2} s12={:.2} s16={:.2} {} {}",
                            c.score,
                            c.offset,
                            fr(0),
                            fr(8),
                            fr(12),
                            fr(16),
                            fps[i].0,
                            fps[j].0
                        );
                        tru.push(c.score);
                    } else {
                        fal.push(c.score);
                    }
                }
            }
            fal.sort_by(|a, b| b.total_cmp(a));
            tru.sort_by(|a, b| a.total_cmp(b));
            println!("true min {:?}", &tru[..tru.len().min(5)]);
            println!("false max {:?}", &fal[..fal.len().min(5)]);
        }
        "scan" => {
            // scan DIR DB WORKERS: the library scan (the code path of `baton fp scan`, decoding
            // in WORKERS worker processes)
            let threads: usize = args.get(4).and_then(|t| t.parse().ok()).unwrap_or(2);
            let t = Instant::now();
            let cfg = baton_fp::worker::WorkerConfig::this_program(threads, baton_fp::worker::DEFAULT_FILE_TIMEOUT);
            let workers = baton_fp::worker::Workers::new(cfg);
            let s = baton_fp::scan::scan(&rest[1], &[rest[0].clone()], &workers, Default::default()).expect("scan");
            let secs = t.elapsed().as_secs_f64();
            println!(
                "files={} fingerprinted={} failed={} seconds={:.3} files_per_s={:.2}",
                s.scanned,
                s.fingerprinted,
                s.failed,
                secs,
                s.scanned as f64 / secs
            );
        }
        "dump" => {
            // dump FILE OUT: our 11025 Hz mono samples as s16le
            let d = baton_signal::decode::decode_for_fingerprint(&rest[0], 120).expect("decode");
            let b: Vec<u8> = d.samples.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(&rest[1], b).expect("write");
        }
        "profile" => {
            for p in &rest {
                // symphonia alone: decode 120 s, no conversion
                use symphonia::core::{
                    codecs::DecoderOptions, formats::FormatOptions, io::MediaSourceStream, meta::MetadataOptions,
                    probe::Hint,
                };
                let t = Instant::now();
                let mss = MediaSourceStream::new(Box::new(std::fs::File::open(p).unwrap()), Default::default());
                let mut hint = Hint::new();
                if let Some(e) = p.extension().and_then(|e| e.to_str()) {
                    hint.with_extension(e);
                }
                let probed = symphonia::default::get_probe()
                    .format(
                        &hint,
                        mss,
                        &FormatOptions { enable_gapless: true, ..Default::default() },
                        &MetadataOptions::default(),
                    )
                    .unwrap();
                let mut format = probed.format;
                let track = format.default_track().unwrap().clone();
                let mut dec =
                    symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).unwrap();
                let mut frames = 0u64;
                let rate = track.codec_params.sample_rate.unwrap_or(44100) as u64;
                while frames < 120 * rate {
                    let Ok(pk) = format.next_packet() else { break };
                    if let Ok(b) = dec.decode(&pk) {
                        frames += b.frames() as u64;
                    }
                }
                let t0 = t.elapsed().as_secs_f64() * 1000.0;
                print!("symphonia-only {t0:.1} ms  ");
                let t = Instant::now();
                let d = baton_signal::decode::decode_for_fingerprint(p, 120).expect("decode");
                let t1 = t.elapsed().as_secs_f64() * 1000.0;
                let t = Instant::now();
                let fp = baton_signal::fingerprint::fingerprint_samples(&d.samples);
                let t2 = t.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "decode+resample {t1:.1} ms  fingerprint {t2:.1} ms  items {}  {} {} Hz  {}",
                    fp.len(),
                    d.info.codec,
                    d.info.sample_rate,
                    p.display()
                );
            }
        }
        "stagecheck" => {
            // our fingerprint stage vs rusty-chromaprint on the same samples
            for p in &rest {
                let d = baton_signal::decode::decode_for_fingerprint(p, 120).expect("decode");
                let t = Instant::now();
                let a = baton_signal::fingerprint::fingerprint_samples_reference(&d.samples);
                let ta = t.elapsed().as_secs_f64() * 1000.0;
                let t = Instant::now();
                let b = baton_signal::chroma::fingerprint(&d.samples);
                let tb = t.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "len {} vs {}  agreement {:.6}  reference {ta:.1} ms  ours {tb:.1} ms  {}",
                    a.len(),
                    b.len(),
                    baton_signal::compare::bit_agreement(&a, &b),
                    p.display()
                );
            }
        }
        "stage" => {
            // stage WAV…: fingerprint stage alone on already-decoded 11025 Hz mono audio, and our
            // resampler alone (44.1 kHz → 11025 Hz) for reference; ms per 120 s of audio.
            let mut per120 = Vec::new();
            let mut rs120 = Vec::new();
            for p in &rest {
                let d = baton_signal::decode::decode_for_fingerprint(p, 120).expect("decode");
                let secs = d.samples.len() as f64 / 11025.0;
                let mut best = f64::MAX;
                for _ in 0..3 {
                    let t = Instant::now();
                    let fp = baton_signal::fingerprint::fingerprint_samples(&d.samples);
                    std::hint::black_box(fp);
                    best = best.min(t.elapsed().as_secs_f64());
                }
                per120.push(best * 1000.0 * 120.0 / secs);
                // resampler: a 44.1 kHz float signal of the same length
                let x: Vec<f32> = (0..(secs * 44100.0) as usize).map(|i| ((i as f32) * 0.01).sin() * 0.3).collect();
                let t = Instant::now();
                let mut r = baton_signal::resample::Resampler::new(44100, baton_signal::resample::SampleKind::Float);
                let mut out = Vec::new();
                for c in x.chunks(4096) {
                    r.push_f32(c, &mut out);
                }
                r.finish(&mut out);
                std::hint::black_box(&out);
                rs120.push(t.elapsed().as_secs_f64() * 1000.0 * 120.0 / secs);
            }
            println!(
                "files={} fingerprint_stage_ms_per_120s median={:.1} min={:.1} | resample_44k_ms_per_120s median={:.1}",
                per120.len(),
                median(per120.clone()),
                per120.iter().cloned().fold(f64::MAX, f64::min),
                median(rs120)
            );
        }
        "resample-bench" => {
            // resample-bench [REPS] [EVICT_KB]: resampler alone, ms per 120 s of synthetic mono
            // input fed in 4096-sample chunks (like a decoder); best and median of REPS runs.
            // EVICT_KB > 0 writes that much memory between pushes (untimed) so the resampler
            // starts each push with the caches a decoder would leave it.
            use baton_signal::resample::{Resampler, SampleKind};
            let reps: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(15);
            let mut evict = vec![0u8; args.get(3).and_then(|t| t.parse::<usize>().ok()).unwrap_or(0) * 1024];
            for rate in [48000u32, 44100] {
                let n = rate as usize * 120;
                let xf: Vec<f32> =
                    (0..n).map(|i| ((i as f32) * 0.013).sin() * 0.3 + ((i as f32) * 0.0007).sin() * 0.2).collect();
                let xi: Vec<i16> = xf.iter().map(|&v| (v * 32767.0) as i16).collect();
                for kind in [SampleKind::Float, SampleKind::Int16] {
                    let mut ts = Vec::new();
                    let mut out = Vec::with_capacity(120 * 11025 + 64);
                    for _ in 0..reps {
                        out.clear();
                        let t = Instant::now();
                        let mut r = Resampler::new(rate, kind);
                        let mut spent = t.elapsed();
                        for c in 0..n.div_ceil(4096) {
                            evict.iter_mut().step_by(64).for_each(|b| *b = b.wrapping_add(1));
                            std::hint::black_box(&evict);
                            let t = Instant::now();
                            match kind {
                                SampleKind::Float => r.push_f32(&xf[c * 4096..((c + 1) * 4096).min(n)], &mut out),
                                SampleKind::Int16 => r.push_i16(&xi[c * 4096..((c + 1) * 4096).min(n)], &mut out),
                            }
                            spent += t.elapsed();
                        }
                        let t = Instant::now();
                        r.finish(&mut out);
                        std::hint::black_box(&out);
                        ts.push((spent + t.elapsed()).as_secs_f64() * 1000.0);
                    }
                    let sum: u64 =
                        out.iter().map(|&v| v as i64 as u64).fold(0u64, |a, v| a.wrapping_mul(31).wrapping_add(v));
                    println!(
                        "{rate} Hz {kind:?}: best {:.2} ms  median {:.2} ms per 120 s  (out {} checksum {sum:016x})",
                        ts.iter().cloned().fold(f64::MAX, f64::min),
                        median(ts),
                        out.len()
                    );
                }
            }
        }
        "gen-db" => {
            // gen-db DB N: N synthetic 950-item fingerprints; every 10th file gets a planted
            // near-duplicate (8% of bits flipped; every other one also trimmed by 24 items).
            let db_path = &rest[0];
            let n: u64 = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(100_000);
            let _ = std::fs::remove_file(db_path);
            let db = baton_fp::db::Db::open(db_path).expect("db");
            let mut rng = 0x1234_5678_9abc_def0u64;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let t = Instant::now();
            db.conn.execute_batch("BEGIN").unwrap();
            let mut planted = 0;
            let mut i = 0u64;
            while i < n {
                let fp: Vec<u32> = (0..950).map(|_| next() as u32).collect();
                let mut row = baton_fp::db::FileRow {
                    path: format!("/lib/orig/{i:06}.flac").into(),
                    size: 1,
                    mtime_ns: 1,
                    duration: Some(120.0),
                    fingerprint: Some(fp.clone()),
                    ..Default::default()
                };
                db.upsert(&row).unwrap();
                i += 1;
                if i % 10 == 1 && i < n {
                    let mut d: Vec<u32> = fp
                        .iter()
                        .map(|v| {
                            let mut m = 0u32;
                            for b in 0..32 {
                                if next() % 100 < 8 {
                                    m |= 1 << b;
                                }
                            }
                            v ^ m
                        })
                        .collect();
                    if planted % 2 == 1 {
                        d.drain(..24);
                    }
                    row.path = format!("/lib/dup/{:06}.mp3", i - 1).into();
                    row.fingerprint = Some(d);
                    db.upsert(&row).unwrap();
                    planted += 1;
                    i += 1;
                }
            }
            db.conn.execute_batch("COMMIT").unwrap();
            println!("wrote {n} fingerprints ({planted} planted duplicates) in {:.1} s", t.elapsed().as_secs_f64());
        }
        "group" => {
            // group DB: duplicate grouping over everything in DB; checks the planted pairs
            let t = Instant::now();
            let r = baton_fp::dedup::find_groups(&rest[0], &Default::default()).expect("group");
            let secs = t.elapsed().as_secs_f64();
            let mut ok = 0;
            let mut wrong = 0;
            for g in &r.groups {
                let k = g.keeper.path.file_stem().unwrap().to_string_lossy().to_string();
                let good = g.duplicates.len() == 1 && g.duplicates[0].path.file_stem().unwrap().to_string_lossy() == k;
                if good { ok += 1 } else { wrong += 1 }
            }
            println!(
                "fingerprints={} candidates={} verified={} groups={} correct_groups={} wrong_groups={} seconds={:.2}",
                r.fingerprints,
                r.candidates,
                r.verified_pairs,
                r.groups.len(),
                ok,
                wrong,
                secs
            );
        }
        "pairs" => {
            // pairs DIR TRUTH_CSV DB: pair precision / recall of find_groups vs truth.csv
            let dir = baton_signal::decode::absolute(&rest[0]);
            let truth = std::fs::read_to_string(&rest[1]).expect("truth.csv");
            let mut group_of = std::collections::HashMap::new();
            for l in truth.lines().skip(1) {
                let f: Vec<&str> = l.split(',').collect();
                if f.len() >= 3 {
                    group_of.insert(dir.join(f[0]), (f[1].to_string(), f[2].to_string()));
                }
            }
            let r = baton_fp::dedup::find_groups(&rest[2], &Default::default()).expect("groups");
            let mut found = std::collections::BTreeSet::new();
            for g in &r.groups {
                let mut m: Vec<PathBuf> = g.duplicates.iter().map(|d| d.path.clone()).collect();
                m.push(g.keeper.path.clone());
                m.sort();
                for i in 0..m.len() {
                    for j in i + 1..m.len() {
                        found.insert((m[i].clone(), m[j].clone()));
                    }
                }
            }
            let mut by_group: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
            for (p, (g, t)) in &group_of {
                if t != "undecodable" {
                    by_group.entry(g.clone()).or_default().push(p.clone());
                }
            }
            let mut truth_pairs = std::collections::BTreeSet::new();
            for m in by_group.values_mut() {
                m.sort();
                for i in 0..m.len() {
                    for j in i + 1..m.len() {
                        truth_pairs.insert((m[i].clone(), m[j].clone()));
                    }
                }
            }
            let tp = found.intersection(&truth_pairs).count();
            for fp in found.difference(&truth_pairs) {
                println!("false pair: {} {}", fp.0.display(), fp.1.display());
            }
            for fnp in truth_pairs.difference(&found) {
                println!(
                    "missed pair: {} {} ({} / {})",
                    fnp.0.display(),
                    fnp.1.display(),
                    group_of[&fnp.0].1,
                    group_of[&fnp.1].1
                );
            }
            println!(
                "truth_pairs={} found_pairs={} true_positives={} precision={:.4} recall={:.4} groups={}",
                truth_pairs.len(),
                found.len(),
                tp,
                tp as f64 / found.len().max(1) as f64,
                tp as f64 / truth_pairs.len().max(1) as f64,
                r.groups.len()
            );
        }
        "deep-gen" => {
            // deep-gen DB N: see the module comment
            use baton_signal::deep::{SPEEDS, stretch};
            let db_path = &rest[0];
            let n: usize = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(20_000);
            let _ = std::fs::remove_file(db_path);
            let db = baton_fp::db::Db::open(db_path).expect("db");
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            // a random walk: each item flips two bits of the last (the autocorrelation of a real print)
            let walk = |len: usize, next: &mut dyn FnMut() -> u64| -> Vec<u32> {
                let mut v = next() as u32;
                (0..len)
                    .map(|_| {
                        let r = next();
                        v ^= 1 << (r % 32);
                        v ^= 1 << ((r >> 8) % 32);
                        v
                    })
                    .collect()
            };
            // a lossy copy: each bit flipped with probability 1/16
            let noisy = |p: &[u32], next: &mut dyn FnMut() -> u64| -> Vec<u32> {
                p.iter()
                    .map(|v| {
                        let r = next();
                        let m = (r as u32) & ((r >> 32) as u32) & ((r >> 16) as u32) & ((r >> 8) as u32);
                        v ^ m
                    })
                    .collect()
            };
            let insert = |db: &baton_fp::db::Db, path: String, unit: &[u32]| {
                let prints: Vec<Vec<u32>> =
                    SPEEDS.iter().map(|&s| if s == 1.0 { unit.to_vec() } else { stretch(unit, 1.0 / s) }).collect();
                let row = baton_fp::db::FileRow {
                    path: path.into(),
                    size: 1,
                    mtime_ns: 1,
                    duration: Some(unit.len() as f64 * baton_signal::fingerprint::ITEM_SECONDS),
                    fingerprint: Some(unit[..unit.len().min(950)].to_vec()),
                    ..Default::default()
                };
                db.upsert_with_deep(&row, Some(&prints)).expect("insert");
            };
            let t = Instant::now();
            // one transaction per track: the path of a scan (Db::upsert_with_deep)
            let kinds = ["clip30", "clip15", "intro45", "radio", "tempo+2", "turntable-3"];
            let (mut i, mut planted) = (0usize, 0usize);
            while i < n {
                let len = 1450 + (next() % 900) as usize; // 3–5 min
                let orig = walk(len, &mut next);
                insert(&db, format!("/lib/orig/{i:06}.flac"), &orig);
                i += 1;
                if i % 50 == 1 && i < n {
                    let kind = kinds[planted % kinds.len()];
                    let mid = len / 2;
                    let v: Vec<u32> = match kind {
                        "clip30" => orig[mid..mid + 242].to_vec(),
                        "clip15" => orig[mid..mid + 121].to_vec(),
                        "intro45" => orig[363..].to_vec(),
                        "radio" => {
                            let mut v = orig[200..700].to_vec();
                            v.extend_from_slice(&orig[940..]);
                            v
                        }
                        "tempo+2" => stretch(&orig, 1.0 / 1.02),
                        _ => stretch(&orig, 1.0 / 0.97),
                    };
                    let v = noisy(&v, &mut next);
                    insert(&db, format!("/lib/var/{:06}-{kind}.mp3", i - 1), &v);
                    planted += 1;
                    i += 1;
                }
                if i % 2000 == 0 {
                    eprint!("\r{i}/{n}");
                }
            }
            let size = std::fs::metadata(db_path).map(|m| m.len()).unwrap_or(0);
            println!(
                "wrote {n} tracks ({planted} planted variants) with deep prints in {:.1} s; database {:.0} MB ({:.1} KB per track)",
                t.elapsed().as_secs_f64(),
                size as f64 / 1e6,
                size as f64 / n as f64 / 1e3
            );
        }
        "deep-bench" => {
            // deep-bench DB [QUERIES]: see the module comment
            use baton_signal::deep::{Library, speeds_around, verify, verify_candidate};
            let db_path = &rest[0];
            let queries: usize = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(200);
            let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().split('-').next().unwrap().to_string();
            // 1. deep dedup end to end (the code path of `baton fp dedup --deep`)
            let t = Instant::now();
            let opts = baton_fp::dedup::DedupOptions { deep: true, ..Default::default() };
            let r = baton_fp::dedup::find_groups(db_path, &opts).expect("dedup");
            let secs = t.elapsed().as_secs_f64();
            let (mut ok, mut wrong) = (0, 0);
            let mut found_kinds: std::collections::BTreeMap<String, usize> = Default::default();
            for g in &r.groups {
                let k = stem(&g.keeper.path);
                if g.duplicates.iter().all(|d| stem(&d.path) == k) {
                    ok += g.duplicates.len()
                } else {
                    wrong += 1
                }
                for d in g.duplicates.iter().chain([&g.keeper]) {
                    let s = d.path.file_stem().unwrap().to_string_lossy().to_string();
                    if let Some((_, kind)) = s.split_once('-') {
                        *found_kinds.entry(kind.to_string()).or_default() += 1;
                    }
                }
            }
            let d = r.deep.clone().unwrap_or_default();
            println!(
                "dedup --deep: tracks={} prefix_candidates={} deep_candidates={} verified_pairs={} groups={} planted_pairs_found={ok} wrong_groups={wrong} seconds={secs:.1}",
                d.tracks,
                r.candidates,
                d.candidates,
                r.verified_pairs + d.verified_pairs,
                r.groups.len()
            );
            println!("found by kind: {found_kinds:?}");
            // 2. verification per candidate, before and after, on the same candidates
            let db = baton_fp::db::Db::open(db_path).expect("db");
            let t = Instant::now();
            let lib = Library::new(db.deep_unit_prints().expect("prints"));
            let build = t.elapsed().as_secs_f64();
            let n = lib.ids.len();
            let index_kb = lib.index_bytes() as f64 / n as f64 / 1e3;
            let print_kb = lib.prints.iter().map(|p| p.len() * 4).sum::<usize>() as f64 / n as f64 / 1e3;
            println!(
                "index: {n} tracks built in {build:.1} s; postings {index_kb:.1} KB per track + speed-1 print {print_kb:.1} KB per track in memory; 7 deep prints {:.1} KB per track in the database",
                print_kb * (1.0 / 0.97 + 1.0 / 0.98 + 1.0 / 0.99 + 1.0 + 1.0 / 1.01 + 1.0 / 1.02 + 1.0 / 1.03)
            );
            // every 25th track from 1: every other one is a planted variant (deep-gen puts one
            // after every 50th original)
            let sample: Vec<usize> = (1..n).step_by(25).take(queries).collect();
            let mut work: Vec<(Vec<Vec<u32>>, baton_signal::deep::Candidate)> = Vec::new();
            for &t in &sample {
                let q = db.deep_prints(lib.ids[t]).unwrap().unwrap();
                let len = lib.prints[t].len();
                for c in lib.candidates(&q, |u| u != t && lib.prints[u].len() >= len) {
                    work.push((q.clone(), c));
                }
            }
            let t = Instant::now();
            let after: usize = work
                .iter()
                .filter(|(q, c)| verify_candidate(q, c, &lib.prints[c.track]).is_some_and(|m| m.is_match()))
                .count();
            let after_ms = t.elapsed().as_secs_f64() * 1e3 / work.len().max(1) as f64;
            let t = Instant::now();
            let before: usize = work
                .iter()
                .filter(|(q, c)| verify(q, &speeds_around(c.speed), &lib.prints[c.track]).is_some_and(|m| m.is_match()))
                .count();
            let before_ms = t.elapsed().as_secs_f64() * 1e3 / work.len().max(1) as f64;
            println!(
                "verification on {} candidates of {} queries (1 thread): before {before_ms:.2} ms/candidate ({before} matches), after {after_ms:.2} ms/candidate ({after} matches)",
                work.len(),
                sample.len()
            );
            // 3. best-matches: the plugins' call, with the 120 s prefix print of a library track
            let matcher = baton_fp::service::Matcher::new(db_path);
            // the first call builds both indexes (once per library change): timed apart
            let t0 = Instant::now();
            let warm = db.fingerprint_by_id(lib.ids[0]).unwrap().unwrap();
            matcher.best_matches(&warm, 0.85, 10, |_| true, || false).expect("best_matches");
            println!(
                "best-matches first call (builds the prefix and deep indexes): {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            let mut ts = Vec::new();
            let mut hits = 0;
            for &t in &sample {
                let fp = db.fingerprint_by_id(lib.ids[t]).unwrap().unwrap();
                let t0 = Instant::now();
                let m = matcher.best_matches(&fp, 0.85, 10, |_| true, || false).expect("best_matches");
                ts.push(t0.elapsed().as_secs_f64() * 1e3);
                hits += m.len();
            }
            ts.sort_by(|a, b| a.total_cmp(b));
            let p = |q: f64| ts[((ts.len() as f64 - 1.0) * q).round() as usize];
            println!(
                "best-matches (deep library, 120 s query prints): {} calls, median {:.1} ms, p99 {:.1} ms, max {:.1} ms, {hits} matches",
                ts.len(),
                p(0.5),
                p(0.99),
                p(1.0)
            );
        }
        "fpcalc-all-pairs" => {
            // fpcalc-all-pairs FILE…: `fpcalc -raw -length 0` (whole tracks) of every file, then
            // every pair compared with the default-mode rule (every offset, contrast); prints
            // the matching pairs as TSV `a  b  contrast  score` (the baseline deep mode is measured against).
            let t = Instant::now();
            let prints: Vec<(PathBuf, Vec<u32>)> = {
                use rayon::prelude::*;
                rest.par_iter()
                    .with_max_len(1)
                    .filter_map(|p| {
                        let out = Command::new("fpcalc").args(["-raw", "-length", "0"]).arg(p).output().ok()?;
                        let s = String::from_utf8_lossy(&out.stdout);
                        let line = s.lines().find(|l| l.starts_with("FINGERPRINT="))?;
                        let fp: Vec<u32> = line["FINGERPRINT=".len()..]
                            .split(',')
                            .filter_map(|v| v.trim().parse::<i64>().ok().map(|x| x as u32))
                            .collect();
                        Some((p.clone(), fp))
                    })
                    .collect()
            };
            let decoded = t.elapsed().as_secs_f64();
            let mut n = 0;
            for i in 0..prints.len() {
                for j in i + 1..prints.len() {
                    if let Some(c) = baton_signal::compare::search(&prints[i].1, &prints[j].1)
                        && baton_signal::compare::is_match(&c, baton_fp::dedup::DEFAULT_MIN_SIMILARITY)
                    {
                        println!(
                            "{}\t{}\t{:.4}\t{:.4}",
                            prints[i].0.display(),
                            prints[j].0.display(),
                            c.contrast,
                            c.score
                        );
                        n += 1;
                    }
                }
            }
            eprintln!(
                "fpcalc -length 0: {} of {} files in {decoded:.1} s ({:.2} files/s, 2 processes); {n} matching pairs; all pairs in {:.1} s",
                prints.len(),
                rest.len(),
                prints.len() as f64 / decoded,
                t.elapsed().as_secs_f64() - decoded
            );
        }
        _ => {
            eprintln!("usage: fp-bench agree|stage|files|gen-db|group|pairs|fpcalc-all-pairs …");
            std::process::exit(2);
        }
    }
}
