//! `baton init`: makes a home (a commented baton.toml, its folders, the state, the dashboard key,
//! the bundled plugins installed). Idempotent; never overwrites a file that exists.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use baton_home::config::DEFAULT_TOML;

use crate::Ctx;

/// Creates a home. Idempotent; never overwrites a file that exists.
pub fn init(ctx: &Ctx) -> Result<()> {
    init_with(ctx, None)
}

/// [`init`], with `handoffs`: an existing tree of agent folders used where it is (named in
/// baton.toml; nothing in it copied or changed, baton's own folder created in it).
pub fn init_with(ctx: &Ctx, handoffs: Option<&Path>) -> Result<()> {
    let home = &ctx.home;
    let tree = match handoffs {
        Some(p) => Some(crate::tracking::init_handoffs(ctx, p)?),
        None => None,
    };
    baton_fs::ensure_dir(home).with_context(|| format!("creating {}", home.display()))?;
    let toml = home.join("baton.toml");
    if !toml.exists() {
        std::fs::write(&toml, DEFAULT_TOML).with_context(|| format!("writing {}", toml.display()))?;
    }
    let cfg = ctx.config()?;
    let paths = baton_home::Paths::new(home, &ctx.state, &cfg);
    let own = [paths.inbox(&cfg.agent), paths.processed(&cfg.agent), paths.failed(&cfg.agent)];
    for d in own.iter().cloned().chain(["plans", "reports", "plugins"].map(|d| home.join(d))) {
        baton_fs::ensure_dir(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    if let Some(tree) = &tree {
        let report = crate::tracking::scan(&paths, &cfg);
        eprintln!(
            "baton: using the handoffs tree {} in place (nothing copied): {} agent folders, {} files; `baton status` tracks them",
            tree.display(),
            report.agents.len(),
            report.entries.len()
        );
    }
    let ledger = ctx.connect()?;
    if let Some(key) = baton_dashboard::auth::make_key(&ctx.state, false)? {
        crate::dashboard::show_key(&key);
    }
    let missing: Vec<_> = baton_bundle::first_party()
        .filter(|p| !home.join("plugins").join(format!("{}.wasm", p.name)).exists())
        .collect();
    let mut installed = Vec::new();
    if !missing.is_empty() {
        installed = install_bundled(ctx, ledger, &missing)?;
    }
    eprintln!(
        "baton: home ready at {} (state {}){}",
        home.display(),
        ctx.location.shown(),
        if installed.is_empty() { String::new() } else { format!("; installed plugins: {}", installed.join(", ")) }
    );
    claude_teams_hint(ctx);
    Ok(())
}

/// Claude Code's agent teams on this machine are said, not added: reading them is the user's
/// choice (`baton mailbox add claude-team`).
fn claude_teams_hint(ctx: &Ctx) {
    let home = &ctx.home;
    let Some(user) = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from) else { return };
    let teams = user.join(".claude").join("teams");
    let read = ctx
        .config()
        .map_err(anyhow::Error::from)
        .and_then(|cfg| crate::mailboxes::configured(&cfg))
        .map(|b| b.values().any(|s| s.kind == baton_mailbox::Kind::ClaudeTeam && s.resolved_path(home) == teams))
        .unwrap_or(false);
    if teams.is_dir() && !read {
        eprintln!(
            "baton: Claude Code agent teams found in {}: `baton mailbox add claude-team` lets status show their inboxes (nothing there is changed)",
            teams.display()
        );
    }
}

/// Installs bundled plugins the way `baton plugin install` does (described, archived in
/// `plugins/.archive/` and journaled in `plugins/.journal.jsonl`), so the first `serve` finds
/// their record instead of adopting them as files dropped in by hand.
fn install_bundled(
    ctx: &Ctx,
    ledger: baton_ledger::Ledger,
    bundled: &[&baton_bundle::Bundled],
) -> Result<Vec<&'static str>> {
    use std::sync::Arc;
    let cfg = ctx.config()?;
    let paths = baton_home::Paths::new(&ctx.home, &ctx.state, &cfg);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let ledger: baton_ledger::SharedLedger = Arc::new(std::sync::Mutex::new(ledger));
        let runtime = ctx.runtime(&cfg, &paths, ledger)?;
        let mut installed = Vec::new();
        for p in bundled {
            let src = PathBuf::from(format!("<bundled>/{}.wasm", p.name));
            let r = baton_home::plugins::install_bytes(&runtime, &cfg, &paths, &src, p.wasm, Default::default())
                .await
                .with_context(|| format!("installing the bundled plugin {}", p.name))?;
            if r.plugin.name != p.name {
                anyhow::bail!("the bundled plugin {} calls itself `{}`; this is a bug in baton", p.name, r.plugin.name);
            }
            installed.push(p.name);
        }
        Ok::<_, anyhow::Error>(installed)
    })
}
