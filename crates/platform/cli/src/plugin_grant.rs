//! `baton plugin grant NAME KEY PATH [--writable]`: adds (or replaces) one folder grant in
//! `baton.toml` for the user, keeping the file's comments and layout (`toml_edit`). The edit
//! is checked exactly as `baton serve` would check the file (parse, overlap with baton's own
//! folders, nesting with the plugin's other grants and other plugins' writable ones) before
//! anything is written; the file is replaced atomically (a temp file renamed over it), the
//! previous version is kept as `baton.toml.bak`, and the edit is refused if the file changed
//! while it was being edited (someone saved it in an editor meanwhile).
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_home::{Config, Paths};

use crate::Ctx;

#[derive(clap::Args)]
pub struct GrantArgs {
    /// The plugin (`[plugins.NAME]`); it need not be installed yet.
    pub name: String,
    /// The logical folder name the plugin asks for (`baton plugin inspect NAME` lists them).
    pub key: String,
    /// The folder: absolute, `~/…` (your home), or relative to baton's home. Written as given.
    pub path: String,
    /// Let the plugin write there (`{ path = …, writable = true }`).
    #[arg(long)]
    pub writable: bool,
    /// Show the change to baton.toml as a diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The outcome as JSON: plugin, key, path, resolved, writable, exists, changed, replaced,
    /// backup and the diff.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: GrantArgs, ctx: &Ctx) -> Result<i32> {
    let file = ctx.home.join("baton.toml");
    let before = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let (after, replaced) =
        edit(&before, &args).with_context(|| format!("{}: cannot add the grant", file.display()))?;
    // The same checks as every load, plus the ones made when the plugin is loaded (nesting).
    // (The config errors name the file; the layout ones do not.)
    let refused = |e: String| anyhow::anyhow!("refused (the file is unchanged): {e}");
    let cfg = ctx.parse_config(&after).map_err(|e| refused(e.to_string()))?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    cfg.check_grants(&paths).map_err(|e| refused(e.to_string()))?;
    check_layout(&cfg, &paths, &args.name).map_err(|e| refused(format!("{}: {e}", file.display())))?;

    let resolved = baton_home::config::resolve_grant_path(&ctx.home, Path::new(&args.path));
    let changed = after != before;
    let diff = diff(&before, &after);
    // A baton.toml that is a symlink (a dotfiles repository) stays one: the file it points to
    // is the one replaced, its backup beside it.
    let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
    let backup = PathBuf::from(format!("{}.bak", real.display()));
    if changed && !args.dry_run {
        write_atomically(&real, &backup, &before, &after)?;
    }
    if args.json {
        let v = json!({
            "plugin": args.name, "key": args.key, "path": args.path, "resolved": resolved,
            "writable": args.writable, "exists": resolved.is_dir(), "file": file,
            "changed": changed, "dry_run": args.dry_run, "replaced": replaced,
            "backup": (changed && !args.dry_run).then_some(&backup), "diff": diff,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if args.dry_run {
        print!("{diff}");
        if !changed {
            println!("(no change: the grant is already there)");
        }
        return Ok(0);
    }
    if !changed {
        println!(
            "{}: [plugins.{}] already grants `{}` = {}; nothing written",
            file.display(),
            args.name,
            args.key,
            args.path
        );
        return Ok(0);
    }
    let access = if args.writable { "read-write" } else { "read-only" };
    let was = replaced.map(|r| format!(" (was {r})")).unwrap_or_default();
    println!(
        "granted `{}` to {} ({access}): {}{was}\n  wrote {} (previous version: {})",
        args.key,
        args.name,
        resolved.display(),
        file.display(),
        backup.display()
    );
    if !resolved.is_dir() {
        eprintln!(
            "warning: {} does not exist yet: {}'s tasks that need `{}` fail `grant_missing` until it does",
            resolved.display(),
            args.name,
            args.key
        );
    }
    Ok(0)
}

/// The file with the grant set; and the value it replaced, if the key was granted before.
fn edit(text: &str, args: &GrantArgs) -> Result<(String, Option<String>)> {
    use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};
    if args.name.is_empty() || args.key.is_empty() || args.path.is_empty() {
        bail!("NAME, KEY and PATH must not be empty");
    }
    let mut doc: DocumentMut = text.parse().context("not valid TOML (fix it first; nothing was written)")?;
    let plugins = doc.entry("plugins").or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let plugins = plugins.as_table_like_mut().context("`plugins` is not a table")?;
    let new_table = !plugins.contains_key(&args.name);
    let plugin = plugins.entry(&args.name).or_insert(Item::Table(Table::new()));
    let plugin = plugin.as_table_like_mut().with_context(|| format!("`plugins.{}` is not a table", args.name))?;
    let grants = plugin.entry("grants").or_insert(Item::Value(Value::InlineTable(InlineTable::new())));
    // An inline table is respaced after the edit; a `[plugins.NAME.grants]` table is not
    // (that would drop its comments).
    let inline = grants.is_inline_table();
    let grants =
        grants.as_table_like_mut().with_context(|| format!("`plugins.{}.grants` is not a table", args.name))?;
    let value: Value = if args.writable {
        let mut t = InlineTable::new();
        t.insert("path", Value::from(args.path.as_str()));
        t.insert("writable", Value::from(true));
        Value::InlineTable(t)
    } else {
        Value::from(args.path.as_str())
    };
    // Keep a replaced value's place and the comment after it; say what it was.
    let replaced = match grants.get_mut(&args.key) {
        Some(Item::Value(old)) => {
            let shown = old.clone().decorated("", "").to_string();
            let decor = old.decor().clone();
            let same = strip(old) == strip(&value);
            if !same {
                *old = value;
                *old.decor_mut() = decor;
            }
            Some(shown)
        }
        Some(_) => bail!("`plugins.{}.grants.{}` is a table: edit it by hand", args.name, args.key),
        None => {
            grants.insert(&args.key, Item::Value(value));
            None
        }
    };
    if inline {
        grants.fmt();
    }
    // A new table goes after the comments that end the file (those of the default file are
    // about the tables one adds), not above them.
    let trailing = doc.trailing().as_str().unwrap_or("").to_string();
    if new_table
        && !trailing.trim().is_empty()
        && let Some(t) = doc.get_mut("plugins").and_then(|p| p.get_mut(&args.name)).and_then(Item::as_table_mut)
    {
        t.decor_mut().set_prefix(format!("{}\n", trailing.trim_end()) + "\n");
        doc.set_trailing("");
    }
    Ok((doc.to_string(), replaced))
}

/// A value without its surrounding whitespace and comments, to compare two values.
fn strip(v: &toml_edit::Value) -> String {
    let mut v = v.clone();
    v.decor_mut().clear();
    if let toml_edit::Value::InlineTable(t) = &mut v {
        t.fmt();
    }
    v.to_string()
}

/// The change as a unified-style diff of the lines that differ (the edit is one hunk: common
/// leading and trailing lines are left out, with 2 lines of context).
fn diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    if head == a.len() && head == b.len() {
        return String::new();
    }
    let ctx_start = head.saturating_sub(2);
    let mut out = format!("--- baton.toml\n+++ baton.toml\n@@ -{} +{} @@\n", ctx_start + 1, ctx_start + 1);
    for l in &a[ctx_start..head] {
        out.push_str(&format!(" {l}\n"));
    }
    for l in &a[head..a.len() - tail] {
        out.push_str(&format!("-{l}\n"));
    }
    for l in &b[head..b.len() - tail] {
        out.push_str(&format!("+{l}\n"));
    }
    for l in a[a.len() - tail..].iter().take(2) {
        out.push_str(&format!(" {l}\n"));
    }
    out
}

/// The nesting rules checked when the plugin is loaded: its grants may not nest where one is
/// writable, nor sit inside another plugin's writable grant, nor overlap baton's folders.
fn check_layout(cfg: &Config, paths: &Paths, plugin: &str) -> Result<(), baton_runtime::grants::LayoutError> {
    let own = cfg.grants(&paths.home, plugin);
    baton_home::plugins::layout_among_others(cfg, paths, plugin, &own)?;
    // And no other plugin's grant may now sit inside one of this plugin's writable grants.
    let mine: Vec<(String, baton_runtime::Grant)> = own.iter().map(|g| (plugin.to_string(), g.clone())).collect();
    for name in cfg.plugins.keys().filter(|n| *n != plugin) {
        baton_runtime::grants::check_layout(name, &cfg.grants(&paths.home, name), &mine, &[])?;
    }
    Ok(())
}

/// Replaces `file` with `after`: written to a temp file beside it and synced, the previous
/// version kept as `backup`, and renamed over `file` only if `file` still holds `before`
/// (compared byte for byte right before the rename).
pub fn write_atomically(file: &Path, backup: &Path, before: &str, after: &str) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".baton.toml.grant-{}", std::process::id()));
    let bak_tmp = dir.join(format!(".baton.toml.bak-{}", std::process::id()));
    let write = |path: &Path, text: &str| -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        if let Ok(m) = std::fs::metadata(file) {
            f.set_permissions(m.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    let cleanup = || {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(&bak_tmp);
    };
    let result = (|| -> Result<()> {
        write(&tmp, after).with_context(|| format!("writing {}", tmp.display()))?;
        write(&bak_tmp, before).with_context(|| format!("writing {}", bak_tmp.display()))?;
        let now = std::fs::read(file).with_context(|| format!("reading {} again", file.display()))?;
        if now != before.as_bytes() {
            bail!(
                "{} changed while the grant was being added (saved in an editor?); it is left as it is: run the command again",
                file.display()
            );
        }
        std::fs::rename(&bak_tmp, backup).with_context(|| format!("keeping {}", backup.display()))?;
        std::fs::rename(&tmp, file).with_context(|| format!("replacing {}", file.display()))?;
        baton_fs::sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
        Ok(())
    })();
    if result.is_err() {
        cleanup();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changed_since_it_was_read_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("baton.toml");
        let bak = dir.path().join("baton.toml.bak");
        // Read as "agent = \"a\"", saved by an editor since.
        std::fs::write(&file, "agent = \"edited\"\n").unwrap();
        let e = write_atomically(&file, &bak, "agent = \"a\"\n", "agent = \"b\"\n").unwrap_err().to_string();
        assert!(e.contains("changed while") && e.contains("baton.toml"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "agent = \"edited\"\n");
        assert!(!bak.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp files left");
        // Unchanged: replaced, the old text kept as the backup.
        write_atomically(&file, &bak, "agent = \"edited\"\n", "agent = \"b\"\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "agent = \"b\"\n");
        assert_eq!(std::fs::read_to_string(&bak).unwrap(), "agent = \"edited\"\n");
    }

    #[test]
    fn edits_keep_comments_and_replace_in_place() {
        let args = |key: &str, path: &str, writable| GrantArgs {
            name: "p".into(),
            key: key.into(),
            path: path.into(),
            writable,
            dry_run: false,
            json: false,
        };
        let text = "# top\n[plugins.p.grants]\n# about a\na = \"x\" # trailing\n";
        let (out, old) = edit(text, &args("a", "y", true)).unwrap();
        assert_eq!(out, "# top\n[plugins.p.grants]\n# about a\na = { path = \"y\", writable = true } # trailing\n");
        assert_eq!(old.as_deref(), Some("\"x\""));
        let (out, old) = edit(text, &args("b", "z", false)).unwrap();
        assert_eq!(out, format!("{text}b = \"z\"\n"));
        assert_eq!(old, None);
        assert!(
            edit("[plugins.p]\ngrants = 3\n", &args("a", "x", false)).unwrap_err().to_string().contains("not a table")
        );
        // A new table comes after the comments that end the file.
        let (out, _) = edit("[plugins.q]\nx = 1\n\n# add [plugins.p] here\n", &args("a", "x", false)).unwrap();
        assert_eq!(out, "[plugins.q]\nx = 1\n\n# add [plugins.p] here\n\n[plugins.p]\ngrants = { a = \"x\" }\n");
    }
}
