//! `baton fp …`: the fingerprint commands (scan, print, compare, match, coverage, dedup, undo) over the
//! `baton-fp` core. Errors become `anyhow` here; the exit code is returned to `main`.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use baton_fp::dedup::{DedupOptions, KeeperRule};
use baton_fp::quarantine::Placement;
use baton_fp::scan::{Progress, ScanOptions};
use baton_fp::worker::Workers;

use baton_cli::{Ctx, say};

#[derive(clap::Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum FpCommand {
    /// Fingerprint every audio file under the folders into the state database (incremental:
    /// unchanged files are skipped; a killed scan resumes).
    Scan {
        /// Folders (or files) to scan.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Decoding worker processes (default: one per CPU).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Try again the files whose last scan failed, even if they have not changed since.
        #[arg(long)]
        retry_errors: bool,
        /// Deep mode: also decode whole tracks and store prints at 7 speeds (0.97-1.03), so that
        /// `dedup` finds clips, radio edits, tempo and turntable changes. Unchanged files without
        /// deep prints are decoded again. Default: `[fp] deep` in baton.toml.
        #[arg(long)]
        deep: bool,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print one file's fingerprint, like fpcalc.
    Print {
        file: PathBuf,
        /// Raw fingerprint (comma-separated integers) instead of the compressed form.
        #[arg(long)]
        raw: bool,
        /// JSON: {"file","duration","fingerprint":[u32…],"compressed"}.
        #[arg(long)]
        json: bool,
    },
    /// Compare two files: similarity score (1 - bit error rate) and best offset.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Deep mode: decode both whole tracks and search speeds, windows and lines (clips,
        /// radio edits, tempo and turntable changes); adds `match` and `evidence` to the JSON.
        #[arg(long)]
        deep: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The library files (from `scan`) that sound like FILE, best first: what plugins get from
    /// `fingerprint.best-matches`. Exits 1 when nothing matches.
    Match {
        file: PathBuf,
        /// Minimum similarity in 0..1.
        #[arg(long, default_value_t = baton_fp::dedup::DEFAULT_MIN_SIMILARITY)]
        min_similarity: f64,
        /// Most matches to print.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// JSON: {"file", "matches": [{"path", "score", "offset_seconds", "duration", "tags",
        /// "method", "contrast", "speed"}]}. When the library has deep prints (`scan --deep`),
        /// FILE is decoded whole and deep matches (`"method": "deep"`) follow the prefix ones.
        #[arg(long)]
        json: bool,
    },
    /// Share of audio files with a fingerprint; exits 1 below the threshold.
    Coverage {
        /// Required share in 0..1.
        #[arg(long, default_value_t = 0.8)]
        threshold: f64,
        #[arg(long)]
        json: bool,
    },
    /// Find duplicate groups (dry run unless --execute).
    Dedup {
        /// Minimum similarity (1 - bit error rate at the best offset) for two files to be the same
        /// recording, in 0..1.
        #[arg(long, default_value_t = baton_fp::dedup::DEFAULT_MIN_SIMILARITY)]
        min_similarity: f64,
        /// Keeper rule: comma-separated criteria tried in order, from lossless, bitrate, duration,
        /// tags (prefix with '-' to prefer the opposite). For lossless files "bitrate" is the
        /// PCM-equivalent rate (sample rate x channels x 16). Ties go to the shorter, then the
        /// smaller path.
        #[arg(long, default_value = "lossless,bitrate,duration,tags")]
        keep: String,
        /// Move the non-keepers into the quarantine folder (with a journal; `baton fp undo`
        /// restores them). Nothing is ever deleted.
        #[arg(long)]
        execute: bool,
        /// Quarantine folder. Default: `.baton-quarantine/` in the scanned folder that holds each
        /// file (the library's own file system; scans skip it), else <home>/quarantine.
        #[arg(long)]
        quarantine: Option<PathBuf>,
        /// Require the deep pass (files scanned with `scan --deep`); without this flag it runs
        /// whenever deep prints exist.
        #[arg(long)]
        deep: bool,
        #[arg(long)]
        json: bool,
    },
    /// Restore what the last `dedup --execute` moved.
    Undo {
        #[arg(long)]
        json: bool,
    },
}

fn progress_bar(enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files  {per_sec}  ETA {eta}  {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    Some(pb)
}

/// `[fp]` of this home's `baton.toml`.
fn fp_settings(ctx: &Ctx) -> anyhow::Result<baton_host_fp::FpSettings> {
    let cfg = ctx.config()?;
    Ok(baton_cli::section(&cfg, baton_host_fp::FpSettings::SECTION)?)
}

/// Decoding workers for this command: `n` of them (0: one per CPU), with `[fp]`'s limit.
fn workers(ctx: &Ctx, n: usize) -> anyhow::Result<Workers> {
    let mut cfg = crate::wiring::fp_workers(&fp_settings(ctx)?);
    if n > 0 {
        cfg.workers = n;
    }
    Ok(Workers::new(cfg))
}

/// Fingerprints one file in a worker.
fn fingerprint(workers: &Workers, file: &Path) -> anyhow::Result<baton_signal::FileFingerprint> {
    Ok(workers.fingerprint(baton_fp::worker::open_regular(file)?, file, None)?)
}

pub fn run(cmd: FpCommand, ctx: &Ctx) -> anyhow::Result<i32> {
    match cmd {
        FpCommand::Scan { dirs, threads, retry_errors, deep, json } => {
            scan(ctx, dirs, threads, retry_errors, deep, json)
        }
        FpCommand::Print { file, raw, json } => print(ctx, file, raw, json),
        FpCommand::Compare { a, b, deep: true, json } => compare_deep(ctx, a, b, json),
        FpCommand::Compare { a, b, deep: false, json } => compare(ctx, a, b, json),
        FpCommand::Match { file, min_similarity, limit, json } => find_matches(ctx, file, min_similarity, limit, json),
        FpCommand::Coverage { threshold, json } => coverage(ctx, threshold, json),
        FpCommand::Dedup { min_similarity, keep, execute, quarantine, deep, json } => {
            dedup(ctx, min_similarity, keep, execute, quarantine, deep, json)
        }
        FpCommand::Undo { json } => undo(ctx, json),
    }
}

/// `fp scan`: every audio file under `dirs` fingerprinted into the library (incremental; a killed scan resumes).
fn scan(
    ctx: &Ctx,
    dirs: Vec<PathBuf>,
    threads: usize,
    retry_errors: bool,
    deep: bool,
    json: bool,
) -> anyhow::Result<i32> {
    let deep = deep || fp_settings(ctx)?.deep;
    for d in &dirs {
        if !d.exists() {
            anyhow::bail!("{}: no such folder (pass the folder that holds your music)", d.display());
        }
    }
    let pb = progress_bar(std::io::stderr().is_terminal());
    let cb = |p: &Progress| {
        if let Some(pb) = &pb {
            pb.set_length(p.total);
            pb.set_position(p.done);
            pb.set_message(p.current.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
        }
    };
    let pool = workers(ctx, threads)?;
    let summary =
        baton_fp::scan::scan(&ctx.state, &dirs, &pool, ScanOptions { progress: Some(&cb), retry_errors, deep })
            .with_context(|| format!("scan into {}", ctx.state.display()))?;
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    if json {
        say!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for e in &summary.errors {
            eprintln!("error: {}", e.error);
        }
        say!(
            "found {} audio files: {} skipped (unchanged), {} scanned ({} fingerprinted{}, {} failed), {} forgotten; {:.1} s, {:.1} files/s",
            summary.found,
            summary.skipped,
            summary.scanned,
            summary.fingerprinted,
            if summary.deep { " with deep prints" } else { "" },
            summary.failed,
            summary.forgotten,
            summary.seconds,
            summary.files_per_second
        );
    }
    Ok(0)
}

/// `fp print`: one file's fingerprint.
fn print(ctx: &Ctx, file: PathBuf, raw: bool, json: bool) -> anyhow::Result<i32> {
    let fp = fingerprint(&workers(ctx, 1)?, &file)?;
    let abs = std::path::absolute(&file).unwrap_or(file.clone());
    if json {
        let v = serde_json::json!({
            "file": abs,
            "duration": fp.duration,
            "fingerprint": fp.fingerprint,
            "compressed": fp.compressed(),
            "codec": fp.info.codec,
            "sample_rate": fp.info.sample_rate,
            "bitrate_kbps": fp.info.bitrate_kbps,
            "lossless": fp.info.lossless,
            "tags": fp.tags,
        });
        say!("{}", serde_json::to_string(&v)?);
    } else {
        say!("FILE={}", file.display());
        say!("DURATION={}", fp.duration as u64);
        if raw {
            let s: Vec<String> = fp.fingerprint.iter().map(|v| v.to_string()).collect();
            say!("FINGERPRINT={}", s.join(","));
        } else {
            say!("FINGERPRINT={}", fp.compressed());
        }
    }
    Ok(0)
}

/// `fp compare --deep`: two files compared at every speed, in windows.
fn compare_deep(ctx: &Ctx, a: PathBuf, b: PathBuf, json: bool) -> anyhow::Result<i32> {
    let pool = workers(ctx, 2)?;
    let deep_of = |f: &Path| -> anyhow::Result<Vec<Vec<u32>>> {
        let file = baton_fp::worker::open_regular(f)?;
        let (_, prints) = pool.scan_file(file, f, None, true).map_err(|(e, _)| e)?;
        prints.with_context(|| format!("{}: no deep prints", f.display()))
    };
    let (da, db) = (deep_of(&a)?, deep_of(&b)?);
    let unit = baton_signal::deep::UNIT;
    // the shorter file is the query
    let query_is_b = db[unit].len() <= da[unit].len();
    let (q, r) = if query_is_b { (&db, &da) } else { (&da, &db) };
    let all: Vec<usize> = (0..baton_signal::deep::SPEEDS.len()).collect();
    let m = baton_signal::deep::verify(q, &all, &r[unit])
        .with_context(|| "tracks too short to compare in deep mode (under 10 s)")?;
    let c = m.comparison(query_is_b);
    if json {
        let mut v = serde_json::to_value(c)?;
        v["match"] = serde_json::Value::Bool(m.is_match());
        say!("{}", serde_json::to_string(&v)?);
    } else {
        say!(
            "score={:.4} (contrast score; threshold {:.2}: {})",
            c.contrast,
            baton_signal::deep::threshold(m.query_items),
            if m.is_match() { "same recording" } else { "different" }
        );
        say!("offset={} ({:+.2} s)", c.offset, c.offset_seconds);
        say!("speed={:.4}", c.speed);
        say!("windows={} inliers={} lines={} similarity={:.4}", m.windows, m.inliers, m.lines, c.score);
    }
    Ok(0)
}

/// `fp compare`: two files' similarity.
fn compare(ctx: &Ctx, a: PathBuf, b: PathBuf, json: bool) -> anyhow::Result<i32> {
    let pool = workers(ctx, 1)?;
    let (fa, fb) = (fingerprint(&pool, &a)?, fingerprint(&pool, &b)?);
    let c = baton_signal::compare::search(&fa.fingerprint, &fb.fingerprint)
        .with_context(|| "fingerprints too short to compare")?;
    if json {
        say!("{}", serde_json::to_string(&c)?);
    } else {
        say!("score={:.4}", c.score);
        say!("offset={} ({:+.2} s)", c.offset, c.offset_seconds);
        say!("overlap={}", c.overlap);
        say!(
            "contrast={:.4} ({})",
            c.contrast,
            if baton_signal::compare::is_match(&c, baton_fp::dedup::DEFAULT_MIN_SIMILARITY) {
                "same recording"
            } else {
                "different"
            }
        );
    }
    Ok(0)
}

/// `fp match`: the library's files most like one file.
fn find_matches(ctx: &Ctx, file: PathBuf, min_similarity: f64, limit: usize, json: bool) -> anyhow::Result<i32> {
    if !(0.0..=1.0).contains(&min_similarity) {
        anyhow::bail!("--min-similarity {min_similarity}: must be between 0 and 1 (e.g. 0.85)");
    }
    let pool = workers(ctx, 1)?;
    let matcher = baton_fp::service::Matcher::new(&ctx.state);
    let has_deep = baton_fp::db::Db::open(&ctx.state)?.has_deep()?;
    // with deep prints in the library, the query is decoded whole once and matched both ways
    let (fp, prints) = if has_deep {
        let (fp, prints) =
            pool.scan_file(baton_fp::worker::open_regular(&file)?, &file, None, true).map_err(|(e, _)| e)?;
        (fp, prints)
    } else {
        (fingerprint(&pool, &file)?, None)
    };
    // the deep pass below uses the whole file, not the stretched prefix best_matches would
    let mut found = matcher.prefix_matches(&fp.fingerprint, min_similarity, limit, |_| true, || false)?;
    if let Some(prints) = prints {
        // a file the prefix method matched keeps its prefix comparison
        for m in matcher.deep_matches(&prints, limit, |_| true, || false)? {
            if !found.iter().any(|f| f.path == m.path) {
                found.push(m);
            }
        }
        found.truncate(limit);
    }
    if json {
        let abs = std::path::absolute(&file).unwrap_or(file.clone());
        say!("{}", serde_json::to_string(&serde_json::json!({ "file": abs, "matches": found }))?);
    } else if found.is_empty() {
        say!(
            "no library file matches {} (min similarity {min_similarity}; scanned with `baton fp scan`?)",
            file.display()
        );
    } else {
        for m in &found {
            say!("{:.4}  {:+7.2} s  {}", m.score, m.offset_seconds, m.path.display());
        }
    }
    Ok(if found.is_empty() { 1 } else { 0 })
}

/// `fp coverage`: how much of the library is fingerprinted.
fn coverage(ctx: &Ctx, threshold: f64, json: bool) -> anyhow::Result<i32> {
    if !(0.0..=1.0).contains(&threshold) {
        anyhow::bail!("--threshold {threshold}: must be between 0 and 1 (e.g. 0.8)");
    }
    let c = baton_fp::scan::coverage(&ctx.state, threshold)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        for e in &c.errors {
            say!("error: {}", e.error);
        }
        say!(
            "coverage {:.1}%: {} of {} audio files fingerprinted, {} failed (threshold {:.1}%: {})",
            c.coverage * 100.0,
            c.fingerprinted,
            c.files,
            c.failed,
            threshold * 100.0,
            if c.ok { "ok" } else { "BELOW" }
        );
    }
    Ok(if c.ok { 0 } else { 1 })
}

/// `fp dedup`: duplicate groups, their keepers, and with `--execute` the others moved aside (journaled).
fn dedup(
    ctx: &Ctx,
    min_similarity: f64,
    keep: String,
    execute: bool,
    quarantine: Option<PathBuf>,
    deep: bool,
    json: bool,
) -> anyhow::Result<i32> {
    if !(0.0..=1.0).contains(&min_similarity) {
        anyhow::bail!(
            "--min-similarity {min_similarity}: must be between 0 and 1 (default {})",
            baton_fp::dedup::DEFAULT_MIN_SIMILARITY
        );
    }
    let keeper: KeeperRule =
        keep.parse().map_err(|e: baton_fp::dedup::KeeperRuleError| anyhow::anyhow!("--keep {keep}: {e}"))?;
    let opts = DedupOptions { min_similarity, keeper, ..Default::default() };
    let report = baton_fp::dedup::find_groups(&ctx.state, &opts)?;
    if deep && report.deep.is_none() {
        anyhow::bail!(
            "dedup --deep: no file in {} has deep prints; run `baton fp scan --deep FOLDER` first (or set `deep = true` under [fp] in baton.toml)",
            ctx.state.display()
        );
    }
    let moved = if execute {
        let absolute = |d: PathBuf| std::path::absolute(&d).unwrap_or(d);
        let placement = match quarantine {
            Some(d) => Placement::Dir(absolute(d)),
            None => Placement::Library { fallback: absolute(ctx.home.join("quarantine")) },
        };
        Some(baton_fp::quarantine::execute(&ctx.state, &report.groups, &placement)?)
    } else {
        None
    };
    if json {
        let groups: Vec<_> = report
            .groups
            .iter()
            .map(|g| serde_json::json!({"keeper": g.keeper.path, "duplicates": g.duplicates.iter().map(|d| &d.path).collect::<Vec<_>>(), "score": g.score, "pairs": g.pairs}))
            .collect();
        let mut v = serde_json::json!({"groups": groups, "candidates": report.candidates, "verified_pairs": report.verified_pairs, "seconds": report.seconds});
        if let Some(d) = &report.deep {
            v["deep"] = serde_json::to_value(d)?;
        }
        if let Some(m) = &moved {
            v["executed"] = serde_json::to_value(m)?;
        }
        say!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for g in &report.groups {
            say!("keep   {}", g.keeper.path.display());
            for d in &g.duplicates {
                say!("  dup  {}  (score {:.3}, offset {:+.1} s)", d.path.display(), d.score, d.offset_seconds);
            }
            for p in g.pairs.iter().filter(|p| p.cmp.method == baton_signal::deep::METHOD_DEEP) {
                say!(
                    "  deep {} ~ {}: contrast score {:.3}, speed {:.3}, offset {:+.1} s",
                    p.a.file_name().unwrap_or_default().to_string_lossy(),
                    p.b.file_name().unwrap_or_default().to_string_lossy(),
                    p.cmp.contrast,
                    p.cmp.speed,
                    p.cmp.offset_seconds
                );
            }
        }
        let dups: usize = report.groups.iter().map(|g| g.duplicates.len()).sum();
        say!(
            "{} duplicate groups, {} duplicates ({} candidate pairs checked)",
            report.groups.len(),
            dups,
            report.candidates
        );
        if let Some(m) = &moved {
            for (path, why) in &m.failed {
                say!("not moved: {}: {why}", path.display());
            }
        }
        match &moved {
            Some(m) => {
                let dirs: Vec<String> = m.quarantine_dirs.iter().map(|d| d.display().to_string()).collect();
                say!(
                    "moved {} files into {}; `baton fp undo` restores them",
                    m.moved.len(),
                    if dirs.is_empty() { "the quarantine".into() } else { dirs.join(", ") }
                )
            }
            None if dups > 0 => {
                say!("dry run: nothing moved; add --execute to move the duplicates into the quarantine")
            }
            None => {}
        }
    }
    Ok(0)
}

/// `fp undo`: the last dedup's moves put back.
fn undo(ctx: &Ctx, json: bool) -> anyhow::Result<i32> {
    let r = baton_fp::quarantine::undo(&ctx.state)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        for c in &r.conflicts {
            say!(
                "conflict: {} exists again; its quarantined copy stays at {} (move it back by hand if you want it)",
                c.original.display(),
                c.quarantined.display()
            );
        }
        for m in &r.missing {
            say!("missing: {} is no longer in the quarantine", m.display());
        }
        for (m, why) in &r.failed {
            say!("not restored: {}: {why}", m.display());
        }
        say!(
            "batch {}: restored {} files, {} conflicts, {} missing, {} failed",
            r.batch_id,
            r.restored.len(),
            r.conflicts.len(),
            r.missing.len(),
            r.failed.len()
        );
    }
    Ok(if r.conflicts.is_empty() && r.missing.is_empty() && r.failed.is_empty() { 0 } else { 1 })
}
