//! The handoffs the user's agents already write, seen from the CLI: the per-agent tracking
//! `baton status` shows (open, taken, answered, stale, unread, unreadable), baton's own
//! rejections (counts and recent), `baton show FILE` for a handoff that never parsed,
//! `baton adopt PATH` (a report that changes nothing) and `baton init --handoffs PATH`
//! (an existing tree used where it is, nothing copied).
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use baton_home::tree::{self, Report};
use baton_home::{Config, Paths};

use crate::Ctx;
use crate::text::esc;

/// At most this many rejections are listed as recent (all are counted).
const RECENT_REJECTIONS: usize = 20;

fn esc_owned(s: &str) -> String {
    esc(s).into_owned()
}

/// The tree under the configured handoffs root, read (filed files' readings kept in the
/// user's cache between runs).
pub fn scan(paths: &Paths, cfg: &Config) -> Report {
    tree::scan(&paths.handoffs, &cfg.agent, cfg.handoffs.stale_after, cfg.max_file_bytes, Some(&paths.cache()))
}

/// Rejections in baton's own inbox: counts per code and the most recent, each with its file,
/// reason and where its RETURN went. The dashboard's rejected list reads the same records
/// through the same function, so the two totals agree.
pub fn rejections(paths: &Paths, cfg: &Config) -> Value {
    baton_dashboard::rejections::summary(paths, &cfg.agent, RECENT_REJECTIONS)
}

/// Files in baton's own `01_inbox/` that baton will never take (not `.json`, dotfiles, editor
/// temp files), each with the reason: said, not skipped in silence. A Markdown trigger is
/// told to use `baton send`.
pub fn ignored_in_inbox(paths: &Paths, cfg: &Config) -> Vec<Value> {
    use std::os::unix::ffi::OsStrExt;
    let mut out: Vec<Value> = std::fs::read_dir(paths.inbox(&cfg.agent))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| baton_handoff::names::classify(e.file_name().as_bytes()) == baton_handoff::names::Entry::Ignored)
        .map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let reason = if baton_handoff::dialect::is_markdown(&file) {
                "a Markdown trigger: baton runs JSON handoffs only (`baton send --to AGENT --title T --body @FILE` hands it to an agent)".to_string()
            } else {
                baton_handoff::dialect::unreadable_by_name(&file).unwrap_or_else(|| "an editor's temporary or backup file".into())
            };
            json!({"file": file, "reason": reason})
        })
        .collect();
    out.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
    out
}

/// The part of `baton status` about the tree and rejections, as text.
pub fn status_text(report: &Report, rejected: &Value, limit: Option<usize>) -> String {
    let mut s = report.to_text(&esc_owned, limit);
    let total = rejected["total"].as_u64().unwrap_or(0);
    s.push_str(&format!("\nrejected by baton: {total}"));
    if let Some(counts) = rejected["counts"].as_object().filter(|c| !c.is_empty()) {
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s.push('\n');
    for r in rejected["recent"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {}  {}  {}: {}{}\n",
            r["at"].as_str().unwrap_or("?"),
            esc(r["file"].as_str().unwrap_or("?")),
            r["code"].as_str().unwrap_or("?"),
            esc(r["message"].as_str().unwrap_or("")),
            r["return"].as_str().map(|n| format!(" (RETURN {})", esc(n))).unwrap_or_else(|| " (no RETURN)".into())
        ));
    }
    s
}

/// `baton show NAME` for a name that is no id in the ledger: a file baton filed in
/// `03_failed/` (its error record and the events of its claim), or a file in another agent's
/// folder (how baton reads it). `Ok(None)` when there is no such file either.
pub fn show_file(ctx: &Ctx, name: &str, as_json: bool) -> Result<Option<i32>> {
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let base = Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or(name);
    let records = baton_dashboard::rejections::failed_records(&paths, &cfg.agent);
    let found = records.iter().find(|r| {
        r.filed_as == base || r.record["file"].as_str() == Some(base) || format!("{}.error.json", r.filed_as) == base
    });
    if let Some(baton_dashboard::rejections::Record { filed_as: filed, record }) = found {
        let events = match (record["claim"].as_str(), ctx.connect()) {
            (Some(claim), Ok(l)) => l.events(claim).unwrap_or_default(),
            _ => Vec::new(),
        };
        let path = paths.failed(&cfg.agent).join(filed);
        if as_json {
            println!("{}", serde_json::to_string_pretty(&json!({"file": path, "error": record, "events": events}))?);
            return Ok(Some(0));
        }
        println!("{}  (never ran)", esc(&path.to_string_lossy()));
        println!("  {}: {}", record["code"].as_str().unwrap_or("?"), esc(record["message"].as_str().unwrap_or("")));
        match record["return"].as_str() {
            Some(r) => println!("  RETURN: {}", esc(r)),
            None => println!("  no RETURN was written"),
        }
        if let Some(at) = record["at"].as_str() {
            println!("  filed at {at}");
        }
        for e in &events {
            println!("  {}  {:<16} {}", e.at, e.event, esc(&e.detail.to_string()));
        }
        return Ok(Some(0));
    }
    let report = scan(&paths, &cfg);
    let hits: Vec<Value> = (0..report.entries.len())
        .filter(|&i| report.entries[i].file == base)
        .map(|i| {
            let mut v = report.entry_json(i);
            let a = &report.agents[report.entries[i].agent];
            v["agent"] = json!(a.name);
            v["folder"] = json!(a.rel);
            v
        })
        .collect();
    if hits.is_empty() {
        return Ok(None);
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&json!({"files": hits}))?);
    } else {
        for h in &hits {
            println!("{}  ({})", esc(h["path"].as_str().unwrap_or(base)), h["agent"].as_str().unwrap_or("?"));
            for k in
                ["state", "reason", "kind", "dialect", "id", "from", "to", "title", "created_at", "age", "linked_by"]
            {
                if let Some(v) = h.get(k).filter(|v| !v.is_null()) {
                    println!(
                        "  {k}: {}",
                        esc(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()).as_str())
                    );
                }
            }
            for k in ["answered_by", "answers"] {
                if let Some(v) = h.get(k) {
                    println!(
                        "  {k}: {}/{}/{}",
                        esc(v["folder"].as_str().unwrap_or("?")),
                        v["place"].as_str().unwrap_or("?"),
                        esc(v["file"].as_str().unwrap_or("?"))
                    );
                }
            }
        }
    }
    Ok(Some(0))
}

/// Refuses a tree that holds baton's state, or lies inside the state's folder: baton's own
/// files must never be read as handoffs, nor the handoffs synced with the state.
fn check_tree(ctx: &Ctx, path: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}: no such folder", path.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a folder; name the folder that holds the agent folders", path.display());
    }
    let tree = path.canonicalize().with_context(|| format!("resolving {}", path.display()))?;
    let state_dir = ctx.state.parent().map(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()));
    if let Some(sd) = &state_dir {
        if sd.starts_with(&tree) {
            bail!(
                "refusing {}: it holds baton's state folder {} (the state must stay outside a handoffs tree; move the tree or pass --state elsewhere)",
                tree.display(),
                sd.display()
            );
        }
        if tree.starts_with(sd) {
            bail!(
                "refusing {}: it lies inside baton's state folder {}; keep handoffs out of it",
                tree.display(),
                sd.display()
            );
        }
    }
    for held in ["state/baton.sqlite", "baton.sqlite"] {
        if tree.join(held).exists() {
            bail!(
                "refusing {}: it holds a baton state ({held}); a handoffs tree holds agent folders only",
                tree.display()
            );
        }
    }
    Ok(tree)
}

/// `baton adopt PATH`: what baton understands in an existing tree, changing nothing (no file
/// written, moved or created, and no state opened).
pub fn adopt(ctx: &Ctx, path: &Path, as_json: bool) -> Result<i32> {
    let tree = check_tree(ctx, path)?;
    let cfg = ctx.config().unwrap_or_default();
    // Nothing written, not even a cache: adopt changes nothing.
    let report = tree::scan(&tree, &cfg.agent, cfg.handoffs.stale_after, cfg.max_file_bytes, None);
    let own = tree.join(&cfg.agent);
    // Folders that look like mailboxes and that no layout reads: listed with the table that would.
    let boxes = crate::mailboxes::configured(&cfg).unwrap_or_default();
    let unmatched = baton_mailbox::detect::unmatched_in(&tree, &ctx.home, &boxes);
    let unreadable: Vec<Value> = (0..report.entries.len())
        .filter(|&i| report.entries[i].read.is_err())
        .map(|i| {
            let mut v = report.entry_json(i);
            v["agent"] = json!(report.agents[report.entries[i].agent].name);
            v
        })
        .collect();
    let out = json!({
        "root": tree,
        "agents": report.agents_json(),
        "handoffs": report.totals(),
        "unreadable": unreadable,
        "ambiguous": report.ambiguous.iter().map(|(n, f)| json!({"name": n, "folders": f})).collect::<Vec<_>>(),
        "never_touched": report.agents.iter().map(|a| a.rel.clone()).collect::<Vec<_>>(),
        "never_touched_why": "another agent's folder: baton reads it and never writes, moves or renames anything in it (RETURNs baton writes for an agent are new files in its 01_inbox/)",
        "baton_inbox": {"path": own.join("01_inbox"), "exists": own.join("01_inbox").is_dir()},
        "stale_after_secs": report.stale_after.as_secs(),
        "unmatched": crate::mailboxes::unmatched_json(&unmatched),
        "changed": false,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    print!("{}", report.to_text(&esc_owned, None));
    print!("{}", crate::mailboxes::unmatched_text(&unmatched));
    let by = &out["handoffs"]["by_dialect"];
    println!("\nhandoffs by dialect and state: {}", by);
    println!("unreadable files: {}", unreadable.len());
    println!(
        "never touched (read only): {}",
        report.agents.iter().map(|a| a.rel.as_str()).collect::<Vec<_>>().join(", ")
    );
    println!(
        "baton's own inbox would be {} ({}); nothing was changed. `baton init --handoffs {}` uses this tree in place.",
        esc(&own.join("01_inbox").to_string_lossy()),
        if own.join("01_inbox").is_dir() { "exists" } else { "created by init" },
        esc(&tree.to_string_lossy())
    );
    Ok(0)
}

/// `baton init --handoffs PATH`: the tree is checked, then named in baton.toml as the handoffs
/// root (absolute). Nothing in it is copied or changed; baton's own folder is created in it.
pub fn init_handoffs(ctx: &Ctx, path: &Path) -> Result<PathBuf> {
    let tree = check_tree(ctx, path)?;
    let toml = ctx.home.join("baton.toml");
    if toml.exists() {
        let cfg = ctx.config()?;
        let current = ctx.home.join(&cfg.handoffs.path);
        if current.canonicalize().ok().as_deref() != Some(tree.as_path()) {
            bail!(
                "{} names the handoffs root {}; set `handoffs = {:?}` there by hand (init never rewrites an existing baton.toml)",
                toml.display(),
                current.display(),
                tree.display()
            );
        }
        return Ok(tree);
    }
    baton_fs::ensure_dir(&ctx.home).with_context(|| format!("creating {}", ctx.home.display()))?;
    let quoted = serde_json::to_string(&tree.to_string_lossy())?;
    let text = baton_home::config::DEFAULT_TOML.replacen(
        "\nhandoffs = \"handoffs\"\n",
        &format!("\nhandoffs = {quoted}\n"),
        1,
    );
    std::fs::write(&toml, text).with_context(|| format!("writing {}", toml.display()))?;
    Ok(tree)
}
