//! Times `service::Matcher::best_matches` (what a plugin's `fingerprint.best-matches` costs) against a
//! library database, querying with fingerprints stored in it.
//!
//! `cargo run --release -p baton-fp --example best_matches -- DB [QUERIES]`
//! (make a database with `fp-bench gen-db DB N`).
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let db_path = PathBuf::from(args.next().ok_or("usage: best_matches DB [QUERIES]")?);
    let queries: i64 = args.next().map(|q| q.parse()).transpose()?.unwrap_or(20);
    let db = baton_fp::db::Db::open(&db_path)?;
    let (files, _, _) = db.counts()?;
    let matcher = baton_fp::service::Matcher::new(&db_path);
    let first = db.fingerprint_by_id(1)?.ok_or("the library is empty")?;
    let t = Instant::now();
    matcher.best_matches(&first, 0.85, 10, |_| true, || false)?;
    println!(
        "first call (opens the database, reads the library, builds the index): {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let mut times = Vec::new();
    let mut found = 0;
    for q in 0..queries {
        let id = 1 + (q * 7919) % files as i64;
        let Some(fp) = db.fingerprint_by_id(id)? else { continue };
        let t = Instant::now();
        let m = matcher.best_matches(&fp, 0.85, 10, |_| true, || false)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found += m.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "library {files} files, {} queries: median {:.1} ms, max {:.1} ms per best_matches call; {found} matches",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    Ok(())
}
