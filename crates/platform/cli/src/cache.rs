//! `baton cache`: the compiled-component cache, shown and pruned. The cache lives outside the
//! home (`$XDG_CACHE_HOME/baton`, shared by every home of the user, so a new home never
//! compiles the first-party plugins again) and holds compiled code only: each rebuild of a
//! plugin is a new component, and its compiled entry (tens of MB for a Python plugin) stays
//! until pruned. Deleting an entry costs one compile the next time that component loads.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde_json::json;

use baton_home::Paths;
use baton_runtime::cache::{self, Entry};

use crate::{Ctx, say};

#[derive(clap::Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum CacheCommand {
    /// The cache folder, its size, and each entry: the plugin of this home it belongs to (if
    /// any), its size, when it was last used, whether this build can load it.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Delete the entries this build can never load (another engine) and those no plugin of
    /// this home uses that were not used for `--unused-for` days. Other homes of this user
    /// share the cache: an entry one of them still uses is compiled again when it next loads.
    Prune {
        /// Days without use after which an entry no installed plugin of this home uses goes.
        #[arg(long, default_value_t = 14, value_name = "DAYS")]
        unused_for: u64,
        /// Also delete the entries of this home's installed plugins (they compile again at the
        /// next start).
        #[arg(long)]
        all: bool,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: CacheCommand, ctx: &Ctx) -> Result<i32> {
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let dir = paths.cache();
    let engine = baton_runtime::Runtime::compile_engine()?;
    let entries = cache::entries(&engine, &dir).with_context(|| format!("reading the cache {}", dir.display()))?;
    let installed = installed(&paths);
    match cmd {
        CacheCommand::Show { json } => show(&dir, &entries, &installed, json),
        CacheCommand::Prune { unused_for, all, dry_run, json } => {
            let cutoff = SystemTime::now() - Duration::from_secs(unused_for.saturating_mul(86_400));
            let doomed: Vec<&Entry> = entries
                .iter()
                .filter(|e| !e.this_engine || all || (!installed.contains_key(&e.sha256) && e.used < cutoff))
                .collect();
            prune(&dir, &doomed, entries.len(), dry_run, json)
        }
    }
}

/// The installed plugins of this home (the files the pipeline loads) by their component's sha256.
fn installed(paths: &Paths) -> BTreeMap<String, String> {
    baton_home::plugins::installed_files(paths)
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).ok()?;
            let name = path.file_stem()?.to_string_lossy().into_owned();
            Some((baton_home::plugins::sha256_hex(&bytes), name))
        })
        .collect()
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn age(t: SystemTime) -> String {
    let secs = SystemTime::now().duration_since(t).map_or(0, |d| d.as_secs());
    match secs {
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

fn show(dir: &Path, entries: &[Entry], installed: &BTreeMap<String, String>, as_json: bool) -> Result<i32> {
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    if as_json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                let mut v = json!(e);
                v["plugin"] = json!(installed.get(&e.sha256));
                v
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&json!({"dir": dir, "bytes": total, "entries": list}))?);
        return Ok(0);
    }
    say!("{}: {} entries, {}", dir.display(), entries.len(), mb(total));
    for e in entries.iter().rev() {
        let owner = installed.get(&e.sha256).map_or("-", String::as_str);
        let note = if e.this_engine { "" } else { "  (another engine: never loaded again)" };
        say!("  {:<12} {}  {:>9}  used {}{note}", owner, &e.sha256[..12.min(e.sha256.len())], mb(e.bytes), age(e.used));
    }
    if entries.iter().any(|e| !e.this_engine || !installed.contains_key(&e.sha256)) {
        say!("`baton cache prune --dry-run` lists what pruning would delete");
    }
    Ok(0)
}

fn prune(dir: &Path, doomed: &[&Entry], had: usize, dry_run: bool, as_json: bool) -> Result<i32> {
    let mut freed = 0;
    let mut failed = Vec::new();
    for e in doomed {
        if dry_run {
            freed += e.bytes;
            continue;
        }
        match cache::remove(e) {
            Ok(()) => freed += e.bytes,
            Err(err) => failed.push(format!("{}: {err}", e.path.display())),
        }
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    if as_json {
        let out = json!({"dir": dir, "dry_run": dry_run, "entries": doomed, "bytes": freed, "kept": had - doomed.len(), "failed": failed});
        say!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for e in doomed {
            say!("{verb} {} ({}, used {})", e.path.display(), mb(e.bytes), age(e.used));
        }
        say!("{verb} {} of {had} entries, {}", doomed.len(), mb(freed));
        for f in &failed {
            eprintln!("baton: not deleted: {f}");
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}
