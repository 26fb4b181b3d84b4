//! `baton plugin …`: install, list, inspect, remove. A thin edge over
//! `baton_home::plugins`; a running `baton serve` picks every change up by itself
//! (hot reload of the plugins folder).
use std::path::PathBuf;

use anyhow::{Context, Result};

use baton_home::plugins::{self, PluginReport};
use baton_home::{Config, Paths};
use baton_ledger::SharedLedger;
use baton_runtime::Runtime;

use crate::Ctx;
use crate::text::esc;

// `plugin grant` lives in a file of its own beside this one (declared here, not in main.rs).
#[path = "plugin_grant.rs"]
pub mod plugin_grant;

#[derive(clap::Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum PluginCommand {
    /// Check a component against the baton:plugin world, show what it wants, and install it
    /// as plugins/<name>.wasm (replacing an older version atomically).
    Install {
        /// The component: target/wasm32-wasip2/release/<crate>.wasm.
        path: PathBuf,
        /// Allow installing an older version over a newer one.
        #[arg(long)]
        force: bool,
        /// Replace an installed plugin with other bytes (the new component inherits its grants).
        #[arg(long)]
        yes: bool,
        /// After `plugin remove`, take over the catalog data the removed install of this name
        /// owned (without it, a new install is a new owner and cannot change that data).
        #[arg(long)]
        adopt_data: bool,
        #[arg(long)]
        json: bool,
    },
    /// The installed plugins.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One plugin: version, sha256, actions with their params schema, folders wanted vs granted.
    Inspect {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a plugin aside into plugins/.removed/ (never deleted).
    Remove { name: String },
    /// Pause a plugin: its TASKs are answered `plugin_paused` until it is resumed. A running
    /// `baton serve` holds it from its next pass.
    Pause { name: String },
    /// Lift a pause (by hand, or after repeated sandbox failures) and forget the failure streak.
    Resume { name: String },
    /// Write a new plugin project (Rust, Python or JavaScript) that builds with `./build.sh`
    /// and passes its own `./test.sh`. Needs no home.
    New(baton_scaffold::NewArgs),
    /// Grant a plugin a folder: adds `KEY = "PATH"` under [plugins.NAME] grants in baton.toml,
    /// keeping its comments; checked as `serve` checks it, written atomically, the previous
    /// file kept as baton.toml.bak. `--dry-run` shows the diff.
    Grant(plugin_grant::GrantArgs),
}

/// Whether a plugin command reads the home: every one does today. Exhaustive on purpose: a
/// new one (`plugin new` writes a project anywhere) must say whether it needs a home.
pub fn needs_home(cmd: &PluginCommand) -> bool {
    match cmd {
        PluginCommand::Install { .. }
        | PluginCommand::List { .. }
        | PluginCommand::Inspect { .. }
        | PluginCommand::Remove { .. }
        | PluginCommand::Pause { .. }
        | PluginCommand::Resume { .. }
        | PluginCommand::Grant(_) => true,
        // `plugin new` writes a scaffold anywhere: no home.
        PluginCommand::New(_) => false,
    }
}

/// `pause` and `resume` touch only the ledger: no runtime, no compile.
fn pause_or_resume(ctx: &Ctx, paths: &Paths, name: &str, pause: bool) -> Result<i32> {
    let installed = plugins::installed_files(paths).iter().any(|p| p.file_stem().is_some_and(|s| s == name));
    if !installed {
        anyhow::bail!("no plugin named {name:?} is installed in {} (`baton plugin list`)", paths.plugins.display());
    }
    let mut ledger = ctx.connect()?;
    let changed = if pause {
        baton_home::health::pause_by_hand(&mut ledger, name)?
    } else {
        baton_home::health::resume(&mut ledger, name)?
    };
    match (pause, changed) {
        (true, true) => {
            println!("paused {name}: its TASKs are answered `plugin_paused` until `baton plugin resume {name}`")
        }
        (true, false) => println!("{name} was already paused"),
        (false, true) => println!("resumed {name}"),
        (false, false) => println!("{name} was not paused"),
    }
    Ok(0)
}

pub fn run(cmd: PluginCommand, ctx: &Ctx) -> Result<i32> {
    // Before anything reads the home: a new plugin needs none.
    let cmd = match cmd {
        PluginCommand::New(args) => return baton_scaffold::run(args),
        // Edits baton.toml as text, and checks the result itself: the file as it is now may be
        // the one being fixed.
        PluginCommand::Grant(args) => return plugin_grant::run(args, ctx),
        cmd => cmd,
    };
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    cfg.check_grants(&paths)?;
    match &cmd {
        PluginCommand::Pause { name } => return pause_or_resume(ctx, &paths, name, true),
        PluginCommand::Resume { name } => return pause_or_resume(ctx, &paths, name, false),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let ledger: SharedLedger = ctx.ledger()?;
        let runtime = ctx.runtime(&cfg, &paths, ledger.clone())?;
        match cmd {
            PluginCommand::Install { path, force, yes, adopt_data, json } => {
                install(ctx, &runtime, &cfg, &paths, &path, plugins::InstallOptions { force, yes }, adopt_data, json)
                    .await
            }
            PluginCommand::List { json } => list(&runtime, &cfg, &paths, json).await,
            PluginCommand::Inspect { name, json } => {
                let r = plugins::inspect(&runtime, &cfg, &paths, &name).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    print_report(&r, &cfg);
                }
                Ok(0)
            }
            PluginCommand::Pause { .. }
            | PluginCommand::Resume { .. }
            | PluginCommand::New(_)
            | PluginCommand::Grant(_) => {
                unreachable!("handled above")
            }
            PluginCommand::Remove { name } => {
                let r = plugins::remove(&runtime, &cfg, &paths, &name).await?;
                println!(
                    "removed {} {} (sha256 {}); kept at {}",
                    r.name,
                    r.version,
                    short(&r.sha256),
                    r.moved_to.display()
                );
                Ok(0)
            }
        }
    })
}

#[allow(clippy::too_many_arguments)] // the command's own flags, passed on as they came
async fn install(
    ctx: &Ctx,
    runtime: &Runtime,
    cfg: &Config,
    paths: &Paths,
    path: &std::path::Path,
    opts: plugins::InstallOptions,
    adopt_data: bool,
    json: bool,
) -> Result<i32> {
    let mut r = plugins::install(runtime, cfg, paths, path, opts).await.context("plugin not installed")?;
    if adopt_data && let Some(identity) = &r.identity {
        // The catalog's data under this name becomes this install's (journaled, so the
        // previous owner can be put back by hand).
        let previous = ctx.plugins()?.adopt_data(ctx, &r.plugin.name, identity)?;
        plugins::journal_adoption(paths, &r.plugin.name, identity, previous.as_deref())?;
        r.note = None;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(0);
    }
    let p = &r.plugin;
    match (&r.previous, r.action) {
        (_, "unchanged") => println!("{} {} is already installed (same sha256)", p.name, esc(&p.version)),
        (Some(prev), action) => println!(
            "{action} {} {} → {} (sha256 {}); the old one is kept at {}",
            p.name,
            esc(&prev.version),
            esc(&p.version),
            short(&p.sha256),
            prev.kept_at.display()
        ),
        (None, _) => {
            println!("installed {} {} (sha256 {}) as {}", p.name, esc(&p.version), short(&p.sha256), p.file.display())
        }
    }
    println!("  grants   inherited from [plugins.{}] in baton.toml: {}", p.name, esc(&r.grants));
    if let Some(note) = &r.note {
        eprintln!("baton: note: {note}");
    }
    print_report(p, cfg);
    Ok(0)
}

async fn list(runtime: &Runtime, cfg: &Config, paths: &Paths, json: bool) -> Result<i32> {
    let all = plugins::list(runtime, cfg, paths).await;
    if json {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|r| match r {
                Ok(p) => serde_json::json!({
                    "name": p.name, "version": p.version, "sha256": p.sha256, "world": p.world,
                    "file": p.file, "actions": p.actions.iter().map(|a| &a.name).collect::<Vec<_>>(),
                    "description": p.description, "collections": p.collections,
                }),
                Err(e) => serde_json::json!({"error": e.to_string(), "refused": true}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if all.is_empty() {
        println!("no plugins installed in {}; `baton plugin install PATH.wasm`", paths.plugins.display());
    }
    for r in &all {
        match r {
            Ok(p) => {
                let actions: Vec<&str> = p.actions.iter().map(|a| a.name.as_str()).collect();
                println!(
                    "{:<16} {:<10} {}  world {:<6} actions: {}",
                    p.name,
                    esc(&p.version),
                    short(&p.sha256),
                    p.world,
                    esc(&actions.join(", "))
                );
                if !p.collections.is_empty() {
                    let cols: Vec<String> =
                        p.collections.iter().map(|c| format!("{} ({})", c.name, c.access)).collect();
                    println!("{:<16} catalog: {}", "", esc(&cols.join(", ")));
                }
            }
            Err(e) => println!("REFUSED {}", esc(&e.to_string())),
        }
    }
    Ok(0)
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn print_report(p: &PluginReport, cfg: &Config) {
    println!("{} {} — {}", p.name, esc(&p.version), esc(&p.description));
    println!("  file     {} ({} bytes)", p.file.display(), p.size);
    println!("  sha256   {}", p.sha256);
    println!("  world    baton:plugin@{}", p.world);
    println!("  budget   {} ms, {} MB memory, {} KB output", p.budget.time_ms, p.budget.memory_mb, p.budget.output_kb);
    // Each line under the heading starts with its action's name, so `grep`/`awk` can pick an
    // action's lines out (`baton call PLUGIN ACTION --help` explains its params).
    println!("  actions");
    for a in &p.actions {
        println!("    {:<14} {}", esc(&a.name), esc(&a.description));
        println!("    {:<14} params: {}", esc(&a.name), esc(&a.params_schema.to_string()));
    }
    if p.folders.is_empty() {
        println!("  folders  none wanted");
    } else {
        println!("  folders  (wanted → granted in baton.toml)");
        for f in &p.folders {
            let granted: Vec<String> = f.granted.iter().map(|g| g.display().to_string()).collect();
            println!(
                "    {:<10} wants {:<10} gets {:<11} {}  — {}",
                esc(&f.name),
                if f.wants_write { "read-write" } else { "read-only" },
                f.access,
                if granted.is_empty() { String::new() } else { esc(&granted.join(", ")).into_owned() },
                esc(&f.purpose)
            );
        }
        if let Some(hint) = plugins::grant_hint(cfg, p) {
            println!("  to grant the missing folders, {}", esc(&hint));
        }
    }
    if !p.grants.is_empty() {
        println!("  grants   (in baton.toml, resolved)");
        for g in &p.grants {
            println!(
                "    {:<10} {} ({})",
                esc(&g.name),
                esc(&g.path.display().to_string()),
                if g.writable { "writable" } else { "read-only" }
            );
        }
        for w in p.grants.iter().filter_map(|g| g.warning.as_deref()) {
            println!("  WARNING  {}", esc(w));
            eprintln!("baton: warning: {w}");
        }
    }
    if !p.collections.is_empty() {
        if p.collections.iter().any(|c| c.built_in) {
            // No `catalog` of the user's: the first-party default applies (see grant::default_grants).
            println!(
                "  catalog  (wanted → granted: built-in default; a `catalog` under [plugins.{}] replaces it)",
                esc(&p.name)
            );
        } else {
            println!("  catalog  (wanted → granted in baton.toml)");
        }
        for c in &p.collections {
            println!(
                "    {:<10} wants {:<10} gets {:<11} — {}",
                esc(&c.name),
                if c.wants_write { "read-write" } else { "read-only" },
                c.access,
                esc(&c.purpose)
            );
        }
        let missing: Vec<&baton_runtime::AccessReport> =
            p.collections.iter().filter(|c| c.access == "not granted").collect();
        if !missing.is_empty() {
            let names = |w: bool| {
                missing.iter().filter(|c| c.wants_write == w).map(|c| format!("{:?}", c.name)).collect::<Vec<_>>()
            };
            println!(
                "  to grant the missing collections, add to [plugins.{}]: catalog = {{ read = [{}], write = [{}] }}",
                p.name,
                names(false).join(", "),
                names(true).join(", ")
            );
        }
    }
}
