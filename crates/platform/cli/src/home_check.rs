//! Which commands read a home, and the check they all make before doing anything: a `--home`
//! with a typo (or a `$BATON_HOME` that points nowhere) is refused, naming the path and the
//! fix, instead of acting on an empty folder and exiting 0.
use std::path::Path;

use anyhow::{Result, bail};

use crate::Command;

/// Whether `cmd` reads the home (its baton.toml, state, plugins or handoffs). Those that do
/// not: `init` (makes one), `demo` (makes its own), `adopt PATH` (reads PATH, before `init`),
/// `schema`, `validate`, `completions`, `man`, and `plugin new` (once it exists: it writes a
/// plugin project anywhere).
pub fn needs_home(cmd: &Command) -> bool {
    match cmd {
        Command::Init { .. }
        | Command::Demo { .. }
        | Command::Adopt { .. }
        | Command::Schema { .. }
        | Command::Validate(_)
        | Command::Completions { .. }
        | Command::Man(_)
        // Its client shows a server that exits at start as "Connection closed": it starts,
        // and each tool answers the error and its fix.
        | Command::Mcp(_) => false,
        Command::Plugin(p) => crate::plugin::needs_home(p),
        _ => true,
    }
}

/// A home has its baton.toml (or, adopted before `init`, its handoffs/ folder).
pub fn require(home: &Path) -> Result<()> {
    if home.join("baton.toml").is_file() || home.join("handoffs").is_dir() {
        return Ok(());
    }
    let what = if !home.exists() {
        "does not exist"
    } else if !home.is_dir() {
        "is not a folder"
    } else {
        "is not a baton home (no baton.toml in it)"
    };
    bail!(
        "{} {what}; check --home (or $BATON_HOME), or run `baton init --home {}` to make a home there",
        home.display(),
        home.display()
    )
}
