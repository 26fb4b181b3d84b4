//! The one check a TASK passes before it is written, shared by `send`, `call`, MCP's
//! `send_task` and A2A's `SendMessage`: its size against `max_file_bytes`, the plugin and the
//! action, and the params against the action's schema. A refusal here writes nothing, so the
//! sender hears it at once instead of one round trip later as a rejected file.
//!
//! A plugin's actions come from the component itself (`describe`), kept in
//! `<state dir>/described/<plugin>.json` beside the installed file's identity (length, mtime,
//! inode), so a send after the first one reads a small file instead of loading the plugin.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Tree;

/// Why a TASK was refused before it was written; front ends map it to their own codes
/// (A2A's `reason`, the RETURN's `error.code` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    TooLarge,
    UnknownPlugin,
    UnknownAction,
    BadParams,
}

impl Reason {
    /// The A2A error reason (`TOO_LARGE`, …).
    pub fn a2a(self) -> &'static str {
        match self {
            Reason::TooLarge => "TOO_LARGE",
            Reason::UnknownPlugin | Reason::UnknownAction => "UNKNOWN_SKILL",
            Reason::BadParams => "INVALID_PARAMS",
        }
    }
}

/// A TASK refused before anything was written, with the words that name the fix.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub reason: Reason,
    pub message: String,
}

fn refused(reason: Reason, message: String) -> anyhow::Error {
    Refused { reason, message }.into()
}

/// One action as its plugin describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub description: String,
    pub schema: Value,
}

/// The refusal for a file of `size` bytes over the cap, in the words the pipeline's
/// `too_large` uses, plus that nothing was written.
pub fn size(size: usize, max: u64) -> Result<()> {
    if size as u64 > max {
        return Err(refused(
            Reason::TooLarge,
            format!(
                "too_large: the TASK would be {size} bytes, over the {max} byte cap (max_file_bytes in baton.toml); nothing was written"
            ),
        ));
    }
    Ok(())
}

/// The action `action` of `plugin`, refusing an unknown one with the closest names.
pub fn action(tree: &Tree, plugin: &str, action: &str) -> Result<Action> {
    let actions = actions(tree, plugin)?;
    match actions.iter().find(|a| a.name == action) {
        Some(a) => Ok(a.clone()),
        None => {
            let names: Vec<String> = actions.iter().map(|a| a.name.clone()).collect();
            Err(refused(
                Reason::UnknownAction,
                format!(
                    "{plugin} has no action {action:?}{}; nothing was written",
                    super::did_you_mean(action, &names)
                ),
            ))
        }
    }
}

/// The params against the action's schema, checked as the pipeline checks them
/// ([`baton_handoff::params`]: no remote `$ref`, `pattern` in linear time, size-capped): every
/// problem named (at most three), with where it is.
pub fn params(plugin: &str, act: &Action, params: &Value) -> Result<()> {
    use baton_handoff::params::ParamsError;
    let problems = match baton_handoff::params::compile(&act.name, &act.schema).and_then(|c| c.check(&act.name, params))
    {
        Ok(()) => return Ok(()),
        Err(ParamsError::Mismatch { problems, .. }) => problems,
        // A schema that does not compile: the runtime does not load such a plugin, so its
        // described actions hold none; should one (a description kept from another build),
        // the pipeline judges the TASK, naming the schema's fault, not these params'.
        Err(e @ ParamsError::Schema { .. }) => {
            tracing::debug!("{plugin}.{}: params not checked here ({e})", act.name);
            return Ok(());
        }
    };
    Err(refused(
        Reason::BadParams,
        format!(
            "the params do not fit {plugin}.{}'s schema: {}; `baton call {plugin} {} --help` lists its params; nothing was written",
            act.name,
            problems.join("; "),
            act.name
        ),
    ))
}

/// What the description file says of the component it was read from.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Identity {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Described {
    component: Identity,
    description: String,
    actions: Vec<Action>,
}

fn identity(path: &Path) -> Option<Identity> {
    let m = std::fs::metadata(path).ok()?;
    Some(Identity {
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        ino: m.ino(),
    })
}

fn described_path(tree: &Tree, plugin: &str) -> PathBuf {
    tree.state_dir.join("described").join(format!("{plugin}.json"))
}

/// The actions of an installed plugin (and its description): from the description file when
/// it was read from the component installed now, else from the component (then kept).
pub fn actions(tree: &Tree, plugin: &str) -> Result<Vec<Action>> {
    described(tree, plugin).map(|(a, _)| a)
}

/// [`actions`] and the plugin's own description.
pub fn described(tree: &Tree, plugin: &str) -> Result<(Vec<Action>, String)> {
    let installed = tree.plugins();
    if !installed.iter().any(|p| p == plugin) {
        return Err(refused(
            Reason::UnknownPlugin,
            format!(
                "no plugin {plugin:?} is installed in {}{}; nothing was written",
                tree.plugins_dir.display(),
                super::did_you_mean(plugin, &installed)
            ),
        ));
    }
    let now = identity(&tree.plugins_dir.join(format!("{plugin}.wasm")));
    if let Some(d) = kept(tree, plugin, now.as_ref()) {
        return Ok((d.actions, d.description));
    }
    let file = described_path(tree, plugin);
    // Its own thread: a front end inside an async runtime (MCP, A2A) may not start another.
    let (actions, description) = std::thread::scope(|s| s.spawn(|| describe(tree, plugin)).join())
        .map_err(|_| anyhow::anyhow!("reading the actions of plugin {plugin} failed"))??;
    if let Some(component) = now {
        let d = Described { component, description: description.clone(), actions: actions.clone() };
        if let Some(dir) = file.parent()
            && baton_fs::ensure_dir(dir).is_ok()
        {
            // A cache: a failed write only costs the next send a describe.
            let tmp = dir.join(format!(".{plugin}.{}.tmp", std::process::id()));
            if std::fs::write(&tmp, json!(d).to_string()).is_ok() && std::fs::rename(&tmp, &file).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    Ok((actions, description))
}

/// Whether [`actions`] can answer for `plugin` from its kept description, without loading the
/// plugin: `baton`'s front runs a `send` itself only then (it has no plugin runtime).
pub fn is_described(tree: &Tree, plugin: &str) -> bool {
    kept(tree, plugin, identity(&tree.plugins_dir.join(format!("{plugin}.wasm"))).as_ref()).is_some()
}

/// The description kept for `plugin` when it was read from the component installed now (`now`).
fn kept(tree: &Tree, plugin: &str, now: Option<&Identity>) -> Option<Described> {
    let bytes = std::fs::read(described_path(tree, plugin)).ok()?;
    let d = serde_json::from_slice::<Described>(&bytes).ok()?;
    (Some(&d.component) == now).then_some(d)
}

/// The plugin's actions from the component itself, as `plugin inspect` reads them (the
/// compiled component is cached, so this does not compile it again).
fn describe(tree: &Tree, plugin: &str) -> Result<(Vec<Action>, String)> {
    let ctx = tree.ctx();
    let cfg = ctx.config()?;
    let paths = baton_home::Paths::new(&tree.home, &tree.state_file, &cfg);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = rt.block_on(async {
        let ledger: baton_ledger::SharedLedger = ctx.ledger()?;
        let runtime = ctx.runtime(&cfg, &paths, ledger)?;
        anyhow::Ok(baton_home::plugins::inspect(&runtime, &cfg, &paths, plugin).await?)
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    let report = report.with_context(|| format!("reading the actions of plugin {plugin}"))?;
    let actions = report
        .actions
        .iter()
        .map(|x| Action { name: x.name.clone(), description: x.description.clone(), schema: x.params_schema.clone() })
        .collect();
    Ok((actions, report.description.clone()))
}
