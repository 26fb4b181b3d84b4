//! `baton migrate --from sqlite PATH --to postgres://…`: moves a SQLite state onto an empty
//! PostgreSQL server (the copy and its check are `baton_store::copy`). This edge refuses to
//! run while a `baton serve` of the home uses the state, creates the server's schema (the
//! ledger's and the catalog's migrations), and prints the per-table counts and ordered hashes.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_cli::Ctx;

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The state to copy: `sqlite PATH` (the SQLite file; it is read, never changed). The home
    /// (--home) is the one whose `serve` must be stopped.
    #[arg(long, num_args = 2, value_names = ["KIND", "PATH"], required = true)]
    from: Vec<String>,
    /// The PostgreSQL state to copy into: `postgres://user@host/db` (same rules as --state:
    /// no password in it; a server not on this machine needs `sslmode=verify-full`). It must
    /// hold no baton data yet.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Count the rows per table and check the target, writing nothing anywhere.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(args: MigrateArgs, ctx: &Ctx) -> Result<i32> {
    let (kind, source) = match args.from.as_slice() {
        [k, p] => (k.as_str(), PathBuf::from(p)),
        _ => bail!("--from takes two values: `--from sqlite PATH`"),
    };
    if kind != "sqlite" {
        bail!("--from {kind}: only `--from sqlite PATH` is supported (the source is a SQLite state file)");
    }
    if !source.is_file() {
        bail!(
            "--from sqlite {}: no such file; name the SQLite state (by default <home>/state/baton.sqlite)",
            source.display()
        );
    }
    let url = match baton_ledger::Location::parse(&args.to)? {
        baton_ledger::Location::Postgres(u) => u,
        baton_ledger::Location::Sqlite(_) => bail!("--to {}: name a PostgreSQL URL (postgres://user@host/db)", args.to),
    };
    refuse_while_served(ctx, &source)?;

    let report = if args.dry_run {
        baton_store::copy::dry_run(&source, &url)?
    } else {
        // The server's schema first: the same migrations `serve` would apply.
        let target = baton_ledger::Location::Postgres(url.clone());
        baton_ledger::Ledger::open_at(&target)
            .with_context(|| format!("creating the ledger's tables on {}", url.shown()))?;
        baton_catalog::Catalog::create_schema_at(&url)
            .with_context(|| format!("creating the catalog's tables on {}", url.shown()))?;
        let quiet = args.json;
        baton_store::copy::migrate(&source, &url, &mut |p| {
            if !quiet {
                eprintln!("baton: copying {}: {} of {} rows", p.table, p.done, p.total);
            }
        })?
    };

    let fp_files = fingerprints(&source);
    if args.json {
        let v = json!({
            "source": source.display().to_string(),
            "target": url.shown(),
            "dry_run": report.dry_run,
            "tables": report.tables.iter().map(|t| json!({
                "table": t.table, "rows": t.rows, "source_hash": t.source_hash, "target_hash": t.target_hash,
                "match": t.source_hash.is_some() && t.source_hash == t.target_hash,
            })).collect::<Vec<_>>(),
            "catalog_seq": report.catalog_seq,
            "not_copied": report.not_copied.iter().map(|(t, why)| json!({"table": t, "why": why})).collect::<Vec<_>>(),
            "fingerprinted_files": fp_files,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let width = report.tables.iter().map(|t| t.table.len()).max().unwrap_or(5);
    if report.dry_run {
        println!("dry run: would copy {} into {} (nothing written):", source.display(), url.shown());
    } else {
        println!(
            "copied {} into {}; each table's ordered hash (SHA-256) matches on both sides:",
            source.display(),
            url.shown()
        );
    }
    for t in &report.tables {
        match &t.target_hash {
            Some(h) => println!("  {:width$}  {:>9} rows  {h}", t.table, t.rows),
            None => println!("  {:width$}  {:>9} rows", t.table, t.rows),
        }
    }
    if let Some(seq) = report.catalog_seq {
        println!("catalog change log continues after {seq}");
    }
    if !report.not_copied.is_empty() {
        let names: Vec<&str> = report.not_copied.iter().map(|(t, _)| t.as_str()).collect();
        println!("not copied: {} ({})", names.join(", "), report.not_copied[0].1);
        if fp_files > 0 {
            let local = baton_ledger::Location::Postgres(url.clone()).local_file(&ctx.home);
            println!(
                "  with the PostgreSQL state this machine's fingerprint library is {}; to keep the {fp_files} files fingerprinted \
                 in {}, copy that file there (`cp {} {}`, baton serve stopped) or scan again (`baton fp scan`)",
                local.display(),
                source.display(),
                source.display(),
                local.display()
            );
        }
    }
    if !report.dry_run {
        println!(
            "next: use it with `--state '{}'` (or `state = \"…\"` in baton.toml); {} is left as it was",
            url.shown(),
            source.display()
        );
    }
    Ok(0)
}

/// How many files the source's fingerprint library holds (0 without one).
fn fingerprints(source: &Path) -> i64 {
    rusqlite_count(source).unwrap_or(0)
}

fn rusqlite_count(source: &Path) -> Option<i64> {
    let c = baton_ledger::rusqlite::Connection::open_with_flags(
        source,
        baton_ledger::rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    c.query_row("SELECT count(*) FROM fp_files", [], |r| r.get(0)).ok()
}

/// Refuses while a `baton serve` of this home runs on the SQLite state: each serve holds an
/// exclusive `flock` on `<handoffs>/<agent>/.claims/<instance>.lock` for its lifetime (see
/// `baton_pipeline::claims`), where `<instance>` starts with its process id. Also refuses while
/// a stopped serve's claimed files wait in its `.claims/<instance>/` folder: with the
/// PostgreSQL state nothing is claimed by renaming, so they would never be run.
fn refuse_while_served(ctx: &Ctx, source: &Path) -> Result<()> {
    let cfg = ctx.config().with_context(|| format!("reading {}", ctx.home.join("baton.toml").display()))?;
    let paths = baton_home::Paths::new(&ctx.home, source, &cfg);
    let root = paths.agent(&cfg.agent).join(".claims");
    let Ok(entries) = std::fs::read_dir(&root) else { return Ok(()) };
    let mut waiting = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(instance) = name.strip_suffix(".lock") {
            let Ok(file) = std::fs::File::open(&path) else { continue };
            if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
                let pid = instance.split('-').next().unwrap_or("?");
                bail!(
                    "a `baton serve` (process {pid}) is using this state: it holds {}. Stop it first (`baton service stop`, or \
                     `kill -TERM {pid}`), then run migrate again",
                    path.display()
                );
            }
        } else if path.is_dir() && std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some()) {
            waiting.push(path);
        }
    }
    if let Some(dir) = waiting.first() {
        bail!(
            "{} holds files a stopped `baton serve` claimed but did not finish; with the PostgreSQL state they would never run. \
             Finish them first with the SQLite state (`baton serve --once`), then run migrate again",
            dir.display()
        );
    }
    Ok(())
}
